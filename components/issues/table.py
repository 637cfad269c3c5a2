"""Data issues: one kind's ranked table (with the decision in effect per clip) and the clip picker."""

from __future__ import annotations

import streamlit as st

from components import selection, urlstate
from soundlab import issues, review
from soundlab.errors import DatasetError

HELP = {
    "label": "cleanlab's label quality (low = the given label is unlikely given the out-of-fold probabilities); the "
             "label it suggests is the model's. Issues both backbones find are listed first.",
    "near_duplicate": "Pairs closer than cleanlab's threshold in the embedding space (cosine distance). Takes of one "
                      "source recording are expected to be close (they share a fold); a pair across folds is a leak "
                      "and comes first, then pairs of different recordings.",
    "outlier": "Clips unlike the rest of the dataset in the embedding space (low score = more unusual).",
    "underperforming_group": "Clusters of the embedding space where the model is much less accurate than overall.",
}


def _reviewed(view, filename: str, kind: str) -> str:
    d = view.decided(filename, kind)
    return "" if d is None else review.decision_text(d["decision"], d["new_label"], view.class_names)


def render(view, kind: str) -> str | None:
    """The table and the picker of `kind`; returns the clip chosen (None: none yet, or nothing to list)."""
    table = view.found.table(kind).copy()
    if kind == "underperforming_group":
        if table.empty:
            st.info("cleanlab found no cluster of clips where the model does markedly worse than overall.")
        else:
            st.dataframe(table, hide_index=True, column_config={
                "accuracy": st.column_config.NumberColumn(format="percent"),
                "overall_accuracy": st.column_config.NumberColumn("overall", format="percent")})
        return None
    if table.empty:
        st.info(f"cleanlab found no {issues.KIND_NAMES[kind]} in this run's clips.")
        return None
    if kind == "near_duplicate":
        table["reviewed"] = [_reviewed(view, a, kind) or _reviewed(view, b, kind) for a, b in zip(table["a"], table["b"])]
        shown = table[["rank", "a", "b", "distance", "fold_a", "fold_b", "src_a", "src_b", "cross_fold", "reviewed"]]
        names = {"a": "clip A", "b": "clip B", "src_a": "source A", "src_b": "source B", "cross_fold": "across folds"}
        column, listed = "a", set(table["a"]) | set(table["b"])
    else:
        table["reviewed"] = [_reviewed(view, f, kind) for f in table["filename"]]
        shown = issues.with_backbone_names(table, view.run, view.others).drop(columns=["both_backbones"],
                                                                               errors="ignore")
        names = {"src_file": "source", "found_by": "found by"}
        column, listed = "filename", set(table["filename"])

    def check_listed(name: str) -> None:
        if view.ds is not None:
            view.ds.check_name(name)
        if name not in listed:
            raise DatasetError(f"{name} is not among this run's {issues.KIND_NAMES[kind]}.")

    key = f"issues-clip-{kind}"
    refused = urlstate.seed_from_url(key, "clip", check_listed)
    if refused:
        st.error(f"The link's clip was rejected: {refused}")
    selection.choice_table(shown, key=f"issues-table-{kind}", value_column=column, choice_key=key,
                           match_columns=["a", "b"] if kind == "near_duplicate" else None, hide_index=True, height=280,
                           column_config=names)
    options = list(table[column])
    if st.session_state.get(key) not in listed:  # a clip of another run or model: not listed here
        st.session_state[key] = None
    elif st.session_state[key] not in options:  # clip B of a near-duplicate pair
        options.insert(0, st.session_state[key])
    choice = st.selectbox("Clip", options, index=None, key=key, placeholder="Pick a clip, or click a row in the table")
    urlstate.write_url("clip", choice)
    return choice

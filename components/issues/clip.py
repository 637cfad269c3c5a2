"""Data issues: the chosen clip (or both clips of a near-duplicate pair), with where it sits in the folds and what the
model said of it out of fold."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import clip_view, plotly_charts
from soundlab import issues, predictions


def _show(view, name: str, key: str) -> None:
    ds = view.ds
    if ds is None or name not in set(ds.meta["filename"]):
        st.warning(f"{name}: not listed in the dataset in use, so there is nothing here to play it from.")
        return
    clip_view.render_clip(ds, name, clip_view.DEFAULT_PARAMS, key=key, show_meta=False, height=240)
    row = ds.clip(name)
    n_takes = len(ds.siblings(name))
    in_run = view.p.table.loc[view.p.table["filename"] == name, "fold"]
    where = (clip_view.fold_words(int(in_run.iloc[0]), row["fold"]) if len(in_run) else
             f"official fold {row['fold']}" if row["fold"] else "no fold of its own")
    if ds.desc.is_esc50:
        st.caption(f"{where} · source recording {row['src_file']} (take {row['take']}) · "
                   f"{n_takes} take{'s' if n_takes != 1 else ''} of this recording")
    else:
        st.caption(where + (f" · {ds.desc.group} {row['src_file']} · {n_takes} clip{'s' if n_takes != 1 else ''} "
                            "of this group" if ds.desc.grouped else ""))


def _top5(view, name: str, key: str) -> None:
    if name not in set(view.p.table["filename"]):
        return
    top = predictions.top_probs(view.p, name, 5)
    st.plotly_chart(plotly_charts.probability_bars(np.array([v for _, v in top]), [n for n, _ in top], top_k=1,
                                            title="Top-5 out of fold", height=240), key=key)


def render(view, kind: str, choice: str) -> tuple[str | None, str | None]:
    """The clip (or pair) of `choice`; returns (the class cleanlab suggests for it or None, the pair's other clip)."""
    table = view.found.table(kind)
    if kind == "near_duplicate":
        pair = table[(table["a"] == choice) | (table["b"] == choice)].iloc[0]
        a, b = (pair["a"], pair["b"]) if pair["a"] == choice else (pair["b"], pair["a"])
        if pair["cross_fold"]:
            st.error(f"Across folds: {a} (fold {pair['fold_a'] if pair['a'] == a else pair['fold_b']}) and {b} are "
                     f"{pair['distance']:.3f} apart. When one is tested, a near-copy is in training.",
                     icon=":material/warning:")
        else:
            st.info(f"Same fold, {'same' if pair['same_source'] else 'different'} source recording; cosine distance "
                    f"{pair['distance']:.3f}.")
        for col, name, key in zip(st.columns(2), (a, b), ("issues-dup-a", "issues-dup-b")):
            with col:
                _show(view, name, key)
        return None, b
    row = issues.with_backbone_names(table, view.run, view.others)
    row = row[row["filename"] == choice].iloc[0]
    suggested = None
    if kind == "label":
        st.markdown(f"### {choice}: labelled **{row['given']}**, cleanlab suggests **{row['suggested']}**")
        st.caption(f"Label quality {row['score']:.3f} (0 = surely wrong, 1 = surely right); found by: {row['found_by']}.")
        suggested = next((c for c, n in view.class_names.items() if n == row["suggested"]), None)
    else:
        st.markdown(f"### {choice}: **{row['label']}**, an outlier")
        st.caption(f"Outlier score {row['score']:.3f} (low = unlike the rest).")
    left, right = st.columns([3, 2])
    with left:
        _show(view, choice, "issues-clip")
    with right:
        _top5(view, choice, "issues-top5")
    return suggested, None

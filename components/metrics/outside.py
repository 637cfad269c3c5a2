"""Metrics › Outside the training data: how the model does on recordings made elsewhere (a stored external evaluation,
`python -m soundlab evaluate --external PATH --save`), beside its cross-validation on the run's own clips; every clip
playable with its answer and the reasons, filterable to the misses."""

from __future__ import annotations

import streamlit as st

from components import clip_view, page, selection
from soundlab import external


def render(view) -> None:
    run, model = view.run, view.model
    if not run.classifies_audio:
        st.info("Models trained from scratch, and a fine-tuned network on its own, are evaluated on the run's own clips "
                "only; pick a run of heads on a backbone, or a fused model, to see how it does on recordings made "
                "elsewhere.")
        return
    found, problems = external.stored(run, model)
    for problem in problems:
        st.warning(problem)
    if not found:
        st.info(f"No evaluation of {page.safe(run.model_title(model))} on recordings made elsewhere is stored with this "
                "run. Make one from a folder of your own recordings (a subfolder per class, `foreign` for sounds of "
                "none): `python -m soundlab evaluate --external PATH --run RUN --model MODEL --save`. The real-world "
                "validation set of the project is built with `python -m tests.realworld.build`.",
                icon=":material/travel_explore:")
        return
    names = {ev.set_name: ev for ev in found}
    ev = names[st.segmented_control("Evaluation", list(names), default=list(names)[0], required=True,
                                    key="metrics-outside-set")]
    m = ev.summary()
    cv = run.model(model)["cv"]
    page.figures([
        ("Named right and accepted", _pct(m["named_right_and_accepted"]),
         "The right class on top, and judged one of the classes: what a user sees as right."),
        ("Right class on top", _pct(m["accuracy"]), f"Top-3: {_pct(m['top3_accuracy'])}; balanced over the classes "
         f"present: {_pct(m['balanced_accuracy'])}."),
        ("Genuine sounds refused", _pct(m["genuine_judged_foreign_or_unsure"]),
         "Recordings of the classes the verdict called not one of them, or unsure."),
        ("Foreign sounds flagged", _pct(m["foreign_flagged"]), "Sounds of none of the classes called so (or unsure)."),
        ("Cross-validation", f"{cv['accuracy']:.1%}", "On the run's own clips, out of fold: the protocol above.",
         f"balanced {run.balanced_accuracy(model):.1%}")])
    st.caption(f"**{ev.set_name}**: {m['n_in_set']} recordings of {m['classes_present']} of the run's classes and "
               f"{m['n_foreign']} foreign sounds from {page.safe(ev.root)}, judged as the Classify page judges "
               f"(verdict included) on {ev.created[:10]}." + (f" {m['n_errors']} could not be read." if m["n_errors"]
                                                               else ""))
    if ev.measured_with:  # a run that learned from some of the set's recordings: judged cross-fitted
        st.caption(f":material/swap_horiz: Cross-fitted: {page.safe(ev.measured_with.get('why', ''))}.")
    for problem in ev.problems[:5]:
        st.caption(f":orange[:material/info:] {page.safe(problem)}")
    table = ev.table()
    misses = st.toggle("Only the misses", value=True, key="metrics-outside-misses")
    shown = table[table["ok"] == False] if misses else table  # noqa: E712 - a column of booleans and None
    selection.choice_table(shown.drop(columns=["hears"]), key="metrics-outside-table", value_column="filename",
                           choice_key="metrics-outside-clip", hide_index=True, height=320,
                           column_config={"confidence": st.column_config.NumberColumn(format="%.2f"),
                                          "why": st.column_config.TextColumn(width="large")})
    chosen = st.session_state.get("metrics-outside-clip")
    if chosen in set(shown["filename"]):
        _clip(ev, table[table["filename"] == chosen].iloc[0])
    with st.expander("Confusion of the recordings of the classes"):
        st.dataframe(ev.confusion(), height=320)


def _clip(ev, row) -> None:
    root = ev.root_path()
    path = root / row["filename"]
    if not path.resolve().is_relative_to(root.resolve()):  # a stored name that would leave the set's folder
        st.error(f"{page.safe(row['filename'])}: not a file of the evaluation's folder; not played.")
        return
    st.markdown(f"**{page.safe(row['filename'])}** — labelled **{page.safe(row['label'])}**; the model said "
                f"**{page.safe(row['predicted'])}** ({row['confidence']:.0%}), verdict *{row['verdict']}*.")
    if row["why"]:
        st.caption(f"Why: {page.safe(row['why'])}")
    if path.is_file():
        clip_view.play_file(path)
    else:
        st.caption(f"{page.safe(path)} is not on disk here (build the set to listen: see the evaluation's README).")


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{x:.1%}"

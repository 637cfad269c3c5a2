"""Metrics › Compare: two models on the same clips (McNemar, per class, the clips one gets right and the other wrong),
and every model of the task against the one chosen."""

from __future__ import annotations

import streamlit as st

from components import loaders
from components.metrics import clips
from soundlab import predictions, runs
from soundlab.errors import RunError


def render(view) -> None:
    run, model, all_runs = view.run, view.model, view.all_runs
    c1, c2 = st.columns(2)
    same_task = {r.id: r for r in runs.best_first([r for r in all_runs if r.task == run.task])}
    default = runs.counterpart(all_runs, run, model).id
    b_run = same_task[c1.selectbox("Compare with run", list(same_task), index=list(same_task).index(default),
                                   key="metrics-b-run", format_func=lambda i: same_task[i].title)]
    b_models = [k for k in b_run.model_names if not (b_run.id == run.id and k == model)] or b_run.model_names
    b_model = c2.selectbox("and model", b_models, key="metrics-b-head", format_func=b_run.model_title)
    try:
        q = loaders.predictions(b_run, b_model, view.ds)
    except RunError as e:
        st.error(str(e))
        return
    cmp = predictions.compare(view.p, q)
    st.info(predictions.verdict_line(cmp, f"A ({run.model_title(model)})", f"B ({b_run.model_title(b_model)})"),
            icon=":material/balance:")
    if cmp.get("n") and "error" not in cmp:
        _pair(view, cmp)
    st.subheader("Every model of this task on the same clips")
    pool, problems = loaders.task_predictions(all_runs, run.task, view.ds)
    for problem in problems:
        st.caption(problem)
    verdict = predictions.family_verdict(pool)
    if verdict:
        st.info(verdict, icon=":material/lightbulb:")
    board = predictions.leaderboard(view.p, pool)
    if len(board):
        st.dataframe(board, hide_index=True, column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "vs selected (points)": st.column_config.NumberColumn(format="%+.1f"),
            "McNemar p": st.column_config.NumberColumn(format="%.2g")})
        st.caption(f"Each row is compared with the selected model ({run.model_title(model)}) on the clips both have "
                   "predictions for; McNemar's test asks whether their disagreements lean one way by more than chance.")


def _pair(view, cmp: dict) -> None:
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Accuracy A", f"{cmp['acc_a']:.1%}")
    m2.metric("Accuracy B", f"{cmp['acc_b']:.1%}", delta=f"{cmp['acc_b'] - cmp['acc_a']:+.1%}")
    m3.metric("McNemar p", f"{cmp['mcnemar']['p_value']:.3g}", help=cmp["mcnemar"]["method"])
    m4.metric("Clips they disagree on", f"{cmp['disagree']} / {cmp['n']}")
    st.dataframe(cmp["per_class"], hide_index=True, height=260,
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("recall A", "recall B", "difference")})
    for col, side, key in zip(st.columns(2), ("only_a", "only_b"), ("metrics-only-a", "metrics-only-b")):
        with col:
            st.markdown(f"**{'A right, B wrong' if side == 'only_a' else 'B right, A wrong'} ({len(cmp[side])})**")
            row = clips.table(cmp[side], key)
            if row is not None:
                clips.play(view, row, f"{key}-player")

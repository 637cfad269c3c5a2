"""Metrics › Folds: accuracy per fold, and the clips the models of one run disagree on."""

from __future__ import annotations

import streamlit as st

from components import loaders, plotly_charts
from soundlab import predictions


def render(view) -> None:
    s = view.p.summary()
    st.plotly_chart(plotly_charts.fold_bars(s["per_fold_accuracy"], s["fold_mean"], s["fold_std"]), key="metrics-folds")
    own, problems = loaders.task_predictions([view.run], view.run.task, view.ds)
    for problem in problems:
        st.warning(problem)
    if len(own) > 1:
        flips = predictions.disagreements(own)
        st.subheader("Clips the models of this run disagree on")
        st.caption(f"{len(flips)} of {len(view.table)} clips get different answers from different models.")
        st.dataframe(flips, hide_index=True, height=320)
    else:
        st.caption("This run holds one model, so there is no disagreement between its models to list; the Compare "
                   "section sets it against the models of other runs.")

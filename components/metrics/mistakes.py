"""Metrics › Mistakes: the misclassified clips, most confidently wrong first; one opened with its top five and its
nearest correctly classified neighbours from the true and the predicted class."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import loaders, plotly_charts, search_view, urlstate
from components.metrics import clips
from soundlab import predictions
from soundlab.errors import DatasetError, RunError

MAX_OPTIONS = 1000  # clips listed in the picker (the table lists every row); a clip chosen otherwise is added to it


def render(view) -> None:
    p, labels = view.p, view.labels
    c1, c2, c3 = st.columns(3)
    f_pred = c1.multiselect("Predicted class", labels, key="metrics-wrong-pred")
    f_fold = c2.multiselect("Fold", sorted(view.table["fold"].unique()), key="metrics-wrong-fold")
    f_conf = c3.slider("Wrong with at least this confidence", 0.0, 1.0, 0.0, 0.05, key="metrics-wrong-conf")
    wrong = predictions.mistakes(p, true=list(view.class_filter), pred=[view.label_of(c) for c in f_pred],
                                 folds=f_fold, min_confidence=f_conf)
    filtered = view.class_filter or f_pred or f_fold or f_conf
    st.subheader(f"{len(wrong)} misclassified clips" + (" (filtered)" if filtered else "")
                 + f", {int(wrong['present'].sum())} on disk")
    in_run = set(view.table["filename"])

    def check_in_run(name: str) -> None:
        if view.ds is not None:
            view.ds.check_name(name)
        if name not in in_run:
            raise DatasetError(f"{name} is not one of this run's clips.")

    refused = urlstate.seed_from_url("metrics-clip", "clip", check_in_run)
    if refused:
        st.error(f"The link's clip was rejected: {refused}")
    clips.table(wrong, "metrics-wrong-table", choice_key="metrics-clip")
    options = list(wrong["filename"].head(MAX_OPTIONS))
    current = st.session_state.get("metrics-clip")
    if current and current not in options and current in in_run:
        options.insert(0, current)
    elif current and current not in options:  # not one of this run's clips (another run was chosen)
        st.session_state["metrics-clip"] = None
    if not options:
        st.info("No misclassified clip matches these filters.")
        return
    choice = st.selectbox("Clip", options, index=None, key="metrics-clip", placeholder="Pick a clip, or click a row")
    urlstate.write_url("clip", choice)
    if choice:
        _clip(view, choice)


def _clip(view, choice: str) -> None:
    p, labels = view.p, view.labels
    row = predictions.clip_row(p, choice)
    st.markdown(f"### {choice}: **{row['true_name']}** heard as **{row['pred_name']}** ({row['confidence']:.0%})")
    left, right = st.columns([3, 2])
    with left:
        clips.play(view, row, "metrics-wrong-clip")
    with right:
        top5 = predictions.top_probs(p, choice, 5)
        st.plotly_chart(plotly_charts.probability_bars(np.array([v for _, v in top5]), [n for n, _ in top5], top_k=1,
                                                title="Top-5 probabilities (out of fold)", height=260),
                        key="metrics-wrong-top5")
    try:
        emb = loaders.run_embeddings(view.run)
    except RunError as e:
        st.warning(f"No neighbours: {e}")
        return
    st.subheader("Nearest correctly classified clips")
    st.caption("Closest in the run's embedding space (cosine). Listen to how the clip resembles the class it was "
               "mistaken for.")
    for col, label, what in zip(st.columns(2), (int(row["true"]), int(row["pred"])), ("true", "predicted")):
        with col:
            near = predictions.correct_neighbours(p, emb, choice, label)
            st.markdown(f"**From the {what} class, {labels[label]}**")
            if near.empty:
                st.caption("No correctly classified clip of this class.")
            search_view.show_hits(view.ds, list(zip(near["filename"], near["distance"])), key=f"metrics-near-{what}")

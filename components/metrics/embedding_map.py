"""Metrics › Map: every clip of the run in its embedding space (PCA or t-SNE); click a point to listen."""

from __future__ import annotations

import streamlit as st

from components import loaders, plotly_charts
from components.metrics import clips
from soundlab import predictions
from soundlab.errors import RunError


def render(view) -> None:
    c1, c2 = st.columns(2)
    method = c1.radio("Projection", ["pca", "tsne"], horizontal=True, key="metrics-map-method",
                      format_func={"pca": "PCA", "tsne": "t-SNE"}.get)
    color_by = c2.radio("Colour by", ["right / wrong", "class"], horizontal=True, key="metrics-map-color")
    try:
        emb, xy, n_all = loaders.embedding_map(view.run, method)
    except RunError as e:
        st.error(str(e))
        return
    _, fig = loaders.map_view(view.run, view.model, view.p, emb, xy, method=method, color_by=color_by,
                              classes=list(view.class_filter))
    if len(emb.filenames) < n_all:
        st.caption(f"A random sample of {len(emb.filenames):,} of the run's {n_all:,} clips (seed 0; every class in "
                   "proportion): a map of every clip would take minutes with t-SNE and slow the browser.")
    event = st.plotly_chart(fig, key="metrics-map", on_select="rerun", selection_mode="points")
    points = event.selection.points if event is not None else []
    data = plotly_charts.point_customdata(points[0]) if points else []
    if data and str(data[0]) in set(view.table["filename"]):  # a point of this map, not of one drawn before
        name = str(data[0])
        row = predictions.clip_row(view.p, name)
        st.markdown(f"**{name}**: {row['true_name']} → predicted {row['pred_name']} ({row['confidence']:.0%})")
        clips.play(view, row, "metrics-map-clip")

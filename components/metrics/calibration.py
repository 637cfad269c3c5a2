"""Metrics › Calibration: does the model's confidence match how often it is right?"""

from __future__ import annotations

import streamlit as st

from components import plotly_charts
from soundlab import predictions


def render(view) -> None:
    n_bins = st.slider("Bins", 5, 20, 10, key="metrics-bins")
    bins, ece = predictions.calibration(view.p, n_bins)
    conf, correct = view.table["confidence"].to_numpy(), view.table["correct"].to_numpy()
    c1, c2 = st.columns(2)
    c1.plotly_chart(plotly_charts.reliability_figure(bins, ece), key="metrics-reliability")
    c2.plotly_chart(plotly_charts.confidence_histogram(conf[correct], conf[~correct]), key="metrics-confhist")
    st.caption(f"Expected calibration error {ece:.3f}: the gap between confidence and accuracy, averaged over "
               f"{n_bins} equal-width bins weighted by how many clips they hold. Mean confidence {conf.mean():.1%}, "
               f"accuracy {correct.mean():.1%}.")

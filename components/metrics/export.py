"""Metrics › Export: the stored predictions and the tables and charts as files."""

from __future__ import annotations

import streamlit as st

from components import plotly_charts
from soundlab import predictions


def render(view) -> None:
    run, model, p = view.run, view.model, view.p
    stem = f"{run.id}-{model}"
    st.download_button("Out-of-fold predictions (CSV)", (run.path / run.model(model)["oof"]).read_bytes(),
                       file_name=f"{stem}-oof.csv", mime="text/csv", key="metrics-dl-oof")
    st.download_button("Per-class table (CSV)", predictions.per_class_table(p).to_csv(index=False).encode(),
                       file_name=f"{stem}-per-class.csv", mime="text/csv", key="metrics-dl-class")
    st.download_button("Confusion matrix (interactive HTML)",
                       plotly_charts.confusion_figure(predictions.confusion(p), view.labels, normalize=True,
                                               title=f"{run.id} · {model}").to_html(include_plotlyjs="cdn").encode(),
                       file_name=f"{stem}-confusion.html", mime="text/html", key="metrics-dl-cm")
    st.download_button("Reliability diagram (interactive HTML)",
                       plotly_charts.reliability_figure(*predictions.calibration(p)).to_html(include_plotlyjs="cdn").encode(),
                       file_name=f"{stem}-reliability.html", mime="text/html", key="metrics-dl-rel")
    st.caption("Every plotly chart also saves itself as PNG from its toolbar (the camera icon, top right of the "
               "chart); the confusion matrix is one with *Zoomable chart* on.")

"""Metrics › Confusion: the class and category matrices (click a cell), and the clips behind a cell."""

from __future__ import annotations

import streamlit as st

from components import grid_select, loaders, pictures, plotly_charts
from components.metrics import clips
from soundlab import metrics, predictions

SHORT = {"Natural soundscapes & water sounds": "Natural", "Human, non-speech sounds": "Human",
         "Interior/domestic sounds": "Interior", "Exterior/urban noises": "Exterior"}


def _choose_cell(labels: list[str], cell) -> None:
    if cell is not None and all(0 <= i < len(labels) for i in cell):
        st.session_state["metrics-cell-true"] = labels[int(cell[0])]
        st.session_state["metrics-cell-pred"] = labels[int(cell[1])]


def _on_grid_click(labels: list[str]) -> None:
    _choose_cell(labels, grid_select.clicked_cell("metrics-cm-grid"))


def _on_plotly_click(labels: list[str]) -> None:
    event = st.session_state.get("metrics-cm")
    points = event.selection.points if event is not None else []
    data = plotly_charts.point_customdata(points[0]) if points else []
    _choose_cell(labels, data[:2] if len(data) >= 2 else None)


def render(view) -> None:
    run, p, labels = view.run, view.p, view.labels
    t1, t2 = st.columns(2)
    normalize = t1.toggle("Normalise rows (share of each true class)", value=True, key="metrics-normalize")
    # HTML by default: plotly.js is started only for those who want to zoom (components/grid_select)
    zoomable = t2.toggle("Zoomable chart (plotly)", value=False, key="metrics-cm-plotly", bind="query-params",
                         help="The same matrix as a plotly chart: zoom, pan and save it as PNG. Slower to open.")
    cm = predictions.confusion(p)
    st.session_state.setdefault("metrics-cell-true", None)
    st.session_state.setdefault("metrics-cell-pred", None)
    cur = (st.session_state["metrics-cell-true"], st.session_state["metrics-cell-pred"])
    selected = (labels.index(cur[0]), labels.index(cur[1])) if all(c in labels for c in cur) else None
    title = "Confusion matrix (click a cell to list its clips)"
    if zoomable:
        st.plotly_chart(loaders.confusion_figure(cm, tuple(labels), normalize=normalize, selected=selected,
                                                 title=title, height=900 if p.n_classes > 12 else 480),
                        key="metrics-cm", on_select=lambda: _on_plotly_click(labels), selection_mode="points")
    else:
        grid_select.grid(pictures.confusion_grid(cm, labels, normalize=normalize, title=title, selected=selected),
                         key="metrics-cm-grid", on_click=lambda: _on_grid_click(labels))
    left, right = st.columns(2)
    if len(run.category_names) <= 1:  # no category matrix: the cell chooser takes the first column
        right = left
    else:
        with left:
            cat_cm = metrics.category_confusion(cm, run.category_index, len(run.category_names))
            cats = [SHORT.get(c, c) for c in run.category_names]
            if zoomable:
                st.plotly_chart(loaders.confusion_figure(cat_cm, tuple(cats), normalize=normalize, title="Categories",
                                                         height=380), key="metrics-cat-cm")
            else:
                grid_select.grid(pictures.confusion_grid(cat_cm, cats, normalize=normalize, title="Categories",
                                                     clickable=False), key="metrics-cat-grid")
    with right:
        st.markdown("**Clips behind a cell** (click a cell above, or choose)")
        true_name = st.selectbox("True class", labels, index=None, key="metrics-cell-true")
        pred_name = st.selectbox("Predicted class", labels, index=None, key="metrics-cell-pred")
    if true_name and pred_name:
        cell = predictions.cell_clips(p, view.label_of(true_name), view.label_of(pred_name))
        st.subheader(f"{len(cell)} clip{'s' if len(cell) != 1 else ''}: true {true_name}, predicted {pred_name}")
        if len(cell):
            row = clips.table(cell, "metrics-cell-table")
            if row is None and len(cell) == 1:  # one clip: shown at once
                row = cell.iloc[0]
            if row is not None:
                clips.play(view, row, "metrics-cell-player")
            else:
                st.caption("Select a clip in the list to hear and see it.")

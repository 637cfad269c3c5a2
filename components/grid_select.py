"""HTML that answers a click: a Streamlit components-v2 element (inline JavaScript in the page, no iframe, no
plotly.js) that shows HTML made by `components.pictures` and sends the ``data-cell`` of a clicked element back to Python.

Metrics' confusion matrix is drawn with it (`pictures.confusion_grid`). As a plotly heatmap it made every new visitor's
browser fetch and start plotly.js before the page's summary appeared: 0.48 s of the browser's main thread per visit
(a Chromium CPU profile of the Metrics page, 2-core machine). The grid keeps what the matrix is for: hover a cell for
its count and share, click it to list its clips. Zoom stays one toggle away (the plotly figure).
"""

from __future__ import annotations

import streamlit as st

_JS = """
export default function ({ parentElement, data, setTriggerValue }) {
  const root = parentElement.querySelector(".soundlab-grid");
  if (root.soundlabHtml !== data.html) {  // redraw only when the HTML changed
    root.innerHTML = data.html;
    root.soundlabHtml = data.html;
  }
  root.onclick = (event) => {
    const cell = event.target.closest("[data-cell]");
    if (cell) setTriggerValue("cell", cell.dataset.cell.split(",").map(Number));
  };
}
"""

_component = st.components.v2.component("soundlab_grid_select", html='<div class="soundlab-grid"></div>', js=_JS)


def clicked_cell(key: str) -> tuple[int, int] | None:
    """In an ``on_click`` callback of `grid`: the (row, column) of the element just clicked, or None (also for a value
    that is not two integers: it comes from the browser)."""
    cell = (st.session_state.get(key) or {}).get("cell")  # the component's result: a dict of its state and triggers
    try:
        return int(cell[0]), int(cell[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def grid(html: str, *, key: str, on_click=None) -> None:
    """Show `html`; a click on an element carrying ``data-cell="row,col"`` runs `on_click` (read the cell there with
    `clicked_cell(key)`), then the page reruns as after any widget."""
    _component(data={"html": html}, key=key, on_cell_change=on_click)

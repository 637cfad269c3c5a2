"""Explore › Compare: two clips side by side (A: the clip open in the Clips view; B: another take of its recording)."""

from __future__ import annotations

import streamlit as st

from components import clip_view, urlstate
from components.explore import KEY


def render(view) -> None:
    ds = view.ds
    selected = st.session_state.get(KEY) or st.query_params.get("clip")
    options = view.options(selected)
    for extra in (st.session_state.get("explore-a"), st.session_state.get("explore-b")):
        if extra and extra not in options:
            options.append(extra)
    if not options:
        st.info("No clip on disk matches these filters.")
        return
    first = selected if selected in options else options[0]
    on_disk = set(ds.present["filename"])
    sibs = [f for f in ds.siblings(first)["filename"] if f != first and f in on_disk] if ds.desc.grouped else []
    second = sibs[0] if sibs else options[min(1, len(options) - 1)]
    if second not in options:
        options.append(second)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Clip A", options, index=options.index(first), key="explore-a", format_func=view.label)
    b = c2.selectbox("Clip B", options, index=options.index(second), key="explore-b", format_func=view.label)
    urlstate.write_url("a", a)
    urlstate.write_url("b", b)
    for col, name, key in ((c1, a, "explore-cmp-a"), (c2, b, "explore-cmp-b")):
        with col:
            clip_view.render_clip(ds, name, view.params, key=key, show_meta=False, interactive=view.interactive)

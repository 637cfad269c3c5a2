"""Sound search on a page: "find clips that sound like this", as a playable list of the nearest dataset clips.

The space is a backbone's: the stored sound-only embeddings of a run of heads on it (`runs.read_sound_embeddings`),
so it covers that run's clips. A query is a vector in that space: a dataset clip's stored one, or a new sound's
(`Result.sound_embedding`, `classify.embed_audio`).
"""

from __future__ import annotations

import urllib.parse

import numpy as np
import streamlit as st

from components import clip_view, loaders
from soundlab import runs as runs_mod
from soundlab.errors import RunError, SoundLabError
from soundlab.runs import BACKBONE_TITLES

K = 8


def index_runs(all_runs: list) -> dict[str, object]:
    """The run whose clips each backbone's search covers: its preferred run of heads (ESC-50 first)."""
    out = {}
    for key in dict.fromkeys(r.backbone_key for r in all_runs if r.classifies_audio):
        out[key] = runs_mod.preferred([r for r in all_runs if r.classifies_audio and r.backbone_key == key])
    return out


def show_hits(ds, hits: list[tuple[str, float]], *, key: str, on_open=None) -> None:
    """The hits as rows: name, class, fold, distance, a small spectrogram, a player and a one-click way to open the
    clip: a button that calls `on_open(name)` and reruns the whole page (on Explore, whose search is a fragment and
    whose clip picker is not drawn in a fragment's run), else a link to Explore."""
    meta = ds.meta.set_index("filename") if ds is not None else None
    for rank, (name, dist) in enumerate(hits, 1):
        row = meta.loc[name] if meta is not None and name in meta.index else None
        what = ds.clip_summary(row) if row is not None else "?"
        on_disk = row is not None and bool(row["present"])
        c1, c2, c3 = st.columns([2, 1, 2])
        c1.markdown(f"**{rank}. {name}**  \n{what}  \ncosine distance {dist:.3f}")
        if not on_disk:
            c3.caption("not on disk here")
            continue
        with c2:
            clip_view.thumbnail(ds, name)
        with c3:
            clip_view.player(ds, name)
            if on_open is not None:
                if st.button("Open this clip", key=f"{key}-open-{name}"):
                    on_open(name)
                    st.rerun(scope="app")
            else:
                st.markdown(f"[Open in Explore](Explore?clip={urllib.parse.quote(name)})")


@st.fragment
def similar_to_clip(ds, all_runs: list, filename: str, *, key: str, on_open=None) -> None:
    """Sound search from a dataset clip, in the chosen backbone's space.

    A fragment: choosing another space or embedding a clip reruns only this part, not the page around it."""
    spaces = index_runs(all_runs)
    if not spaces:
        st.caption("Sound search needs a run of heads on a backbone (its stored embeddings); none is here.")
        return
    backbone = st.radio("Embedding space", list(spaces), horizontal=True, key=f"{key}-space", bind="query-params",
                        format_func=lambda k: BACKBONE_TITLES.get(k, k))
    run = spaces[backbone]
    try:
        index = loaders.sound_index(run)
    except RunError as e:
        st.warning(f"No sound search in this space: {e}")
        return
    vector = index.vector_of(filename)
    if vector is None:  # a clip the run did not cover: embedding it loads the backbone, so only when asked
        name = BACKBONE_TITLES.get(backbone, backbone)
        st.caption(f"{filename} is not among the {len(index)} clips of `{run.id}`.")
        if not st.button(f"Embed it with {name} and search", key=f"{key}-embed"):
            return
        try:
            bb = loaders.backbone(backbone)
            with st.spinner(f"Embedding {filename} with {bb.name} ..."):
                vector = loaders.clip_embedding(bb, ds.clip_path(filename))
        except SoundLabError as e:
            st.warning(f"Cannot embed {filename}: {e}")
            return
    similar_to_sound(ds, run, vector, key=key, exclude=filename, on_open=on_open)


def similar_to_sound(ds, run, vector: np.ndarray, *, key: str, exclude: str | None = None, on_open=None) -> None:
    """Sound search from a sound's embedding in `run`'s backbone space (a new sound's, or a dataset clip's)."""
    try:
        index = loaders.sound_index(run)
    except RunError as e:
        st.warning(f"No sound search: {e}")
        return
    hits, ms = _timed_query(index, vector, exclude=exclude)
    st.caption(f"The {K} nearest of the {len(index)} clips of `{run.id}` in "
               f"{BACKBONE_TITLES.get(run.backbone_key, run.backbone_key)}'s embedding space "
               f"(cosine distance of the mean over the frames that are not silence; search {ms:.1f} ms).")
    show_hits(ds, hits, key=key, on_open=on_open)


def _timed_query(index, vector, exclude: str | None = None):
    import time

    t0 = time.perf_counter()
    hits = index.query(vector, K, exclude=exclude)
    return hits, (time.perf_counter() - t0) * 1000

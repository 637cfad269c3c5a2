"""Explore › Clips: the table of matching clips, the clip picker, the clip (player, picture, metadata), its sibling
takes, and clips that sound like it."""

from __future__ import annotations

import streamlit as st

from components import clip_view, loaders, search_view, selection, urlstate
from components.explore import KEY, open_clip


def _not_on_disk(view):
    on_disk = set(view.ds.present["filename"])

    def why(name: str) -> str | None:
        """Why a table row cannot be opened: its audio is not here."""
        if name in on_disk:
            return None
        return f"{name} is listed but its audio is not on disk" + (
            ": download the full dataset from the Home page to hear it." if view.ds.desc.is_esc50 else ".")

    return why


def _columns(ds) -> list[str]:
    if ds.desc.is_esc50:
        return ["filename", "class_name", "supercategory", "fold", "esc10", "src_file", "take", "present"]
    return (["filename", "class_name"] + (["supercategory"] if ds.desc.categories else [])
            + (["fold"] if (ds.meta["fold"] > 0).any() else []) + (["src_file"] if ds.desc.grouped else [])
            + ["present"] + ds.extra_columns)


def render(view) -> None:
    ds = view.ds
    shown = view.shown
    st.subheader(f"{len(shown)} clips match" + (f" ({len(view.present)} on disk)" if not view.present_only else ""))
    # someone who follows a link to a clip came for that clip: the table starts switched off then (bench/RESULTS.md,
    # Explore); set once, afterwards the switch keeps what the person chose
    if "explore-show-table" not in st.session_state:
        st.session_state["explore-show-table"] = st.session_state.get(KEY) is None
    if st.toggle("Table of the matching clips", key="explore-show-table"):
        selection.choice_table(
            shown[_columns(ds)], key="explore-table", value_column="filename", choice_key=KEY,
            refuse=_not_on_disk(view), hide_index=True, height=260,
            column_config={"class_name": "class", "supercategory": "category", "esc10": "ESC-10",
                           "src_file": "source" if ds.desc.is_esc50 else "group", "present": "on disk"})
    options = view.options(st.session_state.get(KEY))
    if view.present.empty:
        st.info("No clip on disk matches these filters" + (f" (source recording {view.source})" if view.source else "")
                + "." + (" The clip below is the one you opened before." if options else ""))
    if not options:
        return
    choice = st.selectbox("Clip", options, index=None, key=KEY, placeholder="Pick a clip, or click a row in the table",
                          format_func=view.label)
    urlstate.write_url("clip", choice)
    if choice is None:
        st.caption("Select a clip to listen to it and see its waveform and spectrogram.")
        return
    left, right = st.columns([3, 2])
    with left:
        clip_view.render_clip(ds, choice, view.params, key="explore-clipview", show_meta=False,
                              interactive=view.interactive)
    with right:
        _metadata_and_takes(ds, choice)
    if st.toggle("Find clips that sound like this", key="explore-similar", bind="query-params",
                 help="The nearest clips in a backbone's embedding space, playable."):
        search_view.similar_to_clip(ds, loaders.runs()[0], choice, key="explore-similar", on_open=open_clip)


def _metadata_and_takes(ds, choice: str) -> None:
    row = ds.clip(choice)
    st.markdown("**Metadata**")
    clip_view.metadata_table(row, ds)
    sibs = ds.siblings(choice) if ds.desc.grouped else ds.meta[:0]
    if ds.desc.is_esc50:
        st.markdown(f"**Takes of source recording {row['src_file']}** ({len(sibs)})")
    elif len(sibs):
        st.markdown(f"**Clips of the same group ({ds.desc.group}) {row['src_file']}** ({len(sibs)})")
    for sib in sibs.head(50).itertuples():
        c1, c2 = st.columns([3, 2])  # [3, 1] cut "Open take B" to "Open t…"
        mark = " (this clip)" if sib.filename == choice else ("" if sib.present else " — not on disk")
        where = f" · fold {sib.fold}" if sib.fold else ""
        c1.write(f"{sib.take + ': ' if sib.take else ''}{sib.filename} · {sib.class_name}{where}{mark}")
        if sib.present and sib.filename != choice:
            c2.button(f"Open take {sib.take}" if sib.take else "Open", key=f"explore-sib-{sib.filename}",
                      on_click=open_clip, args=(sib.filename,))

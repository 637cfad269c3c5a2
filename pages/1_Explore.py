"""Explore the dataset in use (ESC-50 by default): filter, listen, look at waveforms and mel spectrograms, compare clips.

Every filter, the view, the selected clip and the spectrogram settings are bound to the URL
(``bind="query-params"``), so a link reopens the same view.
"""

import streamlit as st

from components import clip_view, lite, loaders, page, search_view, selection, urlstate
from soundlab.data import dataset as ds_mod

page.start("Explore · SoundLab", "🔎")

status = loaders.dataset_status()
if status.dataset is None:
    st.error(f"No audio to explore: {status.problem}")
    st.stop()
ds = status.dataset
meta = ds.meta

st.title(f"Explore {ds.title}")
esc50 = ds.desc.is_esc50
folds = ds_mod.folds_of(meta)
st.caption(f"Using the {ds.describe()}.")
if ds.kind == "sample":
    st.info("This is the shipped sample: one real clip per class (50 of 2000). Download the full dataset "
            "from the Home page or with `python -m soundlab download` to browse all of it.")

# Deep links: ?clip= (and ?a= / ?b= for Compare) are checked before a widget takes them; a bad or
# malicious name is refused with a message and never reaches the file system.
KEY = "explore-clip"


for key, param in ((KEY, "clip"), ("explore-a", "a"), ("explore-b", "b")):
    urlstate.seed_clip(key, param, ds)

# ---- sidebar: filters and spectrogram settings ------------------------------------------------
classes = ds_mod.classes(meta)
with st.sidebar:
    st.header("Filters")
    # filters the dataset has nothing for are not shown (a folder per class has no categories, folds or groups)
    f_sup = (st.multiselect("Category", list(ds.desc.categories), key="explore-cat", bind="query-params")
             if ds.desc.categories else [])
    f_cls = st.multiselect("Class", list(classes["category"]), key="explore-class",
                           format_func=ds_mod.class_name_of, bind="query-params")
    f_fold = st.multiselect("Fold", folds, key="explore-fold", bind="query-params") if folds else []
    f_esc10 = st.toggle("ESC-10 only", key="explore-esc10", bind="query-params") if esc50 else False
    if ds.desc.grouped:
        f_src = st.text_input("Source recording (Freesound id)" if esc50 else f"Group: {ds.desc.group}",
                              key="explore-src", bind="query-params",
                              help=("Clips whose src_file starts with this; takes of one recording share it." if esc50
                                    else "Clips whose group starts with this; clips of one group share a fold."))
    else:
        f_src = ""
    f_present = st.toggle("Present only", value=True, key="explore-present", bind="query-params",
                          help="Only clips whose audio is on disk.")
if ds.kind == "partial" and f_present:
    st.caption(f"{len(meta) - ds.n_present} clips are listed in the metadata but not on disk; "
               "turn off *Present only* to see them.")
with st.sidebar:
    # a popover, not an expander: its sliders reach the browser only once it is opened (in a closed expander they
    # were 12 more files of JavaScript for every new visitor to start before the clip showed)
    with st.popover("Spectrogram settings", icon=":material/tune:", width="stretch"):
        params = clip_view.mel_params_widgets("explore-mel")
    interactive = st.toggle("Interactive charts", key="explore-interactive", bind="query-params",
                            help="Zoomable waveform and spectrogram with values on hover. Off: one picture drawn by "
                                 "the server, which shows at once (interactive charts load plotly.js in the browser, "
                                 "a few seconds on a slow machine).")

class_of = dict(zip(meta["filename"], meta["class_name"], strict=False))


def clip_label(name: str) -> str:
    return f"{name} · {class_of.get(name, '?')}"


listed = ds_mod.filter_clips(meta, supercategories=f_sup, classes=f_cls, folds=f_fold, esc10_only=f_esc10,
                             src_file=f_src)
present_filtered = listed[listed["present"]]
filtered = present_filtered if f_present else listed


def clip_options(extra: str | None) -> list[str]:
    """Present clips that pass the filters, plus the one already selected (so it never vanishes)."""
    names = list(present_filtered["filename"])
    if extra and extra not in names and extra in set(ds.present["filename"]):
        names.insert(0, extra)
    return names


def not_on_disk(name: str) -> str | None:
    """Why a table row cannot be opened: its audio is not here."""
    if name in set(ds.present["filename"]):
        return None
    return f"{name} is listed but its audio is not on disk" + (
        ": download the full dataset from the Home page to hear it." if esc50 else ".")


def open_clip(name: str) -> None:
    st.session_state[KEY] = name
    st.session_state["explore-view"] = "Clips"


VIEWS = ["Clips", "Classes", "Compare"]
view = urlstate.segmented_choice("View", VIEWS, key="explore-view", label_visibility="collapsed")

# ---- Clips: table, clip view, sibling takes ---------------------------------------------------
if view == "Clips":
    st.subheader(f"{len(filtered)} clips match" + (f" ({len(present_filtered)} on disk)" if not f_present else ""))
    columns = (["filename", "class_name", "supercategory", "fold", "esc10", "src_file", "take", "present"] if esc50 else
               ["filename", "class_name"] + (["supercategory"] if ds.desc.categories else []) + (["fold"] if folds else [])
               + (["src_file"] if ds.desc.grouped else []) + ["present"] + ds.extra_columns)
    table = filtered[columns]
    # Someone who follows a link to a clip came for that clip: the table starts switched off when the page opens on a
    # clip (its data grid made a new visitor's browser load and compile the grid's JavaScript before showing the clip:
    # 2.6 -> 2.1 s in bench/bench_pages.py). Set once; afterwards the switch keeps what the user chose.
    if "explore-show-table" not in st.session_state:
        st.session_state["explore-show-table"] = st.session_state.get(KEY) is None
    if st.toggle("Table of the matching clips", key="explore-show-table"):
        selection.choice_table(
            table, key="explore-table", value_column="filename", choice_key=KEY, refuse=not_on_disk,
            hide_index=True, height=260,
            column_config={"class_name": "class", "supercategory": "category", "esc10": "ESC-10",
                           "src_file": "source" if esc50 else "group", "present": "on disk"})
    options = clip_options(st.session_state.get(KEY))
    if present_filtered.empty:
        st.info("No clip on disk matches these filters" + (f" (source recording {f_src.strip()})" if f_src.strip()
                                                            else "") + "."
                + (" The clip below is the one you opened before." if options else ""))
    if not options:
        st.stop()
    choice = st.selectbox("Clip", options, index=None, key=KEY, placeholder="Pick a clip, or click a row in the table",
                          format_func=clip_label)
    urlstate.write_url("clip", choice)
    if choice is None:
        st.caption("Select a clip to listen to it and see its waveform and spectrogram.")
    else:
        row = ds.clip(choice)
        left, right = st.columns([3, 2])
        with left:
            clip_view.render_clip(ds, choice, params, key="explore-clipview", show_meta=False,
                                  interactive=interactive)
        with right:
            st.markdown("**Metadata**")
            clip_view.metadata_table(row, ds)
            sibs = ds.siblings(choice) if ds.desc.grouped else ds.meta[:0]
            if esc50:
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
        if st.toggle("Find clips that sound like this", key="explore-similar", bind="query-params",
                     help="The nearest clips in a backbone's embedding space, playable."):
            search_view.similar_to_clip(ds, loaders.runs()[0], choice, key="explore-similar", on_open=open_clip)

# ---- Classes: counts and one spectrogram per class --------------------------------------------
elif view == "Classes":
    table = ds_mod.class_table(listed, folds=range(1, 6) if esc50 else folds)  # "in csv": whatever is on disk
    user_filtered = bool(f_sup or f_cls or f_fold or f_esc10 or f_src.strip())
    st.subheader("Clips per class" + (" (filtered)" if user_filtered else ""))
    c1, c2 = st.columns(2)
    if ds.desc.categories:
        by_cat = table.groupby("supercategory", observed=True)[["listed", "present"]].sum()
        most = max(1, int(by_cat["present"].max()) if len(by_cat) else 1)
        with c1:
            page.chart(lite.bars([(str(c), int(v)) for c, v in by_cat["present"].items()], title="On disk per category",
                                 value_format="{:,.0f}", scale_max=most, label_px=220, width_px=480))
    if folds or esc50:
        by_fold = filtered[filtered["present"]].groupby("fold").size().reindex(range(1, 6) if esc50 else folds,
                                                                               fill_value=0)
        with c2:
            page.chart(lite.bars([(f"fold {f}", int(v)) for f, v in by_fold.items()], title="On disk per fold",
                                 value_format="{:,.0f}", scale_max=max(1, int(by_fold.max())), label_px=64,
                                 width_px=480))
    st.dataframe(table.drop(columns=["category"] + ([] if ds.desc.categories else ["supercategory"])), hide_index=True,
                 height=300,
                 column_config={"class_name": "class", "supercategory": "category", "listed": "in csv",
                                "present": "on disk"})
    st.subheader("One spectrogram per class")
    st.caption("The first clip on disk of each class (of those the filters keep), mel spectrogram in dB.")
    sub = ds_mod.Dataset(root=ds.root, kind=ds.kind, meta=filtered, desc=ds.desc)
    gallery = loaders.class_gallery(sub, params)
    if not gallery:
        st.info("No clip on disk matches these filters.")
    cols = st.columns(5)
    for i, (target, class_name, filename, image) in enumerate(gallery):
        with cols[i % 5]:
            st.image(image, caption=f"{target} · {class_name}", width="stretch")
            st.button("Open clip", key=f"explore-gal-{filename}", on_click=open_clip, args=(filename,),
                      help=filename)
    missing = sorted(set(table["class_name"]) - {g[1] for g in gallery})
    if missing:
        st.caption("No clip on disk for: " + ", ".join(missing))

# ---- Compare two clips side by side -----------------------------------------------------------
else:
    selected = st.session_state.get(KEY) or st.query_params.get("clip")
    options = clip_options(selected)
    for extra in (st.session_state.get("explore-a"), st.session_state.get("explore-b")):
        if extra and extra not in options:
            options.append(extra)
    if len(options) < 1:
        st.info("No clip on disk matches these filters.")
        st.stop()
    c1, c2 = st.columns(2)
    # A defaults to the clip selected in the Clips view, B to another take of its recording if any
    first = selected if selected in options else options[0]
    sibs = ([f for f in ds.siblings(first)["filename"] if f != first and f in set(ds.present["filename"])]
            if ds.desc.grouped else [])
    second = sibs[0] if sibs else options[min(1, len(options) - 1)]
    if second not in options:
        options.append(second)
    a = c1.selectbox("Clip A", options, index=options.index(first), key="explore-a", format_func=clip_label)
    b = c2.selectbox("Clip B", options, index=options.index(second), key="explore-b", format_func=clip_label)
    urlstate.write_url("a", a)
    urlstate.write_url("b", b)
    with c1:
        clip_view.render_clip(ds, a, params, key="explore-cmp-a", show_meta=False, interactive=interactive)
    with c2:
        clip_view.render_clip(ds, b, params, key="explore-cmp-b", show_meta=False, interactive=interactive)

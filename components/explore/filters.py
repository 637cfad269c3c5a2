"""Explore's sidebar: the filters the dataset has columns for, the spectrogram settings and the chart style."""

from __future__ import annotations

import streamlit as st

from components import clip_view
from components.explore import View
from soundlab.data import dataset as ds_mod


def render(ds) -> View:
    meta, esc50 = ds.meta, ds.desc.is_esc50
    folds = ds_mod.folds_of(meta)
    with st.sidebar:
        st.header("Filters")
        # filters the dataset has nothing for are not shown (a folder per class has no categories, folds or groups)
        f_sup = (st.multiselect("Category", list(ds.desc.categories), key="explore-cat", bind="query-params")
                 if ds.desc.categories else [])
        f_cls = st.multiselect("Class", list(ds_mod.classes(meta)["category"]), key="explore-class",
                               format_func=ds_mod.class_name_of, bind="query-params")
        f_fold = st.multiselect("Fold", folds, key="explore-fold", bind="query-params") if folds else []
        f_esc10 = st.toggle("ESC-10 only", key="explore-esc10", bind="query-params") if esc50 else False
        f_src = ""
        if ds.desc.grouped:
            f_src = st.text_input("Source recording (Freesound id)" if esc50 else f"Group: {ds.desc.group}",
                                  key="explore-src", bind="query-params",
                                  help=("Clips whose src_file starts with this; takes of one recording share it."
                                        if esc50 else "Clips whose group starts with this; clips of one group share "
                                                      "a fold."))
        f_present = st.toggle("Present only", value=True, key="explore-present", bind="query-params",
                              help="Only clips whose audio is on disk.")
        # a popover: its sliders reach the browser only once it is opened (bench/RESULTS.md, Explore)
        with st.popover("Spectrogram settings", icon=":material/tune:", width="stretch"):
            params = clip_view.mel_params_widgets("explore-mel")
        interactive = st.toggle("Interactive charts", key="explore-interactive", bind="query-params",
                                help="Zoomable waveform and spectrogram with values on hover. Off: one picture drawn "
                                     "by the server, which shows at once (interactive charts load plotly.js in the "
                                     "browser, a few seconds on a slow machine).")
    listed = ds_mod.filter_clips(meta, supercategories=f_sup, classes=f_cls, folds=f_fold, esc10_only=f_esc10,
                                 src_file=f_src)
    return View(ds, listed, f_present, f_src.strip(), bool(f_sup or f_cls or f_fold or f_esc10 or f_src.strip()),
                params, interactive)

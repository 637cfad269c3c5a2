"""Explore › Classes: clips per class, category and fold, and one spectrogram per class."""

from __future__ import annotations

import streamlit as st

from components import loaders, page, pictures
from components.explore import open_clip
from soundlab.data import dataset as ds_mod


def render(view) -> None:
    ds = view.ds
    folds = list(range(1, 6)) if ds.desc.is_esc50 else ds_mod.folds_of(ds.meta)
    table = ds_mod.class_table(view.listed, folds=folds)  # "in csv" counts the csv, whatever is on disk
    st.subheader("Clips per class" + (" (filtered)" if view.user_filtered else ""))
    c1, c2 = st.columns(2)
    if ds.desc.categories:
        by_cat = table.groupby("supercategory", observed=True)[["listed", "present"]].sum()
        with c1:
            page.chart(pictures.bars([(str(c), int(v)) for c, v in by_cat["present"].items()], title="On disk per category",
                                 value_format="{:,.0f}",
                                 scale_max=max(1, int(by_cat["present"].max()) if len(by_cat) else 1),
                                 label_px=220, width_px=480))
    if folds:
        by_fold = view.present.groupby("fold").size().reindex(folds, fill_value=0)
        with c2:
            page.chart(pictures.bars([(f"fold {f}", int(v)) for f, v in by_fold.items()], title="On disk per fold",
                                 value_format="{:,.0f}", scale_max=max(1, int(by_fold.max())), label_px=64,
                                 width_px=480))
    st.dataframe(table.drop(columns=["category"] + ([] if ds.desc.categories else ["supercategory"])), hide_index=True,
                 height=300, column_config={"class_name": "class", "supercategory": "category", "listed": "in csv",
                                            "present": "on disk"})
    st.subheader("One spectrogram per class")
    st.caption("The first clip on disk of each class (of those the filters keep), mel spectrogram in dB.")
    sub = ds_mod.Dataset(root=ds.root, kind=ds.kind, meta=view.shown, desc=ds.desc)
    gallery = loaders.class_gallery(sub, view.params)
    if not gallery:
        st.info("No clip on disk matches these filters.")
    cols = st.columns(5)
    for i, (target, class_name, filename, image) in enumerate(gallery):
        with cols[i % 5]:
            st.image(image, caption=f"{target} · {class_name}", width="stretch")
            st.button("Open clip", key=f"explore-gal-{filename}", on_click=open_clip, args=(filename,), help=filename)
    missing = sorted(set(table["class_name"]) - {g[1] for g in gallery})
    if missing:
        st.caption("No clip on disk for: " + ", ".join(missing))

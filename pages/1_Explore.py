"""Explore the dataset in use (ESC-50 by default): filter, listen, look at waveforms and mel spectrograms, compare clips.

Every filter, the view, the selected clip and the spectrogram settings are bound to the URL, so a link reopens the same
view; a clip named by a link (``?clip=``, ``?a=``, ``?b=``) is checked before a widget takes it.
"""

import streamlit as st

from components import loaders, page, urlstate
from components.explore import KEY, classes, clips, compare, filters

page.start("Explore · SoundLab", "🔎")

status = loaders.dataset_status()
if status.dataset is None:
    st.error(f"No audio to explore: {status.problem}")
    st.stop()
ds = status.dataset
st.title(f"Explore {ds.title}")
st.caption(f"Using the {ds.describe()}.")
if ds.kind == "sample":
    st.info("This is the shipped sample: one real clip per class (50 of 2000). Download the full dataset "
            "from the Home page or with `python -m soundlab download` to browse all of it.")
for key, param in ((KEY, "clip"), ("explore-a", "a"), ("explore-b", "b")):
    urlstate.seed_clip(key, param, ds)

view = filters.render(ds)
if ds.kind == "partial" and view.present_only:
    st.caption(f"{len(ds.meta) - ds.n_present} clips are listed in the metadata but not on disk; "
               "turn off *Present only* to see them.")
VIEWS = {"Clips": clips, "Classes": classes, "Compare": compare}
VIEWS[urlstate.segmented_choice("View", list(VIEWS), key="explore-view", label_visibility="collapsed")].render(view)

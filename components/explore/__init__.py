"""The sections of the Explore page: the sidebar's filters and settings (`filters`), and its three views: the clips
(`clips`), the classes (`classes`) and two clips side by side (`compare`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd
import streamlit as st

KEY = "explore-clip"  # the clip picker's key; ?clip= seeds it


@dataclass(frozen=True)
class View:
    """The dataset and what the filters keep."""

    ds: object  # soundlab.data.dataset.Dataset
    listed: pd.DataFrame  # the clips the filters keep, on disk or not
    present_only: bool
    source: str  # the source-recording filter as typed
    user_filtered: bool  # any filter set
    params: object  # dsp.MelParams of the spectrogram settings
    interactive: bool  # plotly charts instead of the picture

    @property
    def present(self) -> pd.DataFrame:
        return self.listed[self.listed["present"]]

    @property
    def shown(self) -> pd.DataFrame:
        return self.present if self.present_only else self.listed

    @functools.cached_property
    def _class_of(self) -> dict[str, str]:
        return dict(zip(self.ds.meta["filename"], self.ds.meta["class_name"], strict=False))

    def label(self, name: str) -> str:
        """A clip as the pickers show it: "file · class"."""
        return f"{name} · {self._class_of.get(name, '?')}"

    def options(self, extra: str | None) -> list[str]:
        """The clips on disk that pass the filters, plus `extra` (the one already open) so it never vanishes."""
        names = list(self.present["filename"])
        if extra and extra not in names and extra in set(self.ds.present["filename"]):
            names.insert(0, extra)
        return names


def open_clip(name: str) -> None:
    """Open a clip in the Clips view (a button's callback: a sibling take, a class's example)."""
    st.session_state[KEY] = name
    st.session_state["explore-view"] = "Clips"

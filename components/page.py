"""What every page does first: its page config, and the settings, with a bad setting shown as a message.

A setting that cannot be used (e.g. ``SOUNDLAB_MAX_AUDIO_SECONDS=abc``) stops every page with one line naming
the variable, instead of a traceback.
"""

from __future__ import annotations

import streamlit as st

from soundlab.config import Settings, get_settings
from soundlab.errors import SettingsError


def start(page_title: str, icon: str) -> Settings:
    """Configure the page and return the settings; a bad setting ends the page with a message."""
    st.set_page_config(page_title=page_title, page_icon=icon, layout="wide")
    try:
        return get_settings()
    except SettingsError as e:
        st.error(f"{e}. Fix or unset it, then restart the app.", icon=":material/settings_alert:")
        st.stop()


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~:$=")


def safe(text: object) -> str:
    """`text` with every markdown (and Streamlit directive) character escaped: for file names, notes and messages
    that carry them, so "[x](http://...)", "**x**", "<b>" or ":red[x]" in an upload's name shows as typed."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text)).replace("\n", " ")

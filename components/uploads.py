"""The audio uploader of the Classify and Transcribe pages, with its server-side checks as messages.

Streamlit's `type=` filter runs in the browser, and its server-side re-check raises *before the page script runs*
(while the widget's value is deserialized), so a request that bypassed the browser (a renamed `.exe`, a NUL in the
name) replaced the whole page with a traceback that no `try` in the page can catch. So the uploader is created
without `type=` and the name is checked here, after the widget returns: a refused file is one line naming the
problem and the session goes on. (The size is still enforced by the server: ``server.maxUploadSize``, a 413 before
anything reaches the page.) The content itself is checked by `soundlab.audio` when it is decoded: a non-audio file
named .wav is refused there.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st
from streamlit.errors import StreamlitAPIException

from components.page import safe
from soundlab import audio


def refusal(name: str) -> str | None:
    """Why an uploaded file's name is refused (None if it is an audio file name we decode)."""
    if "\0" in name:
        return "its name holds a NUL byte"
    suffix = PurePath(name).suffix.lower()
    if suffix not in audio.AUDIO_SUFFIXES:
        return f"{suffix or 'no extension'} is not an audio format this app reads"
    return None


def audio_uploader(label: str, *, key: str, help: str | None = None):
    """st.file_uploader for audio, its label followed by the formats it reads; None (and a one-line message) for a
    file that is refused."""
    try:
        f = st.file_uploader(f"{label} ({audio.SUPPORTED_FORMATS})", key=key, help=help)
    except StreamlitAPIException as e:
        st.error(f"The uploaded file was refused: {safe(e)}. Upload audio ({audio.SUPPORTED_FORMATS}).")
        return None
    if f is None:
        return None
    why = refusal(f.name)
    if why:
        shown = f.name.replace("\0", "?")
        st.error(f"{safe(shown[:80])}: refused, {why}. Upload audio ({audio.SUPPORTED_FORMATS}).")
        return None
    return f

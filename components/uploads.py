"""The audio uploader of the Classify and Transcribe pages, with its server-side checks as messages.

Streamlit's `type=` filter runs in the browser; the server checks the extension again (and the size, up to
``server.maxUploadSize``) and raises if a request bypassed the browser. That is turned into one line here; the
content itself is checked by `soundlab.audio` when it is decoded (a non-audio file named .wav is refused there).
"""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]


def audio_uploader(label: str, *, key: str, help: str | None = None):
    """st.file_uploader for audio; None (and a message) for a file the server refuses."""
    try:
        return st.file_uploader(label, type=AUDIO_TYPES, key=key, help=help)
    except StreamlitAPIException as e:
        st.error(f"The uploaded file was refused: {e}. Upload audio ({', '.join(AUDIO_TYPES)}).",
                 icon=":material/block:")
        return None

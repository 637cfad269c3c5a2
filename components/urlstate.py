"""Deep links for values that need checking (clip names): URL <-> session state, by hand.

Simple widgets use ``bind="query-params"``. A clip name needs more: an unknown or malicious
name must be rejected with a message, and the selectbox shows "file · class" while the URL
should hold just the file name.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from soundlab.errors import SoundLabError


def seed_from_url(key: str, param: str, check: Callable[[str], None]) -> str | None:
    """Seed widget `key` from ``?param=`` when the widget has no state yet.

    `check` raises a `SoundLabError` (e.g. `DatasetError` for an unknown clip) for a value that must be
    refused. Returns the refusal message (the parameter is then removed from the URL), or None.
    """
    if key in st.session_state:
        return None
    value = st.query_params.get(param)
    if not value:
        return None
    try:
        check(value)
    except SoundLabError as e:
        del st.query_params[param]
        return str(e)
    st.session_state[key] = value
    return None


def seed_clip(key: str, param: str, ds) -> None:
    """Seed a clip picker from ``?param=`` if the clip is listed and on disk (`Dataset.require_present`); otherwise
    say in one line why the link's clip was refused."""
    refused = seed_from_url(key, param, ds.require_present)
    if refused:
        st.error(f"The link's clip was rejected: {refused}")


def write_url(param: str, value: str | None) -> None:
    """Put `value` in the URL (or remove the parameter), only if it changed."""
    if value:
        if st.query_params.get(param) != value:
            st.query_params[param] = value
    elif param in st.query_params:
        del st.query_params[param]


def mend_unset_choice(key: str, value, options) -> None:
    """Run the page again, once, when a bound control (``bind="query-params"``, its state set before it) came back with
    no value: what Streamlit gives it when the browser's Back button returns to a link without its parameter, after
    another page. Explore then showed its Compare view with no view selected. Widget state cannot be set once the
    widget exists in a run, so the state is dropped and the run starts again, where the page sets it anew. A second
    miss in a row is left alone (the caller falls back to its first option)."""
    flag = f"{key}-mended"
    if value in options:
        st.session_state.pop(flag, None)
        return
    if not st.session_state.get(flag):
        st.session_state[flag] = True
        st.session_state.pop(key, None)
        st.rerun()
    st.session_state.pop(flag, None)

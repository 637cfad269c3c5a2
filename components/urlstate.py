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


def segmented_choice(label: str, options: list[str], *, key: str, **kwargs) -> str:
    """A required segmented control bound to ``?key=`` that always gives one of `options` (the first by default).

    Its state is set before it (not with `default`, so that buttons can also set it, e.g. Explore's "open this clip"),
    to the first option unless the URL names a valid one; an unknown value in a link falls back to it.

    Going back to a link without the parameter (the browser's Back button, after another page) Streamlit gives the
    control no value although the state was just set: Explore showed its Compare view with no view selected. Widget
    state cannot be set once the widget exists in a run, so the state is dropped and the page runs once more, where it
    is set anew; a second miss in a row falls back to the first option without another run."""
    flag = f"{key}-mended"
    if key not in st.session_state and st.query_params.get(key) not in options:
        st.session_state[key] = options[0]
    value = st.segmented_control(label, options, required=True, key=key, bind="query-params", **kwargs)
    if value in options:
        st.session_state.pop(flag, None)
        return value
    if not st.session_state.get(flag):
        st.session_state[flag] = True
        st.session_state.pop(key, None)
        st.rerun()
    st.session_state.pop(flag, None)
    return options[0]

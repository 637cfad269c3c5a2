"""One result per session: what an upload or a recording gave (a classification, its tags, a transcript), kept while
the person looks at it and dropped as soon as they give another.

Not `st.cache_data`: an upload is one person's, and a shared cache would keep every visitor's results (and their
audio's arrays) for everyone until evicted. In session state a result goes with its session; keeping one per kind
bounds what a session holds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

from soundlab.errors import SoundLabError

T = TypeVar("T")


def one(name: str, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` for `key`, computed once while `key` stays the same; a new key replaces the old result. A
    `SoundLabError` is kept like a result (a bad upload is not decoded again on every rerun) and raised again."""
    slot = f"memo-{name}"
    held = st.session_state.get(slot)
    if held is None or held[0] != key:
        st.session_state.pop(slot, None)  # drop the old result before computing the new one
        try:
            held = (key, compute(), None)
        except SoundLabError as e:  # kept as its type and message: a kept exception would keep its frames too
            held = (key, None, (type(e), str(e)))
        st.session_state[slot] = held
    if held[2] is not None:
        kind, message = held[2]
        raise kind(message)
    return held[1]


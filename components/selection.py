"""Choosing with a table: a click on a row chooses the value in that row (a clip, a segment), and the table always
shows the current choice as its selected row.

Streamlit keeps a table's selected row numbers in session state across reruns, even when the rows under them change
(a filter, another run or model, another transcript). Read on the next run, row 7 of the new table is a clip nobody
clicked, or a row that no longer exists (an IndexError). So the choice is made once, in the table's ``on_select``
callback, from the rows the person actually saw; and before each run draws the table, its selection is set to the row
of the current choice (or to none), so a selection can only ever name a row that exists and the value shown.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st


def _rows(key: str) -> list[int]:
    state = st.session_state.get(key)
    try:
        return [int(r) for r in state["selection"]["rows"]]
    except (TypeError, KeyError, ValueError):
        return []


def _on_select(key: str, choice_key: str, values: tuple, refuse: Callable | None) -> None:
    """The table's callback: the value of the row just clicked becomes the choice (None when the row is unselected)."""
    rows = _rows(key)
    value = values[rows[0]] if rows and 0 <= rows[0] < len(values) else None
    why = refuse(value) if refuse is not None and value is not None else None
    if why:
        st.session_state[f"{key}-refused"] = why  # shown once, above the table; the choice stays as it was
        return
    st.session_state[choice_key] = value


def row_of(table: pd.DataFrame, value, columns: Sequence[str]) -> int | None:
    """The position of the first row holding `value` in one of `columns`, or None."""
    if value is None or table.empty:
        return None
    hit = pd.Series(False, index=table.index)
    for c in columns:
        hit |= table[c].to_numpy() == value
    found = hit.to_numpy().nonzero()[0]
    return int(found[0]) if len(found) else None


def choice_table(table: pd.DataFrame, *, key: str, value_column: str, choice_key: str,
                 match_columns: Sequence[str] | None = None, refuse: Callable[[object], str | None] | None = None,
                 **dataframe_kwargs) -> None:
    """Show `table` with single-row selection; clicking a row sets ``st.session_state[choice_key]`` to its
    `value_column` (unselecting it sets None).

    `choice_key` is usually the key of a selectbox offering the same values, so the table and the selectbox are two
    ways to choose one thing; the page reads the choice from there. The row shown selected is the first whose
    `match_columns` (default: `value_column`) hold the current choice. `refuse(value)` may return why a clicked row
    cannot be chosen (e.g. its audio is not on disk): the message shows and the choice stays.
    """
    wanted = row_of(table, st.session_state.get(choice_key), match_columns or [value_column])
    if _rows(key) != ([] if wanted is None else [wanted]):
        st.session_state[key] = {"selection": {"rows": [] if wanted is None else [wanted], "columns": []}}
    refused = st.session_state.pop(f"{key}-refused", None)
    if refused:
        st.caption(f":orange[:material/info:] {refused}")
    # st.dataframe's callback takes no arguments of its own: the rows as shown are bound to it here
    on_select = functools.partial(_on_select, key, choice_key, tuple(table[value_column].tolist()), refuse)
    st.dataframe(table, key=key, on_select=on_select, selection_mode="single-row", **dataframe_kwargs)

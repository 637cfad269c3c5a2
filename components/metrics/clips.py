"""A clip of a run, as the Metrics sections list and play it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import clip_view, selection


def play(view, row: pd.Series, key: str) -> None:
    """Player and picture of one clip of the run, or a note that it is not on disk."""
    if not row.get("present", False) or view.ds is None:
        st.caption(f"{row['filename']} is not on disk here (download the dataset to listen to it).")
        return
    clip_view.render_clip(view.ds, row["filename"], clip_view.DEFAULT_PARAMS, key=key, show_meta=False, height=220)


def table(rows: pd.DataFrame, key: str, choice_key: str | None = None) -> pd.Series | None:
    """A clip list whose row click chooses a clip (into `choice_key`, default ``<key>-clip``); returns the chosen
    clip's row if it is in the list."""
    choice_key = choice_key or f"{key}-clip"
    selection.choice_table(rows[["filename", "true_name", "pred_name", "confidence", "fold", "present"]], key=key,
                           value_column="filename", choice_key=choice_key, hide_index=True,
                           height=min(35 * (len(rows) + 1) + 3, 300),
                           column_config={"true_name": "true", "pred_name": "predicted", "present": "on disk",
                                          "confidence": st.column_config.NumberColumn(format="%.2f")})
    chosen = rows[rows["filename"] == st.session_state.get(choice_key)]
    return chosen.iloc[0] if len(chosen) else None

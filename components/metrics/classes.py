"""Metrics › Classes: precision, recall and F1 per class and per category."""

from __future__ import annotations

import streamlit as st

from soundlab import predictions

THREE_DECIMALS = {c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")}


def render(view) -> None:
    st.subheader("Per class")
    st.dataframe(predictions.per_class_table(view.p), hide_index=True, height=420, column_config=THREE_DECIMALS)
    if len(view.run.category_names) > 1:
        st.subheader("Per category")
        st.caption("A prediction counts as right for its category when it names any class of the clip's category.")
        st.dataframe(predictions.category_table(view.p), hide_index=True, column_config=THREE_DECIMALS)

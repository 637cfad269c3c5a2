"""Data issues: the review form (nothing pre-selected; a decision needs a person's choice and their name, asked once
per session) and the review log with its exports."""

from __future__ import annotations

import streamlit as st

from components import page
from soundlab import review
from soundlab.review import DECISIONS, Decision, ReviewError, corrected_metadata


def form(view, kind: str, choice: str, *, suggested: str | None, other_file: str | None) -> None:
    st.subheader("Your decision")
    if view.review_problem:
        st.error(f"The review log cannot be used: {view.review_problem}")
        return
    prior = view.decided(choice, kind)
    if prior is not None:
        st.caption(f"In effect: **{review.decision_text(prior['decision'], prior['new_label'], view.class_names)}** "
                   f"by {page.safe(prior['reviewer'])} at {prior['created_utc']} UTC"
                   + (f" — {page.safe(prior['note'])}" if prior["note"] else "")
                   + ". A new decision replaces it; the log keeps both.")
    table = view.p.table
    labelled = table.loc[table["filename"] == choice, "true"]
    current_label = view.run.classes[int(labelled.iloc[0])] if len(labelled) else None
    # each clip, and each clip again after a decision, gets a fresh form: its widgets' keys say which
    fresh = f"{kind}-{choice}-{st.session_state.get('issues-recorded', 0)}"
    names = view.class_names
    with st.form(f"issues-review-{kind}", border=True):
        decision = st.radio("Decision", list(DECISIONS), index=None, format_func=DECISIONS.get, horizontal=True,
                            key=f"issues-decision-{fresh}")
        new_label = st.selectbox("The class it should be (for “label wrong”)", view.run.classes, index=None,
                                 placeholder=f"cleanlab suggests {names.get(suggested)}" if suggested else
                                 "Choose a class", format_func=names.get, key=f"issues-label-{fresh}")
        c1, c2 = st.columns([3, 1])
        note = c1.text_input("Note (optional)", max_chars=500, key=f"issues-note-{fresh}")
        reviewer = c2.text_input("Your name", value=st.session_state.get("issues-reviewer-name", ""),
                                 key="issues-reviewer", max_chars=80,
                                 help="Kept with every decision you record in this session.")
        submitted = st.form_submit_button("Record decision", type="primary")
    if not submitted:
        return
    problem = review.check_choice(decision, new_label, current_label=current_label, reviewer=reviewer)
    if problem:
        st.error(f"{problem} Nothing was recorded.")
        return
    try:
        view.store.add(Decision(choice, kind, decision, new_label=new_label if decision == "label_wrong" else None,
                                other_file=other_file, note=note, reviewer=reviewer, run_id=view.run.id))
    except ReviewError as e:
        st.error(str(e))
        return
    st.session_state["issues-reviewer-name"] = reviewer.strip()
    st.session_state["issues-recorded"] = st.session_state.get("issues-recorded", 0) + 1
    st.toast(f"Recorded: {page.safe(choice)} — {DECISIONS[decision]}", icon=":material/check:")
    st.rerun()


def log(view, review_db) -> None:
    """The review log, as a table and a CSV, and the corrected labels in ESC-50's metadata layout."""
    if view.store is None:
        return
    n = len(view.current)
    with st.expander(f"Review log ({n} clip{'s' if n != 1 else ''} decided)"):
        try:
            history = view.store.history()
        except ReviewError as e:
            st.error(str(e))
            return
        if history.empty:
            st.caption(f"No decision yet. The log is `{review_db}` (setting `SOUNDLAB_REVIEW_DB`).")
            return
        st.dataframe(history.drop(columns=["id"]), hide_index=True, height=240)
        st.download_button("Download the log (CSV)", history.to_csv(index=False), "soundlab-review-log.csv",
                           "text/csv", key="issues-log-csv")
        ds = view.ds
        if ds is not None and not ds.desc.is_esc50:
            st.caption("Corrected labels are exported in ESC-50's metadata layout, for ESC-50 only.")
        elif ds is not None:
            corrected = corrected_metadata(ds.meta, view.current,
                                           dict(zip(ds.meta["category"], ds.meta["target"], strict=False)))
            changed = int((corrected["target"] != corrected["original_target"]).sum())
            st.download_button(f"Download corrected labels (esc50.csv layout, {changed} changed)",
                               corrected.to_csv(index=False), "esc50-corrected.csv", "text/csv",
                               key="issues-corrected-csv")
            st.caption("Train on it with `python -m soundlab train --labels esc50-corrected.csv`: the same folds, the "
                       "corrected labels; the run and its Metrics page say its labels differ from the official ones.")

"""Data issues: what may be wrong with the data rather than the model, and a log of what a listener decided.

cleanlab's Datalab finds label issues, near-duplicates, outliers and under-performing groups on a run's stored
out-of-fold probabilities and backbone embeddings (`soundlab.issues`). Pick a kind and a clip, listen, record a
decision (`soundlab.review`, SQLite); export the corrected labels as an ESC-50 csv for ``train --labels``.
Deep links: ``?issues-kind=Near-duplicates&clip=<file>`` (plus the run and model).
"""

import numpy as np
import pandas as pd
import streamlit as st

from components import charts, clip_view, loaders, page, run_picker, selection, urlstate
from soundlab import issues as issues_mod
from soundlab import report, review
from soundlab import runs as runs_mod
from soundlab.errors import DatasetError, RunError
from soundlab.review import DECISIONS, Decision, ReviewError, corrected_metadata
from soundlab.runs import BACKBONE_TITLES

settings = page.start("Data issues · SoundLab", "🏷️")
st.title("Data issues")
st.caption("Clips whose label looks wrong, near-copies of other clips, odd ones out, and regions of the sound space the "
           "model does badly on: found by cleanlab's Datalab on the run's stored out-of-fold probabilities and its "
           "backbone's embeddings. Listen, then record what you decide; the review log keeps it.")

all_runs = loaders.runs_with_warnings(classifies_audio=True)
if not all_runs:
    st.warning(f"No run of heads on a backbone in `{settings.artifacts_dir / 'runs'}`: the issues are found on its "
               "out-of-fold predictions and embeddings. Train one with `python -m soundlab train`, or restore the "
               "shipped runs with `git checkout model_artifacts/`.")
    st.stop()
ds = loaders.dataset_status().dataset
run, model = run_picker.pick(all_runs, prefix="issues", header="Run", model_label="Model",
                             run_help="Issues are found on this run's out-of-fold probabilities and embeddings.")
# the other backbone's run of the same task: a label issue both find ranks first
others = []
for key in {r.backbone_key for r in all_runs} - {run.backbone_key}:
    other = runs_mod.preferred([r for r in all_runs if r.backbone_key == key and r.task == run.task])
    if other is not None:
        others.append(other)

try:
    found = loaders.data_issues(run, model, others)
except RunError as e:
    st.error(f"The issues of this run cannot be found: {e}")
    st.stop()
try:
    p = loaders.predictions(run, model, ds)
except RunError as e:
    st.error(f"The predictions of this model cannot be used: {e}")
    st.stop()

# ---- the review log (a damaged database is a message; the rest of the page works) -------------------------------
store, review_problem = None, None
try:
    store = loaders.review_store()
    current = store.current()
except ReviewError as e:
    review_problem = str(e)
    current = pd.DataFrame(columns=["filename", "kind", "decision", "new_label", "reviewer", "created_utc", "note"])
decided = {(r.filename, r.kind): r for r in current.itertuples()}
category_name = dict(zip(run.classes, run.class_names, strict=True))


def decision_text(filename: str, kind: str) -> str:
    r = decided.get((filename, kind))
    if r is None:
        return ""
    return DECISIONS[r.decision] + (f" → {category_name.get(r.new_label, r.new_label)}" if r.new_label else "")


# ---- counts ---------------------------------------------------------------------------------------------------
counts = found.counts()
page.figures([(issues_mod.KIND_NAMES[kind].capitalize(), counts[kind]) for kind in issues_mod.KINDS])
both = int(found.labels["both_backbones"].sum()) if counts["label"] else 0
leaks = int(found.duplicates["cross_fold"].sum()) if counts["near_duplicate"] else 0
st.caption(f"{len(p.table)} clips of the run {page.safe(run.title)}, model {page.safe(run.model_title(model))} (out of "
           "fold). "
           + (f"{both} of the label issues are also found on the "
              f"{' and '.join(BACKBONE_TITLES.get(o.backbone_key, o.backbone_key) for o in others)} run and "
              "rank first. "
              if found.other_runs else "No run of the other backbone on the same clips: label issues are from this run "
                                       "alone. ")
           + (f":red[{leaks} near-duplicate pair{'s' if leaks != 1 else ''} across folds] (a test clip with a copy in "
              "training: a leak). " if leaks else "No near-duplicate pair across folds. ")
           + f"{len(current)} clip{'s' if len(current) != 1 else ''} reviewed so far.")

KIND_HELP = {
    "label": "cleanlab's label quality (low = the given label is unlikely given the out-of-fold probabilities); the "
             "label it suggests is the model's. Issues both backbones find are listed first.",
    "near_duplicate": "Pairs closer than cleanlab's threshold in the embedding space (cosine distance). Takes of one "
                      "source recording are expected to be close (they share a fold); a pair across folds is a leak and "
                      "comes first, then pairs of different recordings.",
    "outlier": "Clips unlike the rest of the dataset in the embedding space (low score = more unusual).",
    "underperforming_group": "Clusters of the embedding space where the model is much less accurate than overall.",
}
# the kind's readable name is the option (and so the URL value: ?issues-kind=Near-duplicates)
KIND_OF = {issues_mod.KIND_NAMES[k].capitalize(): k for k in issues_mod.KINDS}


def forget_clip() -> None:
    """Another kind starts with no clip open: a clip of one kind is not listed under another."""
    st.query_params.pop("clip", None)
    for k in issues_mod.KINDS:
        st.session_state.pop(f"issues-clip-{k}", None)


kind = KIND_OF[urlstate.segmented_choice("Kind", list(KIND_OF), key="issues-kind", label_visibility="collapsed",
                                         on_change=forget_clip)]
st.caption(KIND_HELP[kind])
table = found.table(kind).copy()

if kind == "underperforming_group":
    if table.empty:
        st.info("cleanlab found no cluster of clips where the model does markedly worse than overall.")
    else:
        st.dataframe(table, hide_index=True, column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "overall_accuracy": st.column_config.NumberColumn("overall", format="percent")})
    st.stop()
if table.empty:
    st.info(f"cleanlab found no {issues_mod.KIND_NAMES[kind]} in this run's clips.")
    st.stop()

# ---- the ranked table, with the decision in effect --------------------------------------------------------------
review_kind = kind
if kind == "near_duplicate":
    table["reviewed"] = [decision_text(a, kind) or decision_text(b, kind) for a, b in zip(table["a"], table["b"],
                                                                                            strict=True)]
    shown = table[["rank", "a", "b", "distance", "fold_a", "fold_b", "src_a", "src_b", "cross_fold", "reviewed"]]
    names = {"a": "clip A", "b": "clip B", "src_a": "source A", "src_b": "source B", "cross_fold": "across folds"}
else:
    table["reviewed"] = [decision_text(f, kind) for f in table["filename"]]
    if "found_by" in table:  # run ids are long: name the backbones
        names_of = {o.id: BACKBONE_TITLES.get(o.backbone_key, o.backbone_key) for o in others}
        this = BACKBONE_TITLES.get(run.backbone_key, run.backbone_key)
        table["found_by"] = [", ".join(names_of.get(x, this if x == "this run" else x) for x in f.split(", "))
                             for f in table["found_by"]]
    shown = table.drop(columns=[c for c in ("both_backbones",) if c in table])
    names = {"src_file": "source", "found_by": "found by"}
column = "a" if kind == "near_duplicate" else "filename"
in_table = set(table[column]) | (set(table["b"]) if kind == "near_duplicate" else set())


def check_listed(name: str) -> None:
    if ds is not None:
        ds.check_name(name)
    if name not in in_table:
        raise DatasetError(f"{name} is not among this run's {issues_mod.KIND_NAMES[kind]}.")


CLIP = f"issues-clip-{kind}"
refused = urlstate.seed_from_url(CLIP, "clip", check_listed)
if refused:
    st.error(f"The link's clip was rejected: {refused}")
selection.choice_table(shown, key=f"issues-table-{kind}", value_column=column, choice_key=CLIP,
                       match_columns=["a", "b"] if kind == "near_duplicate" else None, hide_index=True, height=280,
                       column_config=names)
options = list(table[column])
if st.session_state.get(CLIP) not in in_table:  # a clip of another run or model: not listed here
    st.session_state[CLIP] = None
elif st.session_state[CLIP] not in options:  # clip B of a near-duplicate pair
    options.insert(0, st.session_state[CLIP])
choice = st.selectbox("Clip", options, index=None, key=CLIP, placeholder="Pick a clip, or click a row in the table")
urlstate.write_url("clip", choice)
if choice is None:
    st.stop()

params = clip_view.DEFAULT_PARAMS
oof_names = set(p.table["filename"])
fold_of = dict(zip(p.table["filename"], p.table["fold"].astype(int), strict=True))


def show_clip(name: str, key: str) -> None:
    if ds is None or name not in set(ds.meta["filename"]):
        st.warning(f"{name}: not listed in the dataset in use, so there is nothing here to play it from.")
        return
    clip_view.render_clip(ds, name, params, key=key, show_meta=False, height=240)
    row = ds.clip(name)
    n_takes = len(ds.siblings(name))
    run_fold = fold_of.get(name)
    own = f"official fold {row['fold']}" if row["fold"] else "no fold of its own"
    where = (f"fold {run_fold} of this run" + (f" ({own})" if run_fold != row["fold"] else "")
             if run_fold is not None else own)
    if ds.desc.is_esc50:
        st.caption(f"{where} · source recording {row['src_file']} (take {row['take']}) · "
                   f"{n_takes} take{'s' if n_takes != 1 else ''} of this recording")
    else:
        st.caption(f"{where}" + (f" · {ds.desc.group} {row['src_file']} · {n_takes} clip{'s' if n_takes != 1 else ''} "
                                 "of this group" if ds.desc.grouped else ""))


def top5(name: str, key: str) -> None:
    if name not in oof_names:
        return
    top = report.top_probs(p, name, 5)
    st.plotly_chart(charts.probability_bars(np.array([v for _, v in top]), [n for n, _ in top], top_k=1,
                                            title=f"{model}: top-5 out of fold", height=240), key=key)


other_file = None
if kind == "near_duplicate":
    pair = table[(table["a"] == choice) | (table["b"] == choice)].iloc[0]
    a, b = (pair["a"], pair["b"]) if pair["a"] == choice else (pair["b"], pair["a"])
    other_file = b
    if pair["cross_fold"]:
        st.error(f"Across folds: {a} (fold {pair['fold_a'] if pair['a'] == a else pair['fold_b']}) and {b} are "
                 f"{pair['distance']:.3f} apart. When one is tested, a near-copy is in training.",
                 icon=":material/warning:")
    else:
        st.info(f"Same fold, {'same' if pair['same_source'] else 'different'} source recording; cosine distance "
                f"{pair['distance']:.3f}.")
    left, right = st.columns(2)
    with left:
        show_clip(a, "issues-dup-a")
    with right:
        show_clip(b, "issues-dup-b")
    suggested = None
else:
    row = table[table[column] == choice].iloc[0]
    if kind == "label":
        st.markdown(f"### {choice}: labelled **{row['given']}**, cleanlab suggests **{row['suggested']}**")
        st.caption(f"Label quality {row['score']:.3f} (0 = surely wrong, 1 = surely right); found by: {row['found_by']}.")
        suggested = next((c for c, n in category_name.items() if n == row["suggested"]), None)
    else:
        st.markdown(f"### {choice}: **{row['label']}**, an outlier")
        st.caption(f"Outlier score {row['score']:.3f} (low = unlike the rest).")
        suggested = None
    left, right = st.columns([3, 2])
    with left:
        show_clip(choice, "issues-clip")
    with right:
        top5(choice, "issues-top5")

# ---- record a decision -------------------------------------------------------------------------------------------
st.subheader("Your decision")
if review_problem:
    st.error(f"The review log cannot be used: {review_problem}")
else:
    prior = decided.get((choice, review_kind))
    if prior is not None:
        st.caption(f"In effect: **{decision_text(choice, review_kind)}** by {page.safe(prior.reviewer)} at "
                   f"{prior.created_utc} UTC" + (f" — {page.safe(prior.note)}" if prior.note else "")
                   + ". A new decision replaces it; the log keeps both.")
    true_key = run.classes[int(p.table.loc[p.table["filename"] == choice, "true"].iloc[0])] if choice in oof_names else None
    # Nothing is pre-selected: a decision is recorded only when a person chose it, and says who they are (once per
    # session). Each clip, and each clip again after a decision, gets a fresh form (its widgets' keys say which).
    form = f"{kind}-{choice}-{st.session_state.get('issues-recorded', 0)}"
    with st.form(f"issues-review-{kind}", border=True):
        decision = st.radio("Decision", list(DECISIONS), index=None, format_func=DECISIONS.get, horizontal=True,
                            key=f"issues-decision-{form}")
        hint = f"cleanlab suggests {category_name.get(suggested, suggested)}" if suggested else "Choose a class"
        new_label = st.selectbox("The class it should be (for “label wrong”)", run.classes, index=None,
                                 placeholder=hint, format_func=category_name.get, key=f"issues-label-{form}")
        c1, c2 = st.columns([3, 1])
        note = c1.text_input("Note (optional)", max_chars=500, key=f"issues-note-{form}")
        reviewer = c2.text_input("Your name", value=st.session_state.get("issues-reviewer-name", ""),
                                 key="issues-reviewer", max_chars=80,
                                 help="Kept with every decision you record in this session.")
        submitted = st.form_submit_button("Record decision", type="primary")
    if submitted:
        problem = review.check_choice(decision, new_label, current_label=true_key, reviewer=reviewer)
        if problem:
            st.error(f"{problem} Nothing was recorded.")
        else:
            try:
                store.add(Decision(choice, review_kind, decision,
                                   new_label=new_label if decision == "label_wrong" else None,
                                   other_file=other_file, note=note, reviewer=reviewer, run_id=run.id))
            except ReviewError as e:
                st.error(str(e))
            else:
                st.session_state["issues-reviewer-name"] = reviewer.strip()
                st.session_state["issues-recorded"] = st.session_state.get("issues-recorded", 0) + 1
                st.toast(f"Recorded: {page.safe(choice)} — {DECISIONS[decision]}", icon=":material/check:")
                st.rerun()

# ---- the log and its export ---------------------------------------------------------------------------------------
if store is not None:
    with st.expander(f"Review log ({len(current)} clip{'s' if len(current) != 1 else ''} decided)"):
        try:
            history = store.history()
        except ReviewError as e:
            st.error(str(e))
            history = None
        if history is not None and not history.empty:
            st.dataframe(history.drop(columns=["id"]), hide_index=True, height=240)
            st.download_button("Download the log (CSV)", history.to_csv(index=False), "soundlab-review-log.csv",
                               "text/csv", key="issues-log-csv")
            if ds is not None and not ds.desc.is_esc50:
                st.caption("Corrected labels are exported in ESC-50's metadata layout, for ESC-50 only.")
            elif ds is not None:
                class_of = dict(zip(ds.meta["category"], ds.meta["target"], strict=False))
                corrected = corrected_metadata(ds.meta, current, class_of)
                n = int((corrected["target"] != corrected["original_target"]).sum())
                st.download_button(f"Download corrected labels (esc50.csv layout, {n} changed)",
                                   corrected.to_csv(index=False), "esc50-corrected.csv", "text/csv",
                                   key="issues-corrected-csv")
                st.caption("Train on it with `python -m soundlab train --labels esc50-corrected.csv`: the same folds, "
                           "the corrected labels; the run and its Metrics page say its labels differ from the official "
                           "ones.")
        else:
            st.caption(f"No decision yet. The log is `{settings.review_db}` (setting `SOUNDLAB_REVIEW_DB`).")

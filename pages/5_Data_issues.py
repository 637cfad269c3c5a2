"""Data issues: what may be wrong with the data rather than the model, and a log of what a listener decided.

cleanlab's Datalab finds label issues, near-duplicates, outliers and under-performing groups on a run's stored
out-of-fold probabilities and backbone embeddings (`soundlab.issues`). Pick a kind and a clip, listen, record a
decision (`soundlab.review`, SQLite); export the corrected labels as an ESC-50 csv for ``train --labels``.
Deep links: ``?issues-kind=Near-duplicates&clip=<file>`` (plus the run and model).
"""

import pandas as pd
import streamlit as st

from components import loaders, page, run_picker, urlstate
from components.issues import View, clip, review, table
from soundlab import issues
from soundlab.errors import RunError
from soundlab.review import ReviewError
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
others = issues.other_runs(all_runs, run)
try:
    found = loaders.data_issues(run, model, others)
    p = loaders.predictions(run, model, ds)
except RunError as e:
    st.error(f"The issues of this run cannot be found: {e}")
    st.stop()
store, problem = None, None  # a damaged review log is a message; the rest of the page works
try:
    store = loaders.review_store()
    current = store.current()
except ReviewError as e:
    problem, current = str(e), pd.DataFrame(columns=["filename", "kind", "decision", "new_label", "reviewer",
                                                     "created_utc", "note"])
view = View(run, model, others, found, p, ds, store, problem, current)

counts = found.counts()
page.figures([(issues.KIND_NAMES[k].capitalize(), counts[k]) for k in issues.KINDS])
both = int(found.labels["both_backbones"].sum()) if counts["label"] else 0
leaks = int(found.duplicates["cross_fold"].sum()) if counts["near_duplicate"] else 0
backbones = " and ".join(BACKBONE_TITLES.get(o.backbone_key, o.backbone_key) for o in others)
st.caption(f"{len(p.table)} clips of the run {page.safe(run.title)}, model {page.safe(run.model_title(model))} (out of "
           "fold). "
           + (f"{both} of the label issues are also found on the {backbones} run and rank first. " if found.other_runs
              else "No run of the other backbone on the same clips: label issues are from this run alone. ")
           + (f":red[{leaks} near-duplicate pair{'s' if leaks != 1 else ''} across folds] (a test clip with a copy in "
              "training: a leak). " if leaks else "No near-duplicate pair across folds. ")
           + f"{len(current)} clip{'s' if len(current) != 1 else ''} reviewed so far.")


def forget_clip() -> None:
    """Another kind starts with no clip open: a clip of one kind is not listed under another."""
    st.query_params.pop("clip", None)
    for k in issues.KINDS:
        st.session_state.pop(f"issues-clip-{k}", None)


# the kind's readable name is the option (and so the URL value: ?issues-kind=Near-duplicates)
KIND_OF = {issues.KIND_NAMES[k].capitalize(): k for k in issues.KINDS}
kind = KIND_OF[urlstate.segmented_choice("Kind", list(KIND_OF), key="issues-kind", label_visibility="collapsed",
                                         on_change=forget_clip)]
st.caption(table.HELP[kind])
choice = table.render(view, kind)
if choice is not None:
    suggested, other_file = clip.render(view, kind, choice)
    review.form(view, kind, choice, suggested=suggested, other_file=other_file)
review.log(view, settings.review_db)

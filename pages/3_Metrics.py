"""Metrics: every number recomputed from a run's stored out-of-fold predictions, and its mistakes."""

import streamlit as st

from components import loaders, page, run_picker
from components.metrics import (
    View,
    calibration,
    classes,
    compare,
    confusion,
    embedding_map,
    export,
    folds,
    mistakes,
    open_set,
    outside,
    summary,
)
from soundlab.errors import RunError

settings = page.start("Metrics · SoundLab", "📊")
st.title("Metrics and mistakes")

all_runs = loaders.runs_with_warnings()
if not all_runs:
    st.warning(f"No trained runs in `{settings.artifacts_dir / 'runs'}`. Train with `python -m soundlab train`, "
               "or restore the shipped runs with `git checkout model_artifacts/`.")
    st.stop()
ds = loaders.dataset_status().dataset

run, model = run_picker.pick(all_runs, prefix="metrics", header="Run", model_label="Model",
                             run_help="Runs of heads on backbone embeddings, fine-tuned and fused models, and models "
                                      "trained from scratch, best first.")
with st.sidebar:
    class_filter = st.multiselect("Classes (filter for Mistakes and Map)", run.class_names, key="metrics-class",
                                  bind="query-params")
try:
    p = loaders.predictions(run, model, ds)
except RunError as e:
    st.error(f"The predictions of this model cannot be used: {e}")
    st.stop()
for problem in p.problems:
    st.warning(problem)
view = View(run, model, p, ds, all_runs, tuple(run.class_names.index(c) for c in class_filter))

summary.render(view)
SECTIONS = {"Folds": folds, "Classes": classes, "Confusion": confusion, "Mistakes": mistakes,
            "Calibration": calibration, "Open set": open_set, "Map": embedding_map, "Compare": compare,
            "Outside the training data": outside, "Export": export}
section = st.segmented_control("Section", list(SECTIONS), default="Confusion", required=True, key="metrics-section",
                               bind="query-params", label_visibility="collapsed")
SECTIONS[section].render(view)

"""The run and model picker in the sidebar, shared by the Classify, Metrics and Data issues pages.

Runs and models are named for people ("ESC-50 · heads on EfficientAT", "logistic regression · 89.5% (best)"), best
first; the run id is in the model box's tooltip. The URL holds the run's id and the model's name
(``?<prefix>-run=...&<prefix>-head=...``, by hand: a bound box would put the names people read there, which may
repeat); a link naming a run that is not here is refused with a message and the default run is shown instead.
"""

from __future__ import annotations

import streamlit as st

from components import urlstate
from soundlab import runs as runs_mod
from soundlab.runs import BACKBONE_TITLES, MODEL_TITLES

MODEL_SHORT = {**MODEL_TITLES, "fusion": "fine-tuned + head, fused"}


def _default(all_runs: list):
    """The run shown first: `runs.preferred` among the runs whose backbones are all on disk (a fused model that also
    hears through YAMNet needs yamnet.tflite), so a missing file costs that model, not the page."""
    from soundlab.config import get_settings
    from soundlab.models.backbone import status

    s = get_settings()
    ready = {k: status(k, s).ready for k in {k for r in all_runs for k in r.backbones}}
    return runs_mod.preferred([r for r in all_runs if all(ready[k] for k in r.backbones)] or all_runs)


def pick_backbone(all_runs: list, *, prefix: str) -> list:
    """A sidebar selectbox of the backbones that have runs (default: the preferred run's; a linked run's if the link
    names one). Returns the runs of the chosen backbone."""
    from soundlab.models.backbone import REGISTRY

    keys = [k for k in REGISTRY if any(r.backbone_key == k for r in all_runs)]
    if st.query_params.get(f"{prefix}-backbone") in keys:  # a link may name the backbone by key; the box shows names
        st.query_params[f"{prefix}-backbone"] = BACKBONE_TITLES.get(st.query_params[f"{prefix}-backbone"])
    url_run = next((r for r in all_runs if r.id == st.query_params.get(f"{prefix}-run")), None)
    default = (url_run or _default(all_runs)).backbone_key
    with st.sidebar:
        key = st.selectbox("Backbone", keys, index=keys.index(default), key=f"{prefix}-backbone", bind="query-params",
                           format_func=lambda k: BACKBONE_TITLES.get(k, k),
                           help="The pretrained network (trained on AudioSet) whose embeddings the models classify: "
                                "EfficientAT mn04 or YAMNet.")
    return [r for r in all_runs if r.backbone_key == key]


def model_choice(run, name: str) -> str:
    """A model as the model box lists it: short name, balanced accuracy, "(best)" for the run's default."""
    best = " (best)" if name == run.default_model and len(run.model_names) > 1 else ""
    spec = run.model(name)
    short = (("fine-tuned + two heads + tags, fused" if spec.get("tag_evidence") else "fine-tuned + two heads, fused")
             if spec.get("second") else MODEL_SHORT.get(name, name))
    return f"{short} · {run.balanced_accuracy(name):.1%}{best}"


def _seed(key: str, param: str, valid: list[str], default: str) -> str | None:
    """Before its selectbox: the state of `key` from ``?param=`` if that names one of `valid`, else `default` (for a
    box drawn for the first time, or whose value is no longer offered). Returns the refused value of the link, if any."""
    refused = None
    if key not in st.session_state:
        linked = st.query_params.get(param)
        if linked is not None and linked not in valid:
            refused = linked
        st.session_state[key] = linked if linked in valid else default
    elif st.session_state[key] not in valid:
        st.session_state[key] = default
    return refused


def _to_url(param: str, value: str, default: str) -> None:
    """The choice in the URL (by id: the names people read may repeat), or nothing while it is the default."""
    urlstate.write_url(param, None if value == default else value)


def pick(all_runs: list, *, prefix: str, header: str | None = None, model_label: str = "Model",
         run_help: str | None = None) -> tuple:
    """Sidebar selectboxes for a run and one of its models, best first. Returns (run, model name)."""
    ordered = runs_mod.best_first(all_runs)
    by_id = {r.id: r for r in ordered}
    default = _default(all_runs).id
    refused = _seed(f"{prefix}-run", f"{prefix}-run", list(by_id), default)
    if refused is not None:
        st.error(f"The link names run {refused[:80]!r}, which is not here; showing the default run instead.")
    with st.sidebar:
        if header:
            st.header(header)
        run_id = st.selectbox("Run", list(by_id), key=f"{prefix}-run", format_func=lambda i: by_id[i].title,
                              help=run_help or "A run is one training session: a task, its folds and its models.")
        run = by_id[run_id]
        _to_url(f"{prefix}-run", run_id, default)
        names = sorted(run.model_names, key=lambda n: (n != run.default_model, -run.balanced_accuracy(n)))
        _seed(f"{prefix}-head", f"{prefix}-head", names, run.default_model)
        name = st.selectbox(model_label, names, key=f"{prefix}-head", format_func=lambda n: model_choice(run, n),
                            help=f"Balanced accuracy in cross-validation ({run.protocol['description']}). "
                                 f"Run id: `{run.id}`.")
        _to_url(f"{prefix}-head", name, run.default_model)
    return run, name

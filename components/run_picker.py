"""The run and model picker in the sidebar, shared by the Classify and Metrics pages.

Both are bound to the URL (``?<prefix>-run=...&<prefix>-head=...``); a link naming a run that is not here
is refused with a message and the default run is shown instead.
"""

from __future__ import annotations

import streamlit as st

from soundlab import runs as runs_mod

BACKBONE_NAMES = {"yamnet": "YAMNet", "efficientat": "EfficientAT mn04"}


def pick_backbone(all_runs: list, *, prefix: str) -> list:
    """A sidebar selectbox of the backbones that have runs (default: the preferred run's; a linked run's if the link
    names one). Returns the runs of the chosen backbone."""
    from soundlab.models.backbone import REGISTRY

    keys = [k for k in REGISTRY if any(r.backbone_key == k for r in all_runs)]
    url_run = next((r for r in all_runs if r.id == st.query_params.get(f"{prefix}-run")), None)
    default = (url_run or runs_mod.preferred(all_runs)).backbone_key
    with st.sidebar:
        key = st.selectbox("Backbone", keys, index=keys.index(default), key=f"{prefix}-backbone", bind="query-params",
                           format_func=lambda k: BACKBONE_NAMES.get(k, k),
                           help="The pretrained network whose embeddings the heads classify.")
    return [r for r in all_runs if r.backbone_key == key]


def pick(all_runs: list, *, prefix: str, header: str | None = None, model_label: str = "Head",
         run_help: str | None = None) -> tuple:
    """Sidebar selectboxes for a run and one of its models. Returns (run, model name)."""
    run_ids = [r.id for r in all_runs]
    url_run = st.query_params.get(f"{prefix}-run")
    if url_run is not None and url_run not in run_ids:
        st.error(f"The link names run {url_run[:80]!r}, which is not here; showing the default run instead.")
    default = runs_mod.preferred(all_runs).id
    with st.sidebar:
        if header:
            st.header(header)
        run_id = st.selectbox("Run", run_ids, index=run_ids.index(default), key=f"{prefix}-run",
                              bind="query-params",
                              help=run_help or "A run is one training session: task, protocol, models.")
        run = runs_mod.find(all_runs, run_id)
        name = st.selectbox(model_label, run.model_names, index=run.model_names.index(run.default_model),
                            key=f"{prefix}-head", bind="query-params")
    return run, name

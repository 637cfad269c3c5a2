"""Metrics › Open set: how often the verdict says "one of the classes" for the run's own clips (nested, out of fold),
the signals' calibration, and the tag map learned from the data."""

from __future__ import annotations

import streamlit as st

from components import loaders, page
from soundlab import predictions
from soundlab.errors import ModelError


def render(view) -> None:
    run = view.run
    if not run.classifies_audio:
        st.info("Models trained from scratch (or fine-tuned) have no open-set check here: the verdict uses a "
                "backbone's AudioSet tags and embeddings. Pick a run of heads on YAMNet or EfficientAT.")
        return
    try:
        summary = predictions.openset_summary(run, view.model, loaders.tag_names(run.backbone_key))
    except ModelError as e:
        st.error(str(e))
        return
    if summary is None:
        st.warning("This run has no open-set calibration yet: `python -m soundlab calibrate` makes one from its "
                   "stored predictions and embeddings.")
        return
    oof, title = summary["oof"], run.task_title
    m1, m2, m3 = st.columns(3)
    m1.metric(f"{title} clips judged one of the classes", f"{oof['in_set']:.1%}",
              help="Out of fold, nested: each fold judged with thresholds and a tag map fitted without it.")
    m2.metric("judged unsure", f"{oof['unsure']:.1%}")
    m3.metric("judged not one of the classes", f"{oof['foreign']:.1%}")
    st.caption(f"Signals (larger = less like {title}) and the value 95% of its clips stay within, out of fold: "
               + "; ".join(f"`{k}` {v:.2f}" for k, v in summary["p95"].items())
               + ". A clip's signals become tail probabilities against these clips; Fisher's combination decides.")
    if learned := summary["foreign_training"]:
        st.caption(f"`foreign_like` takes the place of the embedding distance: a score learned from the {title} clips "
                   f"and the outside recordings of its classes against {learned['recordings']} recordings of other "
                   f"sounds ({page.safe(learned['source'])}, "
                   + (f"split {', '.join(learned['splits'])}" if learned["splits"] else "every split") + ").")
    st.subheader("The tag map, learned from the data")
    st.caption(f"For each class, the AudioSet tags among the top five of at least 15% of its clips. "
               f"{summary['known']} of {summary['n_tags']} tags are produced by some class; a clip whose strongest tags "
               f"are outside them sounds like none of the classes. Generic tags (produced by six classes or more) do "
               f"not count as a class's own: {', '.join(summary['generic'])}.")
    st.dataframe(summary["tag_map"], hide_index=True, height=420)

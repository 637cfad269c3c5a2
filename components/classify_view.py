"""Show a classification result: verdict, bars, categories, timeline, AudioSet tags, diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from components import charts
from soundlab.classify import HOP_S, WINDOW_S


def render_result(res, clf, *, top_k: int, key: str, true_class: str | None = None) -> None:
    top = int(np.argmax(res.probs))
    name = res.class_names[top]
    if res.verdict is not None and not res.verdict.in_set:
        msg = res.verdict.message()
        st.warning(f"**{msg[0].upper() + msg[1:]}.** The closed-set answer would be "
                   f"*{name}* ({res.probs[top]:.0%}); treat it with suspicion.", icon=":material/help:")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Top class", name)
    c2.metric("Probability", f"{res.probs[top]:.1%}")
    c3.metric("Inference time", f"{res.timings_ms['total']:.0f} ms",
              help=f"decode {res.timings_ms['decode']:.1f} ms · {res.tagger} {res.timings_ms['backbone']:.1f} ms · "
                   f"head {res.timings_ms['head']:.1f} ms")
    c4.metric(f"{res.tagger} hears", res.top_tags(1)[0][0])
    if true_class is not None:
        ok = true_class == res.classes[top]
        (st.success if ok else st.error)(
            f"Dataset label: **{true_class.replace('_', ' ')}** — the head is {'right' if ok else 'wrong'}. "
            "(This clip may have been in this run's training data: the deployed head was trained on every "
            "present clip; see the Metrics page for out-of-fold results.)")
    for w in res.warnings:
        st.warning(w)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(charts.probability_bars(res.probs, res.class_names, top_k=top_k), key=f"{key}-bars")
    with right:
        st.plotly_chart(charts.category_bars(res.category_totals(clf.run.targets)), key=f"{key}-cats")
        st.plotly_chart(charts.tag_bars(res.top_tags(5), title=f"{res.tagger}'s AudioSet tags"), key=f"{key}-tags")
        diagnostics(res, clf)
    shown = list(np.argsort(-res.probs)[: max(top_k, 5)])
    if len(res.window_starts) > 1:
        st.plotly_chart(charts.timeline_heatmap(res.window_starts, res.window_probs, res.class_names, classes=shown,
                                                title=f"Timeline: {len(res.window_starts)} windows of {WINDOW_S:g} s, "
                                                      f"every {HOP_S:g} s", span_s=WINDOW_S), key=f"{key}-timeline")
    else:
        frame_s = clf.backbone.params.frame_window_s
        st.plotly_chart(charts.timeline_heatmap(res.frame_starts, res.frame_probs, res.class_names, classes=shown,
                                                title=f"Timeline: each {frame_s:g} s {res.tagger} frame classified on its own",
                                                span_s=frame_s), key=f"{key}-timeline")


def diagnostics(res, clf) -> None:
    d = res.diagnostics
    rows = [
        ("duration", f"{d.duration_s:.2f} s"),
        ("original rate / channels", f"{d.sr} Hz / {d.channels}"),
        ("format", d.format),
        ("peak / RMS level", f"{d.peak_dbfs:.1f} / {d.rms_dbfs:.1f} dBFS"),
        ("clipped samples", f"{d.clipped_share:.2%}"),
        ("near-silent (< -60 dBFS)", f"{d.silent_share:.0%}"),
    ]
    if d.distance is not None:
        rows.append(("distance to nearest training clip",
                     f"{d.distance:.3f} (in-set up to {d.distance_threshold:.3f})" if d.distance_threshold else f"{d.distance:.3f}"))
    st.markdown("**Input diagnostics**")
    st.dataframe(pd.DataFrame(rows, columns=["check", "value"]), hide_index=True)
    if d.out_of_distribution and clf.openset is not None:
        st.warning(f"Out of distribution: this audio is farther from every training clip than "
                   f"{clf.openset.distance_quantile:.0%} of ESC-50 clips are from theirs.", icon=":material/warning:")
    for w in d.warnings:
        st.warning(w, icon=":material/warning:")

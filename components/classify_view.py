"""Show a classification result: verdict, bars, categories, timeline, AudioSet tags, diagnostics."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import lite, loaders, page
from soundlab.classify import HOP_S, WINDOW_S, tag_audio
from soundlab.errors import SoundLabError
from soundlab.models.backbone import REGISTRY


def other_backbones(clf) -> tuple:
    """The loadable backbones other than the classifier's (a caption for each that cannot be loaded)."""
    out = []
    for key in REGISTRY:
        if key != clf.backbone.key:
            try:
                out.append(loaders.backbone(key))
            except SoundLabError as e:
                st.caption(f"{key} unavailable: {e}")
    return tuple(out)


def other_tags(clf, source, *, name: str | None = None, upload_id: str | None = None) -> list[tuple[str, list]]:
    """What the other backbones hear in the same audio: [(backbone's short name, top-5 (tag, score))].

    A file on disk is cached per version; an upload once per session (its id in the key). A backbone that cannot be
    loaded, or audio it cannot read, is left out with a caption saying why.
    """
    out = []
    for bb in other_backbones(clf):
        try:
            if upload_id is None:
                scores = loaders.clip_tags(bb, source)
            else:
                store = st.session_state.setdefault("classify-other-tags", {})
                k = (upload_id, bb.fingerprint)
                if k not in store:
                    store.clear()  # one upload's tags at a time
                    store[k] = tag_audio(bb, source, name=name)
                scores = store[k]
        except SoundLabError as e:
            st.caption(f"{bb.short_name} tags unavailable: {e}")
            continue
        order = np.argsort(-scores)[:5]
        out.append((bb.short_name, [(bb.tag_names[i], float(scores[i])) for i in order]))
    return out


def verdict(res, name: str, title: str = "ESC-50") -> bool:
    """The open-set verdict first, in words, with the signals behind it. Returns True when the sound is judged
    not one of the classes (the bars are then a hypothetical answer)."""
    v = res.verdict
    if v is None:
        return False
    n = len(res.class_names)
    if v.outcome == "in-set":
        what = "An ESC-50 sound" if title == "ESC-50" else f"A sound of {title}"
        st.success(f"**{what}: {name}.** {v.tagger} hears {v.hears}.", icon=":material/check_circle:")
        return False
    head = (f"Not one of the {n} classes" if v.outcome == "foreign" else
            f"Unsure whether this is one of the {n} classes")
    st.warning(f"**{head}.** {v.tagger} hears {v.hears}. If it were one of the {n}, the answer would be *{name}* "
               f"({res.probs.max():.0%}).", icon=":material/help:" if v.outcome == "unsure" else ":material/block:")
    if v.reasons:
        st.markdown("**Why:**\n" + "\n".join(f"- {r.text} — signal `{r.signal}` = {r.value:.2f}, "
                                              f"95% of {title} clips within {r.threshold:.2f}" for r in v.reasons))
    return v.outcome == "foreign"


def render_result(res, clf, *, top_k: int, key: str, true_class: str | None = None,
                  more_tags: list[tuple[str, list]] = ()) -> None:
    top = int(np.argmax(res.probs))
    name = res.class_names[top]
    n, title = len(res.class_names), clf.run.dataset_title
    foreign = verdict(res, name, title)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Top class" if not foreign else f"If it were one of the {n}", name)
    c2.metric("Probability", f"{res.probs[top]:.1%}")
    c3.metric("Inference time", f"{res.timings_ms['total']:.0f} ms",
              help=f"decode {res.timings_ms['decode']:.1f} ms · {res.tagger} {res.timings_ms['backbone']:.1f} ms · "
                   f"{'fine-tuned network + head' if clf.finetuned is not None else 'head'} "
                   f"{res.timings_ms['head']:.1f} ms")
    c4.metric(f"{res.tagger} hears", res.top_tags(1)[0][0])
    if true_class is not None:
        ok = true_class == res.classes[top]
        (st.success if ok else st.error)(
            f"Dataset label: **{true_class.replace('_', ' ')}** — the model is {'right' if ok else 'wrong'}. "
            "(This clip may have been in this run's training data: the deployed model was trained on every "
            "present clip; see the Metrics page for out-of-fold results.)")
    for w in res.warnings:
        st.warning(w)
    left, right = st.columns([3, 2])
    # SVG in markdown, not plotly or st.html: the answer shows with the page's title (components.page.chart)
    with left:
        page.chart(lite.probability_bars(res.probs, res.class_names, top_k=top_k, greyed=foreign,
                                         title=f"If it were one of the {n}: class probabilities" if foreign
                                         else "Class probabilities"))
    with right:
        if len(clf.run.category_names) > 1:  # a dataset without categories has nothing to sum
            page.chart(lite.category_bars(res.category_totals(clf.run.categories, clf.run.category_names)))
        page.chart(lite.tag_bars(res.top_tags(5), title=f"{res.tagger}'s AudioSet tags"))
        for tagger, tags in more_tags:
            page.chart(lite.tag_bars(tags, title=f"{tagger}'s AudioSet tags (another backbone)"))
        diagnostics(res, clf)
    shown = list(np.argsort(-res.probs)[: max(top_k, 5)])
    if len(res.window_starts) > 1:
        st.html(lite.timeline(res.window_starts, res.window_probs, res.class_names, classes=shown,
                              title=f"Timeline: {len(res.window_starts)} windows of {WINDOW_S:g} s, every {HOP_S:g} s",
                              span_s=WINDOW_S, silent=res.window_silent))
    else:
        frame_s = clf.backbone.params.frame_window_s
        st.html(lite.timeline(res.frame_starts, res.frame_probs, res.class_names, classes=shown,
                              title=f"Timeline: each {frame_s:g} s {res.tagger} frame classified on its own "
                                    "(near-silent frames, or frames heard as Silence, shown as silence)",
                              span_s=frame_s, silent=res.frame_silent))


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
        rows.append(("distance to the nearest training clip of the top class",
                     f"{d.distance:.3f} (95% of {clf.run.dataset_title} clips within {d.distance_threshold:.3f})"))
    # a markdown table, not a data grid: the grid made every new visitor's browser start its JavaScript first
    st.markdown("**Input diagnostics**\n\n" + page.markdown_table(rows, ("check", "value")))
    for w in d.warnings:
        st.warning(w, icon=":material/warning:")

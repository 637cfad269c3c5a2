"""Show a classification result to someone who does not read code: the answer in one large line of plain words, the
bars under it, and the why, the signals and the input diagnostics one click away."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import clip_view, loaders, memo, page, pictures
from soundlab.classify import HOP_S, QUIET_DBFS, SOUNDING_DB, WINDOW_S, tag_audio
from soundlab.data.dataset import class_name_of, sound_of
from soundlab.errors import SoundLabError
from soundlab.models.backbone import REGISTRY
from soundlab.openset import SIGNALS

SIGNAL_NAMES = {"confidence": "how unsure the model is (1 − top probability)", "distance": "unlike the training clips of its answer",
                "novelty": "sounds no class makes", "support": "missing the usual sounds of its answer (1 − their strength)",
                "speech_music": "speech or music",
                "foreign_like": "like the sounds it was shown as none of the classes"}


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


def other_tags(clf, source, *, name: str | None = None, upload_id: str | None = None,
               heard: dict | None = None) -> list[tuple[str, list]]:
    """What the other backbones hear in the same audio: [(backbone's short name, top-5 (tag, score))].

    `heard` holds tags the classification already has (`Result.more_tags`: a fused model's second backbone heard the
    audio too), used as they are. Others: a file on disk is cached per version; an upload once per session
    (`components.memo`). A backbone that cannot be loaded, or audio it cannot read, is left out with a caption.
    """
    out = []
    for bb in other_backbones(clf):
        try:
            if heard and bb.short_name in heard:
                scores = heard[bb.short_name]
            elif upload_id is None:
                scores = loaders.clip_tags(bb, source)
            else:
                with st.spinner(f"Listening with {bb.short_name} too ..."):
                    scores = memo.one("classify-other-tags", (upload_id, bb.fingerprint),
                                      lambda bb=bb: tag_audio(bb, source, name=name))
        except SoundLabError as e:
            st.caption(f"{bb.short_name} tags unavailable: {e}")
            continue
        order = np.argsort(-scores)[:5]
        out.append((bb.short_name, [(bb.tag_names[i], float(scores[i])) for i in order]))
    return out


def out_of_fold(run, head: str, row) -> None:
    """What the model answered for this clip when it had never heard it (its out-of-fold prediction)."""
    oof = loaders.oof_row(run, head, row["filename"])
    if oof is None:
        return
    st.info(f"When this clip was held out (in {clip_view.fold_words(oof['fold'], row['fold'])}), the model said "
            f"**{class_name_of(oof['pred_class'])}** ({oof['confidence']:.0%}); the label is "
            f"**{class_name_of(oof['true_class'])}**.", icon=":material/science:")


def headline(res, clf) -> bool:
    """The answer in one large line of plain words, and a line under it. Returns True when the sound is judged not one
    of the classes (the bars are then what it would be if it had to be one)."""
    top = int(np.argmax(res.probs))
    cls, p = res.classes[top], float(res.probs[top])
    n, title, v = len(res.class_names), clf.run.task_title, res.verdict
    heard = (v.heard if v is not None and v.heard else res.top_tags(1)[0][0])
    if v is None or v.outcome == "in-set":
        st.markdown(f"## {page.safe(sound_of(cls))} — {p:.0%}")
        note = (f"One of the {n} {title} sounds: **{page.safe(class_name_of(cls))}**. "
                f"{res.tagger} hears {page.safe(heard.lower())}.")
        if v is None:
            note += " (This model has no check for sounds outside its classes.)"
        st.caption(note)
        return False
    if v.outcome == "silence":
        st.markdown("## Silence — nothing loud enough to classify")
        st.caption(f"The recording stays below {QUIET_DBFS:.0f} dBFS all through. Were it one of the {n} {title} "
                   f"sounds, the model would say {page.safe(class_name_of(cls))} ({p:.0%}).")
        return True
    if v.outcome == "foreign":
        st.markdown(f"## Not one of the {n} sounds: {page.safe(heard.lower())}")
    else:
        st.markdown(f"## Unsure — perhaps {page.safe(sound_of(cls).lower())} ({p:.0%})")
    st.caption(f"{res.tagger} hears {page.safe(v.hears)}. If it had to be one of the {n} {title} sounds: "
               f"**{page.safe(class_name_of(cls))}** ({p:.0%}).")
    if v.reasons:
        st.markdown("\n".join(f"- {page.safe(r.text[0].upper() + r.text[1:])}." for r in v.reasons[:3]))
    return v.outcome == "foreign"


def render_result(res, clf, *, top_k: int, key: str, true_class: str | None = None,
                  more_tags: list[tuple[str, list]] = ()) -> None:
    foreign = headline(res, clf)
    n = len(res.class_names)
    if true_class is not None:
        ok = true_class == res.classes[int(np.argmax(res.probs))]
        (st.success if ok else st.error)(
            f"The dataset says **{class_name_of(true_class)}**: the model is {'right' if ok else 'wrong'}. (The "
            "deployed model was trained on every clip of the dataset, this one too; the Metrics page has each clip's "
            "answer from a model that never heard it.)")
    for w in res.warnings:
        st.warning(w)
    left, right = st.columns([3, 2])
    # SVG in markdown, not plotly or st.html: the answer shows with the page's title (components.page.chart)
    with left:
        page.chart(pictures.probability_bars(res.probs, res.class_names, top_k=top_k, greyed=foreign,
                                         title=f"If it were one of the {n}: class probabilities" if foreign
                                         else "Class probabilities"))
    with right:
        if len(clf.run.category_names) > 1:  # a dataset without categories has nothing to sum
            page.chart(pictures.category_bars(res.category_totals(clf.run.categories, clf.run.category_names)))
        page.chart(pictures.tag_bars(res.top_tags(5), title=f"{res.tagger}'s AudioSet tags"))
        for tagger, tags in more_tags:
            page.chart(pictures.tag_bars(tags, title=f"{tagger}'s AudioSet tags (another backbone)"))
    timeline(res, clf, top_k=top_k)
    with st.expander("Why, and the details: signals, timings, the input", icon=":material/info:"):
        details(res, clf)


def timeline(res, clf, *, top_k: int) -> None:
    shown = list(np.argsort(-res.probs)[: max(top_k, 5)])
    n = len(res.window_starts)
    if n > 1:
        starts = res.window_starts
        regular = np.allclose(np.diff(starts), HOP_S, atol=1e-3)
        note = (f"each column a {WINDOW_S:g} s window, one every {HOP_S:g} s" if regular else
                f"each column a {WINDOW_S:g} s window, one every {HOP_S:g} s; the last one ends with the audio")
        counted = int(res.window_counted.sum())
        if counted < n:
            note += (f"; the answer pools the {counted} window{'s' if counted != 1 else ''} within "
                     f"{SOUNDING_DB:g} dB of the loudest, where the sound is")
        st.html(pictures.timeline(starts, res.window_probs, res.class_names, classes=shown,
                              title=f"Timeline: {n} windows of {WINDOW_S:g} s", span_s=WINDOW_S,
                              silent=res.window_silent, note=note))
    else:
        p = clf.backbone.params
        st.html(pictures.timeline(res.frame_starts, res.frame_probs, res.class_names, classes=shown,
                              title=f"Timeline: each {p.frame_window_s:g} s {res.tagger} frame on its own",
                              span_s=p.frame_window_s, silent=res.frame_silent,
                              note=f"a frame every {p.frame_hop_s:g} s; near-silent frames drawn as silence"))


def details(res, clf) -> None:
    """The open-set signals with their numbers, timings and input diagnostics (for those who ask)."""
    v, title = res.verdict, clf.run.task_title
    t = res.timings_ms
    what = "fine-tuned network + head" if clf.finetuned is not None else "head"
    st.markdown(f"**Model:** {page.safe(clf.run.model_title(clf.kind))} (run `{clf.run.id}`). "
                f"**Time:** {t['total']:.0f} ms (decode {t['decode']:.1f} · {res.tagger} {t['backbone']:.1f} · "
                f"{what} {t['head']:.1f} ms).")
    if v is not None and v.values:
        flagged = {r.signal for r in v.reasons}
        rows = [(f"{SIGNAL_NAMES[s]}{' ⚑' if s in flagged else ''}", f"{value:.2f} (95% of {title} clips: "
                 f"at most {threshold:.2f})")
                for s, value, threshold in zip(SIGNALS, v.values, v.thresholds, strict=True) if s in v.used]
        st.markdown(f"**Is it one of the {len(res.class_names)}?** {v.outcome}. The signals behind that answer "
                    f"(⚑: beyond what 95% of the {title} clips show):\n\n"
                    + page.markdown_table(rows, ("signal", "this sound")))
    diagnostics(res, clf)


def diagnostics(res, clf) -> None:
    d = res.diagnostics
    rows = [
        ("duration", f"{d.duration_s:.2f} s"),
        ("original rate / channels", f"{d.sr} Hz / {d.channels}"),
        ("format", d.format),
        ("peak / RMS level (of the file)", f"{d.peak_dbfs:.1f} / {d.rms_dbfs:.1f} dBFS"),
        ("clipped samples", f"{d.clipped_share:.2%}"),
        ("near-silent (< -60 dBFS)", f"{d.silent_share:.0%}"),
    ]
    # a markdown table, not a data grid: the grid made every new visitor's browser start its JavaScript first
    st.markdown("**Input diagnostics**\n\n" + page.markdown_table(rows, ("check", "value")))
    for w in d.warnings:
        st.warning(w, icon=":material/warning:")

"""Classify a sound: a dataset clip, an upload, a recording, or the live microphone."""

import streamlit as st

from components import classify_view, loaders, page, run_picker, search_view, uploads, urlstate
from soundlab import audio
from soundlab.errors import ModelError, SoundLabError

settings = page.start("Classify · SoundLab", "👂")
st.title("Classify a sound")

all_runs = loaders.runs_with_warnings(classifies_audio=True)  # from-scratch runs are compared on the Metrics page
if not all_runs:
    st.warning(f"No trained classifier found in `{settings.artifacts_dir / 'runs'}`. Train one with "
               "`python -m soundlab train` (it uses the clips on disk), or restore the shipped runs with "
               "`git checkout model_artifacts/`.")
    st.stop()

# ---- model choice -----------------------------------------------------------------------------
with st.sidebar:
    st.header("Model")
run, head = run_picker.pick(run_picker.pick_backbone(all_runs, prefix="classify"), prefix="classify")
with st.sidebar:
    cv = run.model(head)["cv"]
    st.caption(f"{run.task.upper()}, {len(run.classes)} classes. Cross-validated accuracy of this "
               f"{'fused model' if run.is_fused(head) else 'head'}: "
               f"**{cv['accuracy']:.1%}**, balanced {run.balanced_accuracy(head):.1%} (top-3 {cv['top3_accuracy']:.1%}) "
               f"— {run.protocol['description']}.")
    # in a popover, like Explore's and Transcribe's settings: its slider reaches the browser only once it is opened
    # (as a plain sidebar slider it made every new visitor's browser fetch and start the slider's code before the
    # bars showed: 0.07-0.15 s of the page's time in three A/B pairs, bench/bench_pages.py)
    with st.popover("Display", icon=":material/tune:", width="stretch"):
        top_k = st.slider("Highlight the top k", 1, 10, 5, key="classify-topk")
    st.caption(f"The top {top_k} classes highlighted.")

try:
    bb = loaders.backbone(run.backbone_key)
    clf = loaders.classifier(run, head, bb)
except ModelError as e:
    st.error(str(e))
    st.stop()

source = st.segmented_control("Source", ["Dataset clip", "Upload", "Record", "Live microphone"],
                              default="Dataset clip", required=True, key="classify-source", bind="query-params")
limits = settings.audio_limits


def classify_upload(upload, tag: str):
    """Classify an uploaded or recorded file once per (file, run, head); errors become messages."""
    cache_key = ("classify-result", tag, upload.file_id, run.id, head, bb.fingerprint)
    store = st.session_state.setdefault("classify-results", {})
    if cache_key not in store:
        from soundlab.classify import classify_audio

        try:
            with st.spinner(f"Classifying {page.safe(upload.name)} ..."):
                store.clear()  # keep one result: uploads can be large
                store[cache_key] = classify_audio(clf, upload, name=upload.name, limits=limits,
                                                  max_duration_s=settings.max_classify_s)
        except SoundLabError as e:
            store[cache_key] = e
    return store[cache_key]


if source == "Dataset clip":
    status = loaders.dataset_status()
    ds = status.dataset
    if ds is None:
        st.error(f"No dataset or sample available: {status.problem}")
        st.stop()
    st.caption(f"Clips from the {ds.describe()}.")
    present = ds.present
    names = dict(zip(present["filename"], present["class_name"]))
    # ?clip= opens a given clip (a link from Explore or Metrics, or one to share); a bad name is refused in one line
    urlstate.seed_clip("classify-clip", "clip", ds)
    clip = st.selectbox("Clip", list(names), index=0, key="classify-clip", format_func=lambda f: f"{f} · {names[f]}")
    urlstate.write_url("clip", clip)
    row = ds.clip(clip)
    try:
        path = ds.clip_path(clip)
        st.audio(str(path), format=audio.mime_type(path))
        res = loaders.classify_file(clf, path)
    except SoundLabError as e:
        st.error(str(e))
        st.stop()
    oof = loaders.oof_row(run, head, clip)
    if oof is not None:
        st.info(f"Out of fold (this clip held out, fold {oof['fold']}): the {head} "
                f"{'model' if run.is_fused(head) else 'head'} predicted "
                f"**{oof['pred_class'].replace('_', ' ')}** ({oof['confidence']:.0%}); the label is "
                f"**{oof['true_class'].replace('_', ' ')}**.", icon=":material/science:")
    classify_view.render_result(res, clf, top_k=top_k, key="classify-res",
                                true_class=row["category"] if row["category"] in clf.classes else None,
                                more_tags=classify_view.other_tags(clf, path))
    if st.toggle("Find clips that sound like this", key="classify-similar", bind="query-params",
                 help="The nearest dataset clips in this backbone's embedding space, playable."):
        search_view.similar_to_sound(ds, run, res.sound_embedding, key="classify-similar", exclude=clip)

elif source in ("Upload", "Record"):
    if source == "Upload":
        upload = uploads.audio_uploader("Audio file (wav, flac, ogg, mp3)", key="classify-upload",
                                        help=f"Up to {settings.max_classify_s / 60:.0f} minutes; longer audio is "
                                             "classified in 5 s windows.")
    else:
        upload = st.audio_input("Record a sound", key="classify-record")
    if upload is None:
        st.caption("Waiting for audio.")
        st.stop()
    if source == "Upload":
        st.audio(upload)
    result = classify_upload(upload, source)
    if isinstance(result, SoundLabError):
        st.error(page.safe(result))
        st.stop()
    classify_view.render_result(result, clf, top_k=top_k, key="classify-res",
                                more_tags=classify_view.other_tags(clf, upload, name=upload.name,
                                                                   upload_id=upload.file_id))
    if st.toggle("Find clips that sound like this", key="classify-similar", bind="query-params",
                 help="The nearest dataset clips in this backbone's embedding space, playable."):
        search_view.similar_to_sound(loaders.dataset_status().dataset, run, result.sound_embedding,
                                     key="classify-similar")

else:
    from components import mic

    hop = bb.params.frame_hop_s
    windows = [round(k * hop, 2) for k in (2, 3, 4)]
    c1, c2 = st.columns(2)
    smoothing = c1.slider("Smoothing", 0.0, 0.9, 0.5, 0.1, key="classify-smoothing",
                          help="Exponential moving average over updates: 0 = each window on its own.")
    window_s = c2.select_slider("Window", options=windows, value=windows[-1], key="classify-window",
                                help=f"Seconds of audio classified at each update (every {hop:g} s).")
    mic.live_panel(clf, key="classify-live", ice_servers=settings.ice_servers, smoothing=smoothing,
                   window_s=window_s, top_k=top_k, others=classify_view.other_backbones(clf))

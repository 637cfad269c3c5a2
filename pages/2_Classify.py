"""Classify a sound: a dataset clip, an example, an upload, a recording, or the live microphone."""

import streamlit as st

from components import classify_view, clip_view, loaders, memo, page, run_picker, search_view, uploads, urlstate
from soundlab.classify import classify_audio
from soundlab.data.sample import examples
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
    st.caption(f"**{page.safe(run.model_title(head))}** names {len(run.classes)} classes. In cross-validation on "
               f"{run.task_title} it was right {cv['accuracy']:.1%} of the time ({run.balanced_accuracy(head):.1%} "
               f"per class on average; the right class in its top 3: {cv['top3_accuracy']:.1%}).")
    # a popover: its slider reaches the browser only once it is opened (bench/RESULTS.md, Classify)
    with st.popover("Display", icon=":material/tune:", width="stretch"):
        top_k = st.slider("Highlight the top k", 1, 10, 5, key="classify-topk")
    st.caption(f"The top {top_k} classes highlighted.")

try:
    bb = loaders.backbone(run.backbone_key)
    clf = loaders.classifier(run, head, bb)
except ModelError as e:
    st.error(str(e))
    st.stop()

source = st.segmented_control("Source", ["Dataset clip", "Examples", "Upload", "Record", "Live microphone"],
                              default="Dataset clip", required=True, key="classify-source", bind="query-params")


def classify_sound(audio, tag: str):
    """Classify an upload or a recording once (one result per session); a progress bar for long audio."""
    def compute():
        bar = st.progress(0.0, text=f"Listening to {page.safe(audio.name)} ...")
        try:
            return classify_audio(clf, audio, name=audio.name, limits=settings.classify_limits,
                                  progress=lambda done, total: bar.progress(min(done / total, 1.0),
                                                                            text=f"{done / total:.0%} listened to"))
        finally:
            bar.empty()

    return memo.one("classify-result", (tag, audio.file_id, run.id, head, bb.fingerprint), compute)


if source in ("Dataset clip", "Examples"):
    if source == "Dataset clip":
        status = loaders.dataset_status()
        ds = status.dataset
        if ds is None:
            st.error(f"No dataset or sample available: {status.problem}")
            st.stop()
        st.caption(f"Clips from the {ds.describe()}.")
        names = dict(zip(ds.present["filename"], ds.present["class_name"]))
        # ?clip= opens a given clip (a link from Explore or Metrics, or one to share); a bad name is refused in one line
        urlstate.seed_clip("classify-clip", "clip", ds)
        clip = st.selectbox("Clip", list(names), index=0, key="classify-clip",
                            format_func=lambda f: f"{f} · {names[f]}")
        urlstate.write_url("clip", clip)
        row = ds.clip(clip)
        path = None
    else:
        sounds = examples(settings.sample_root)
        if not sounds:
            st.error(f"The example sounds are missing from `{settings.sample_root}`: restore them with "
                     "`git checkout sample/`.")
            st.stop()
        label = st.pills("Try one of these", list(sounds), default=list(sounds)[0], key="classify-example",
                         required=True)
        ds = row = clip = None
        path = sounds[label]
    try:
        path = path or ds.clip_path(clip)
        res = loaders.classify_file(clf, path)
    except SoundLabError as e:
        st.error(str(e))
        st.stop()
    clip_view.play_file(path)
    if row is not None:
        classify_view.out_of_fold(run, head, row)
    classify_view.render_result(res, clf, top_k=top_k, key="classify-res",
                                true_class=row["category"] if row is not None and row["category"] in clf.classes
                                else None, more_tags=classify_view.other_tags(clf, path, heard=res.more_tags))
    if ds is not None and st.toggle("Find clips that sound like this", key="classify-similar", bind="query-params",
                                    help="The nearest dataset clips in this backbone's embedding space."):
        search_view.similar_to_sound(ds, run, res.sound_embedding, key="classify-similar", exclude=clip)

elif source in ("Upload", "Record"):
    if source == "Upload":
        audio = uploads.audio_uploader("Audio file", key="classify-upload",
                                       help=f"Up to {settings.max_classify_s / 60:.0f} minutes; longer audio is "
                                            "classified in 5 s windows.")
    else:  # at the browser's own rate: a 16 kHz recording would lose what EfficientAT hears above 8 kHz
        audio = st.audio_input("Record a sound", key="classify-record", sample_rate=None,
                               help="Hold the microphone close to the sound: a room's echo makes the model miss far "
                                    "more often.")
    if audio is None:
        st.caption("Waiting for audio. No file at hand? The *Examples* source has sounds to try with one click.")
        st.stop()
    try:
        result = classify_sound(audio, source)
    except SoundLabError as e:  # no player for audio that cannot be decoded
        st.error(page.safe(e))
        st.stop()
    if source == "Upload":
        st.audio(audio)
    classify_view.render_result(result, clf, top_k=top_k, key="classify-res",
                                more_tags=classify_view.other_tags(clf, audio, name=audio.name,
                                                                   upload_id=audio.file_id,
                                                                   heard=result.more_tags))
    if st.toggle("Find clips that sound like this", key="classify-similar", bind="query-params",
                 help="The nearest dataset clips in this backbone's embedding space."):
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

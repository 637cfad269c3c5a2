"""Transcribe speech with Whisper: upload, recording or dataset clip; segments, language, exports."""

import os

import pandas as pd
import streamlit as st

from components import loaders, page, selection, uploads
from soundlab import audio
from soundlab.asr import engines, gate, longform, subtitles
from soundlab.errors import ModelError, SoundLabError

settings = page.start("Transcribe · SoundLab", "🗣️")
st.title("Transcribe speech")

LANGUAGES = {"auto": "detect", **engines.languages()}

with st.sidebar:
    st.header("Model")
    engine_name = st.selectbox("Engine", list(engines.ENGINES), key="transcribe-engine", bind="query-params",
                               index=list(engines.ENGINES).index(settings.whisper_engine)
                               if settings.whisper_engine in engines.ENGINES else 0,
                               help="transformers runs any Whisper checkpoint; faster-whisper (CTranslate2, int8) "
                                    "is about twice as fast on a CPU and needs a CTranslate2 model.")
    language = st.selectbox("Language", list(LANGUAGES), format_func=LANGUAGES.get, key="transcribe-language")
    # the settings one rarely changes sit in a popover: its widgets reach the browser only once it is opened
    # (bench/RESULTS.md: "Why Transcribe's settings sit in a popover")
    with st.popover("Model, task and chunks", icon=":material/tune:", width="stretch"):
        model = st.text_input("Model (hub id or local folder)", value=settings.whisper_model, key="transcribe-model",
                              help="e.g. distil-whisper/distil-large-v3, openai/whisper-base, or /path/to/whisper-folder")
        task = st.radio("Task", ["transcribe", "translate"], horizontal=True, key="transcribe-task",
                        help="translate: speech in any language to English text (multilingual models only)")
        chunk_s = st.slider("Chunk length (s)", 10, 30, int(min(max(settings.whisper_chunk_s, 10), 30)),
                            key="transcribe-chunk",
                            help="The transformers engine. faster-whisper decodes the whole audio in its own 30 s "
                                 "windows, each starting where the last complete sentence ended.")
        stride_s = st.slider("Cut in a pause within each chunk's last (s)", 0, 10,
                             int(min(max(settings.whisper_stride_s, 0), 10)), key="transcribe-stride",
                             help="Chunks do not overlap; each cut is placed in a pause near the chunk's end.")
        stride_s = min(stride_s, chunk_s / 2 - 0.5)
    parts = "its own 30 s windows" if engines.decodes_in_own_windows(engine_name) else f"{chunk_s} s chunks"
    st.caption(f"Model {page.safe(model)} · {task} · {parts}")  # typed text: shown as typed

source = st.segmented_control("Source", ["Upload", "Record", "Dataset clip"], default="Upload", required=True,
                              key="transcribe-source", bind="query-params")
limits = settings.transcribe_limits
if source == "Upload":
    upload = uploads.audio_uploader("Audio with speech", key="transcribe-upload")
    data, name, audio_id = (upload, upload.name, upload.file_id) if upload is not None else (None, None, None)
elif source == "Record":
    rec = st.audio_input("Record speech", key="transcribe-record")
    data, name, audio_id = (rec, "recording.wav", rec.file_id) if rec is not None else (None, None, None)
else:
    ds = loaders.dataset_status().dataset
    if ds is None:
        st.error("No dataset or sample available.")
        st.stop()
    names = dict(zip(ds.present["filename"], ds.present["class_name"]))
    clip = st.selectbox("Clip", list(names), key="transcribe-clip", format_func=lambda f: f"{f} · {names[f]}")
    try:
        path = str(ds.clip_path(clip))
    except SoundLabError as e:
        st.error(page.safe(e))
        st.stop()
    data, name, audio_id = path, clip, f"{path}:{os.stat(path).st_mtime_ns}"
if data is None:
    st.caption("Waiting for audio.")
    st.stop()

try:
    clip_audio = audio.load(data, sr=longform.SAMPLE_RATE, name=name, limits=limits)
except SoundLabError as e:
    st.error(page.safe(e))
    st.stop()

# speech gate: YAMNet's Speech score, so a dog bark is not "transcribed" into made-up words
checked = None
try:
    checked = gate.speech_gate(clip_audio.y, loaders.backbone())
except ModelError as e:
    st.warning(f"Speech check unavailable ({e}); transcribing without it.")
if checked is not None and not checked.passed:
    st.warning(checked.message(), icon=":material/hearing_disabled:")
    if not st.checkbox("Transcribe anyway", key="transcribe-force"):
        st.stop()

try:
    engine = loaders.whisper(engine_name, model.strip())
except (ModelError, SoundLabError) as e:
    st.error(page.safe(e))
    st.stop()

key = (audio_id, engine_name, model, language, task, chunk_s, stride_s)
store = st.session_state.setdefault("transcribe-results", {})
if key not in store:
    bar = st.progress(0.0, text=f"Transcribing {page.safe(name)} with {page.safe(model)} ...")
    try:
        result = longform.transcribe(engine, clip_audio.y, language=None if language == "auto" else language,
                                       task=task, chunk_length_s=float(chunk_s), stride_s=float(stride_s),
                                       progress=lambda i, n: bar.progress(min(i / max(n, 1), 1.0),
                                                                          text=f"{i / max(n, 1):.0%} done"))
    except SoundLabError as e:
        bar.empty()
        st.error(page.safe(e))
        st.stop()
    bar.empty()
    store.clear()  # keep one result per session
    store[key] = result
    st.session_state.pop("transcribe-segment", None)  # a segment of the previous transcript is not one of this
result = store[key]

c1, c2, c3, c4 = st.columns(4)
lang = result.language or "?"
if result.language_unsure:
    c1.metric("Language", LANGUAGES.get(lang, lang), delta="unsure from the sound alone", delta_color="off",
              help="The candidates, with the detection probability and the mean log-probability of their transcript: "
                   + "; ".join(f"{LANGUAGES.get(c, c)} {p:.0%} ({lp:.2f})" for c, p, lp in result.language_candidates))
else:
    c1.metric("Language", LANGUAGES.get(lang, lang),
              help="detected by the model" if result.language_probability else None,
              delta=f"{result.language_probability:.0%} sure" if result.language_probability is not None else None,
              delta_color="off")
c2.metric("Speech", f"{checked.share:.0%}" if checked else "n/a", help="share of YAMNet frames that are speech")
c3.metric("Time taken", f"{result.seconds:.1f} s", help=f"for {result.duration_s:.1f} s of audio in {result.chunks} {result.chunk_kind}")
c4.metric("Real-time factor", f"{result.real_time_factor:.3f}", help="processing time / audio duration")
for note in result.notes:
    st.info(note)
st.text_area("Transcript", result.text or "(no words recognised)", height=160, key=f"transcribe-text-{hash(key)}")

table = pd.DataFrame([{"start": s.start_s, "end": s.end_s, "text": s.text} for s in result.segments])
if len(table):
    st.markdown("**Segments** — select one to play from its start")
    selection.choice_table(table, key="transcribe-segments", value_column="start", choice_key="transcribe-segment",
                           hide_index=True, height=min(35 * (len(table) + 1) + 3, 320),
                           column_config={"start": st.column_config.NumberColumn(format="%.2f s"),
                                          "end": st.column_config.NumberColumn(format="%.2f s")})
start_at = st.session_state.get("transcribe-segment")
start_at = float(start_at) if start_at in set(table.get("start", [])) else 0.0
st.audio(data, format=audio.mime_type(name), start_time=start_at, autoplay=start_at > 0)

stem = name.rsplit(".", 1)[0]
d1, d2, d3, d4 = st.columns(4)
for col, fmt_name, mime in ((d1, "txt", "text/plain"), (d2, "srt", "application/x-subrip"), (d3, "vtt", "text/vtt"),
                            (d4, "json", "application/json")):
    col.download_button(f"Download .{fmt_name}", subtitles.export(result, fmt_name).encode("utf-8"),
                        file_name=f"{stem}.{fmt_name}", mime=mime, key=f"transcribe-dl-{fmt_name}")

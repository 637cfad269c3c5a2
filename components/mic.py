"""Live microphone: `webrtc_streamer` in, a rolling-window classification redrawn on the page.

The WebRTC worker thread calls `_on_frame` for every 20 ms audio frame; it only puts the samples
on a `queue.Queue` (no `st.*` call there). The page's script loop drains the queue, feeds
`soundlab.live.LiveClassifier`, and redraws the bars and a short scrolling timeline.
"""

from __future__ import annotations

import queue
import time

import numpy as np
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from components import page, pictures
from soundlab import live

AUDIO_CONSTRAINTS = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}


def _queue(key: str) -> queue.Queue:
    name = f"{key}-queue"
    if name not in st.session_state:
        st.session_state[name] = queue.Queue(maxsize=2000)  # 40 s of 20 ms frames
    return st.session_state[name]


def make_callback(q: queue.Queue):
    """The audio frame callback: runs in the WebRTC worker thread, hands samples to `q`."""

    def on_frame(frame):
        arr = live.frame_samples(frame.to_ndarray(), planar=frame.format.is_planar,
                                 channels=len(frame.layout.channels))
        try:
            q.put_nowait((arr, frame.sample_rate, time.monotonic()))
        except queue.Full:  # the page is not draining (e.g. rerunning); drop rather than block audio
            pass
        return frame

    return on_frame


def live_panel(clf, *, key: str, ice_servers: list, smoothing: float, window_s: float, top_k: int,
               max_seconds: float | None = None, others: tuple = ()) -> None:
    """Start/stop control plus live bars and timeline, redrawn while the microphone streams."""
    q = _queue(key)
    ctx = webrtc_streamer(
        key=key,
        mode=WebRtcMode.SENDONLY,
        audio_frame_callback=make_callback(q),
        rtc_configuration={"iceServers": ice_servers},
        media_stream_constraints={"video": False, "audio": AUDIO_CONSTRAINTS},
        async_processing=True,
        audio_receiver_size=64,
    )
    status = st.empty()
    top_line = st.empty()
    bars = st.empty()
    timeline = st.empty()
    kept = st.session_state.setdefault(f"{key}-kept", {"headline": None, "history": []})
    if not ctx.state.playing:
        status.info("Press START to stream the microphone. The page classifies the last "
                    f"{window_s:.2f} s every {clf.backbone.params.frame_hop_s:g} s. "
                    "(Your browser asks for microphone access.) Hold the microphone close to the sound: "
                    "a room's echo makes the model miss far more often.")
        if kept["headline"]:  # what was heard before STOP stays readable
            top_line.markdown(f"**Last heard:**\n{kept['headline']}")
            bars.markdown("**Recent answers** (newest first)\n\n" + page.markdown_table(
                [(f"{t:.1f} s", what) for t, what in reversed(kept["history"])], ("time", "answer")))
        return

    stream = live.for_classifier(clf, window_s=window_s, smoothing=smoothing, others=others)
    other_names = {bb.short_name: bb.tag_names for bb in others}
    names = clf.class_names
    tags = clf.backbone.tag_names
    hop = clf.backbone.params.frame_hop_s
    kept["headline"], kept["history"] = None, []
    status.caption("Listening ...")
    started = time.monotonic()
    while ctx.state.playing:
        while True:
            try:
                arr, sr, arrival = q.get_nowait()
            except queue.Empty:
                break
            stream.push(arr, sr, arrival)
        update = None
        while stream.ready():
            update = stream.step()
        if update is not None:
            top = int(np.argmax(update.probs))
            tag = int(np.argmax(update.audioset))
            heard = "".join(f" · {name} hears {other_names[name][int(np.argmax(t))]}"
                            for name, t in update.other_tags.items())
            answer = {"silence": "(silence)",
                      "foreign": f"Not one of the {len(names)} — {clf.backbone.short_name} hears {tags[tag]}",
                      "unsure": f"Unsure — perhaps {names[top]} ({update.probs[top]:.0%})",
                      }.get(update.shown, f"{names[top]} — {update.probs[top]:.0%}")
            kept["headline"] = (f"### {answer}\n{clf.backbone.short_name} hears {tags[tag]}{heard} · level "
                                f"{update.level_dbfs:.0f} dBFS · latency {update.latency_s * 1000:.0f} ms")
            if not kept["history"] or kept["history"][-1][1] != answer:
                kept["history"] = (kept["history"] + [(update.time_s, answer)])[-10:]
            top_line.markdown(kept["headline"])
            hypothetical = update.shown in ("foreign", "silence")
            bars.markdown(page.chart_markdown(pictures.probability_bars(
                update.probs, names, top_k=top_k, limit=12, greyed=hypothetical,
                title=f"If it were one of the {len(names)} (top 12)" if hypothetical else
                "Live class probabilities (top 12)")))
            hist = list(stream.history)
            probs = np.stack([h.probs for h in hist])
            shown = list(np.argsort(-probs.mean(axis=0))[:8])
            starts = np.maximum(np.array([h.time_s for h in hist]) - window_s, 0.0)  # the first windows were shorter
            timeline.html(pictures.timeline(starts, probs, names, classes=shown, title="Recent windows", span_s=window_s,
                                        silent=np.array([h.silent for h in hist]),
                                        note=f"seconds since START; a {window_s:.2f} s window about every {hop:.2f} s"))
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
        time.sleep(0.05)

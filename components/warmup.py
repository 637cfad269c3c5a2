"""Warm the libraries the pages need, and the Classify page's default model, in a background thread, when the server
starts (`scripts/serve.py`).

A page's first visit after a start would pay for first uses that have nothing to do with the visitor: librosa's first
spectrogram (its lazily loaded submodules and numba), scikit-learn's metrics, cleanlab, plotly's first figure. Done once
per process before anyone asks, that time is not a visitor's. Python's import lock makes it safe: a page that needs a
module while it is being imported here waits for it, as it would have waited importing it itself.

Last, the Classify page's default model is loaded into the page's own caches (`components.loaders`): TensorFlow, torch,
the preferred run's backbone and head, and the other backbones whose tags the page shows; the first visitor of Classify
does not wait for them (bench/RESULTS.md: "Why the server warms up at start"). A visitor who opens Classify while it
loads waits for this load (Streamlit's cache computes a value once). SOUNDLAB_WARMUP=libraries skips it (a server where
nobody classifies keeps the memory), SOUNDLAB_WARMUP=off skips the whole warm-up.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

import numpy as np


def _spectrogram() -> None:
    from soundlab import dsp

    y = np.random.default_rng(0).standard_normal(44_100).astype(np.float32) * 0.1
    dsp.mel_spectrogram_db(y=y, sr=44_100)


def _metrics() -> None:
    import sklearn.metrics  # noqa: F401


def _cleanlab() -> None:
    import cleanlab.datalab.datalab  # noqa: F401


def _plotly() -> None:
    import plotly.graph_objects as go

    go.Figure(go.Heatmap(z=[[0, 1], [1, 0]])).to_json()


def _classifier() -> None:
    from components import classify_view, loaders
    from soundlab import runs

    found = [r for r in loaders.runs()[0] if r.classifies_audio]
    if not found:  # nothing to classify with: the page says how to train
        return
    run = runs.preferred(found)  # what the Classify page shows first (components.run_picker)
    clf = loaders.classifier(run, run.default_model, loaders.backbone(run.backbone_key))
    classify_view.other_backbones(clf)  # the page also shows what they hear; one that cannot load is the page's caption


LIBRARIES = (("librosa (first mel spectrogram)", _spectrogram), ("scikit-learn metrics", _metrics),
             ("plotly (first figure)", _plotly), ("cleanlab", _cleanlab))
MODELS = (("the Classify page's default model", _classifier),)
STEPS = LIBRARIES + MODELS


THREAD_NAME = "soundlab-warmup"


class _NoContextWarning(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for this thread: the cached loaders' spinners have no page
    to show on here, which is expected (the warning is meant for a thread a page started and forgot to attach)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName == THREAD_NAME and "missing ScriptRunContext" in record.msg)


def run(*, nice: int = 0, steps=STEPS) -> dict[str, float]:
    """Each step's seconds; a step that fails is named on the console and skipped (the page that needs it will say what
    is wrong).

    `nice`: the libraries' steps run in a thread of their own at this nice value (Linux schedules threads on their
    own), so a visitor's script that arrives during the warm-up gets the CPU first. The model steps run in the calling
    thread, at its priority: the thread pools TensorFlow and torch start during them (tf_Compute, torch's OpenMP
    threads) take the nice value of the thread that starts them, for good, and an unprivileged process cannot lower it
    again. Started at nice 10 (seen with `ps -L`), every later classification ran its parallel work at low priority,
    behind the browser and the other sessions' scripts."""
    times: dict[str, float] = {}
    low = [s for s in steps if s in LIBRARIES]
    if low:
        # The same holds for scipy's own OpenBLAS (librosa and scikit-learn load it): its worker thread starts when
        # the library loads, so it loads here, at normal priority, not first in the niced thread.
        import scipy.linalg  # noqa: F401
        thread = threading.Thread(target=lambda: times.update(_run_steps(low, nice)), name=THREAD_NAME, daemon=True)
        thread.start()
        thread.join()
    times.update(_run_steps([s for s in steps if s not in LIBRARIES], 0))
    from components import memory

    memory.settle()  # what the warm-up loaded stays for good: out of the garbage collector's way
    # on the server's console, as Streamlit's own start-up lines are (no logging handler is set up for ours)
    print("  SoundLab warmed up in the background: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
          file=sys.stderr, flush=True)
    return times


def _run_steps(steps, nice: int) -> dict[str, float]:
    if nice:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (OSError, AttributeError):  # not Linux, or not allowed: warm at normal priority
            pass
    times = {}
    for name, step in steps:
        t0 = time.perf_counter()
        try:
            step()
        except Exception as e:  # noqa: BLE001 - warming is an optimisation: never a reason for the server to fail
            print(f"  SoundLab warm-up of {name} failed ({e}); that page will load it itself", file=sys.stderr)
            continue
        times[name] = time.perf_counter() - t0
    return times


def start() -> threading.Thread | None:
    """Run `run` in a daemon thread (it never keeps the server from stopping; started here, by the main thread, at normal
    priority), with the steps SOUNDLAB_WARMUP asks for; None when it says off."""
    from soundlab.config import warmup_mode
    from soundlab.errors import SettingsError

    try:
        mode = warmup_mode()
    except SettingsError as e:  # the server still starts; the safe choice is the warm-up that loads no model
        print(f"  SoundLab: {e}; warming the libraries only", file=sys.stderr, flush=True)
        mode = "libraries"
    if mode == "off":
        return None
    streamlit_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    if not any(isinstance(f, _NoContextWarning) for f in streamlit_log.filters):  # once, however often this is called
        streamlit_log.addFilter(_NoContextWarning())
    thread = threading.Thread(target=run, kwargs={"nice": 10, "steps": STEPS if mode == "models" else LIBRARIES},
                              name=THREAD_NAME, daemon=True)
    thread.start()
    return thread

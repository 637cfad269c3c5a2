"""Warm the libraries the pages need, in a background thread, when the server starts (`scripts/serve.py`).

A page's first visit after a start used to pay for first uses that have nothing to do with the visitor: librosa's
first spectrogram (its lazily loaded submodules and numba), scikit-learn's metrics, cleanlab, plotly's first figure
(measured in bench/bench_pages.py: cold Explore 5.5 s, Metrics 5.2 s, Data issues 9.3 s against about 2-3 s warm).
Done once per process before anyone asks, that time is not a visitor's. Python's import lock makes it safe: a page
that needs a module while it is being imported here waits for it, as it would have waited importing it itself.

The backbones (TensorFlow, torch) are not warmed: they hold hundreds of MB, and the Classify page shows a spinner
naming what it loads on its first use.
"""

from __future__ import annotations

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


STEPS = (("librosa (first mel spectrogram)", _spectrogram), ("scikit-learn metrics", _metrics),
         ("plotly (first figure)", _plotly), ("cleanlab", _cleanlab))


def run(*, nice: int = 0) -> dict[str, float]:
    """Each step's seconds; a step that fails is named on the console and skipped (the page that needs it will say what is wrong).
    `nice`: raise this thread's nice value first (Linux schedules threads on their own), so a visitor's script that
    arrives during the warm-up gets the CPU first."""
    if nice:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (OSError, AttributeError):  # not Linux, or not allowed: warm at normal priority
            pass
    times = {}
    for name, step in STEPS:
        t0 = time.perf_counter()
        try:
            step()
        except Exception as e:  # noqa: BLE001 - warming is an optimisation: never a reason for the server to fail
            print(f"  SoundLab warm-up of {name} failed ({e}); that page will load it itself", file=sys.stderr)
            continue
        times[name] = time.perf_counter() - t0
    # on the server's console, as Streamlit's own start-up lines are (no logging handler is set up for ours)
    print("  SoundLab warmed up in the background: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
          file=sys.stderr, flush=True)
    return times


def start() -> threading.Thread:
    """Run `run` in a daemon thread (it never keeps the server from stopping)."""
    thread = threading.Thread(target=run, kwargs={"nice": 10}, name="soundlab-warmup", daemon=True)
    thread.start()
    return thread

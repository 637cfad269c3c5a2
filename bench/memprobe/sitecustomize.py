"""Memory probe for a running SoundLab server (bench only): put this folder on PYTHONPATH and set
SOUNDLAB_MEMPROBE=<output folder>; `kill -USR1 <server pid>` then writes a report of what the process holds.

Each report (probe-<n>.json): RSS, what a full garbage collection frees (objects in reference cycles that Python's
generational collector had not reached yet), live objects by type (top 40, and Streamlit's session classes), and,
with SOUNDLAB_MEMPROBE_TRACE=1, a tracemalloc snapshot (probe-<n>.trace) for `bench/memprobe/compare.py`.
"""

import os

if os.environ.get("SOUNDLAB_MEMPROBE"):
    import collections
    import gc
    import json
    import signal
    import threading
    import time
    import tracemalloc
    from pathlib import Path

    _OUT = Path(os.environ["SOUNDLAB_MEMPROBE"])
    _OUT.mkdir(parents=True, exist_ok=True)
    _TRACE = os.environ.get("SOUNDLAB_MEMPROBE_TRACE") == "1"
    if _TRACE:
        tracemalloc.start(12)
    _n = [0]

    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _report() -> None:
        _n[0] += 1
        n = _n[0]
        before_rss = _rss()
        counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        t0 = time.perf_counter()
        freed = gc.collect()
        gc_s = time.perf_counter() - t0
        after = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        sessions = {k: after.get(k, 0) for k in ("AppSession", "SessionState", "ScriptRunner", "SessionInfo",
                                                 "UploadedFileRec", "DataFrame", "ndarray", "Figure", "Result")}
        report = {"n": n, "rss_before_gc": before_rss, "rss_after_gc": _rss(), "gc_freed": freed, "gc_s": gc_s,
                  "gc_counts": gc.get_count(), "gc_frozen": gc.get_freeze_count(),
                  "objects_before_gc": sum(counts.values()), "objects_after_gc": sum(after.values()),
                  "sessions": sessions, "top": after.most_common(40),
                  "freed_by_type": (counts - after).most_common(30)}
        (_OUT / f"probe-{n}.json").write_text(json.dumps(report, indent=1))
        if _TRACE:
            tracemalloc.take_snapshot().dump(str(_OUT / f"probe-{n}.trace"))

    def _on_signal(signum, frame):
        threading.Thread(target=_report, name="memprobe").start()

    signal.signal(signal.SIGUSR1, _on_signal)

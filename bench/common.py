"""Shared helpers for the benchmarks: timing with medians, and where the test assets are."""

from __future__ import annotations

import contextlib
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def timeit(fn, *, repeat: int = 30, warmup: int = 2) -> list[float]:
    """Run `fn` `warmup` times untimed, then `repeat` times; returns the times in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def report(name: str, times_ms: list[float], *, target_ms: float | None = None, unit: str = "ms") -> float:
    """Print one line: median, p10-p90, and the target with a verdict. Returns the median."""
    med = statistics.median(times_ms)
    q = statistics.quantiles(times_ms, n=10) if len(times_ms) >= 10 else [min(times_ms)] * 9
    target = ""
    if target_ms is not None:
        target = f"  target <= {target_ms:g} {unit}: {'met' if med <= target_ms else 'NOT met'}"
    print(f"{name:55s} median {med:8.2f} {unit}  (p10 {q[0]:.2f}, p90 {q[-1]:.2f}, n={len(times_ms)}){target}")
    return med


def loop_time() -> float:
    """Seconds a fixed single-thread Python loop takes (median of 3): the machine's speed right now. On a shared VM it
    varies by a third or more over an hour (another tenant's load), which neither the load average nor PSI inside the
    VM always shows; compare runs only at similar loop times."""
    times = []
    for _ in range(3):
        t = time.perf_counter()
        sum(i * i for i in range(3_000_000))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def served_switch_interval() -> float:
    """The thread switch interval the served app runs with (scripts/serve.py sets it)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from serve import SWITCH_INTERVAL_S

    return SWITCH_INTERVAL_S


@contextlib.contextmanager
def busy_python_thread(switch_interval_s: float):
    """For the block, another Python thread that always wants the GIL (in the app: another session's script, the
    server's event loop), with Python's thread switch interval set to `switch_interval_s`; both undone after."""
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    before = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval_s)
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(before)

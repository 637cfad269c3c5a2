"""Shared helpers for the benchmarks: timing with medians, and where the test assets are."""

from __future__ import annotations

import statistics
import sys
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

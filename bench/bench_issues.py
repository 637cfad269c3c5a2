"""Benchmark: data issues (cleanlab Datalab) cold and cached, and sound search per query at 2,000 and 100,000 clips.

    python bench/bench_issues.py [--repeats 3] [--queries 200]

Data issues:
* the shipped ESC-50 run of heads (its real clips, with the other backbone's run compared), cold (no cache) and
  cached (the JSON the page reads on a rerun);
* 2,000 clips (ESC-50's size): the run's real embeddings and out-of-fold probabilities resampled to 2,000 rows with a
  little noise (the dev set has fewer clips than ESC-50), cold.
Sound search: exact cosine (one matrix-vector product on unit float32 vectors), median ms per query, on the run's
real embeddings resampled to 2,000 and on 100,000 random vectors of the same width.
Prints medians; nothing is asserted (targets: the issue's note).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundlab import issues, runs  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR  # noqa: E402
from soundlab.search import SoundIndex  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def resampled(d: issues.ClipData, n: int, seed: int = 0) -> issues.ClipData:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(d.names), n, replace=n > len(d.names))
    pooled = d.pooled[idx] + 0.05 * d.pooled.std() * rng.normal(size=(n, d.pooled.shape[1])).astype(np.float32)
    probs = d.probs[idx] + 0.01 * rng.random((n, d.probs.shape[1]))
    probs /= probs.sum(axis=1, keepdims=True)
    return issues.ClipData(np.array([f"clip{i:05d}.wav" for i in range(n)]), pooled, probs, d.labels[idx],
                           d.folds[idx], np.array([f"src{i}" for i in range(n)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    all_runs, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    heads_runs = [r for r in all_runs if r.classifies_audio and r.task == "esc50"]
    run = runs.preferred(heads_runs)
    others = [r for r in heads_runs if r.backbone_key != run.backbone_key]
    print(f"run {run.id} ({len(runs.read_oof(run, run.default_model))} clips), compared with "
          f"{', '.join(o.id for o in others) or 'none'}")

    def cold_find():
        with tempfile.TemporaryDirectory() as tmp:
            return issues.find(run, others=others, cache_dir=Path(tmp))

    cold_ms, found = timed(cold_find, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        issues.find(run, others=others, cache_dir=Path(tmp))
        cached_ms, _ = timed(lambda: issues.find(run, others=others, cache_dir=Path(tmp)), max(args.repeats, 5))
    print(f"data issues, {run.id}: cold {cold_ms:.0f} ms (both backbones), cached {cached_ms:.1f} ms; "
          + ", ".join(f"{n} {issues.KIND_NAMES[k]}" for k, n in found.counts().items()))

    d = issues._run_data(run, run.default_model)
    big = resampled(d, 2000)
    ms2000, found2000 = timed(lambda: issues.analyse(big, run.class_names), args.repeats)
    print(f"data issues, 2000 clips (resampled real embeddings, one backbone): cold {ms2000:.0f} ms")

    rng = np.random.default_rng(1)
    for n, vectors in ((2000, big.pooled), (100_000, rng.normal(size=(100_000, d.pooled.shape[1])).astype(np.float32))):
        t0 = time.perf_counter()
        index = SoundIndex.build([f"c{i}" for i in range(n)], vectors)
        build_ms = (time.perf_counter() - t0) * 1000
        queries = vectors[rng.choice(n, args.queries)] + 0.01 * rng.normal(size=(args.queries, vectors.shape[1]))
        times = []
        for q in queries:
            t0 = time.perf_counter()
            index.query(q, 8)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"sound search over {n:>7,} clips ({vectors.shape[1]}-d): median {statistics.median(times):.2f} ms per "
              f"query (p90 {np.percentile(times, 90):.2f} ms; index build {build_ms:.0f} ms, "
              f"{index.vectors.nbytes / 2**20:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Embedding throughput: in-process engine vs Ray Data with 1 and 2 actors, on the dev set and a synthetic list. Run:

    .venv/bin/python bench/bench_embed_scale.py [--backbone efficientat] [--synthetic 20000] [--engines local,ray1,ray2]

Each engine starts from an empty cache (a new temporary folder) and embeds every clip, so the figures are cold-cache
clips per second, end to end (decode + resample + backbone + cache write; for Ray also starting the actors and
loading a backbone in each, and the driver writing shards and merging them). The synthetic list repeats the dev clips
under new names (the same files: decoding is real, the operating system's page cache keeps the reads cheap, as a
local SSD would). Ray runs locally (`ray.init(num_cpus=<cores>)`), once per engine, started before the clock.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT

from soundlab.config import get_settings
from soundlab.models import embeddings, ray_embed
from soundlab.models.backbone import load_backbone
from tests.assets import dev_dataset


def clips_of(root: Path, n_synthetic: int | None) -> list[tuple[str, str]]:
    real = [(p.name, str(p)) for p in sorted((root / "audio").glob("*.wav"))]
    if not n_synthetic:
        return real
    return [(f"synthetic-{i:06d}-{real[i % len(real)][0]}", real[i % len(real)][1]) for i in range(n_synthetic)]


def run_engine(engine: str, clips, backbone, batch: int) -> tuple[float, int, dict]:
    cache = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        if engine == "local":
            t0 = time.perf_counter()
            es, fail = embeddings.embed_clips(clips, backbone, cache_dir=cache)
            return time.perf_counter() - t0, len(es), {}
        import ray

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), **{k: v for k, v in os.environ.items()
                                                                        if k.startswith("SOUNDLAB_")}}})
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            t0 = time.perf_counter()
            es, fail, stats = ray_embed.embed_clips_ray(clips, backbone, cache_dir=cache, actors=int(engine[3:]),
                                                        batch_size=batch, shard_size=1024)
            return time.perf_counter() - t0, len(es), stats
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbone", default="efficientat", choices=["yamnet", "efficientat"])
    ap.add_argument("--synthetic", type=int, default=20000, help="size of the synthetic list (0: skip it)")
    ap.add_argument("--engines", default="local,ray1,ray2", help="of local, ray1, ray2, ... (rayN: N actors)")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    root = dev_dataset()
    backbone = load_backbone(args.backbone, get_settings())
    engines = [e.strip() for e in args.engines.split(",")]
    print(f"backbone {backbone.fingerprint}; machine: {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sets = [("dev set", clips_of(root, None))]
    if args.synthetic:
        sets.append((f"synthetic list ({args.synthetic:,} clips)", clips_of(root, args.synthetic)))
    results = {}
    for label, clips in sets:
        for engine in engines:
            dt, n, stats = run_engine(engine, clips, backbone, args.batch_size)
            results[(label, engine)] = n / dt
            extra = f"  ({stats['shards']} shards)" if stats else ""
            print(f"{label:28s} {engine:6s} {n:6d} clips in {dt:7.1f} s = {n / dt:6.1f} clips/s{extra}", flush=True)
    for label, _ in sets:
        base = results.get((label, "local"))
        if base:
            print(f"{label}: " + ", ".join(f"{e} {results[(label, e)] / base:.2f}x" for e in engines
                                           if (label, e) in results and e != "local") + " of in-process")


if __name__ == "__main__":
    main()

"""Embedding many clips on a Ray cluster (or a local Ray) with Ray Data, into the same cache the app reads.

`embed --engine ray` runs this instead of `embeddings.embed_clips`. The clip list (the clips the cache lacks) becomes a
Ray Dataset; `map_batches` sends batches to a pool of actors, each holding one backbone instance (loaded once per
actor), which decode and embed; the driver streams the results back and writes them in shards
(``<view>.shards/shard-*.npz`` beside the cache file), each committed atomically as it fills. When every clip is done
the shards are merged into ``<view>.npz``, the file `embeddings.load_cache` reads, and removed: a cache built on a
cluster is used by a single-machine app unchanged.

* An unreadable clip is recorded (its file name and the decoder's message) and skipped; the others are unaffected.
* An interrupted job resumes: the committed shards are read first and their clips (same file size and mtime) are not
  embedded again.
* The actors load the backbone the driver names (`load_backbone(key)` with the driver's SOUNDLAB_* settings) and
  report its fingerprint; a result from a different backbone (other weights on a node) is refused, not cached.

Ray is optional (``requirements-scale.txt``); without it this module says how to install it in one line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from soundlab.errors import ModelError, ParameterError
from soundlab.models.embeddings import (
    VIEWS,
    EmbeddingSet,
    Progress,
    cache_path,
    concat,
    load_cache,
    merge_into_cache,
    read_shards,
    shard_dir,
    stamps_of,
    write_shard,
)
from soundlab.storage import file_stamp

INSTALL = "Ray is not installed: `pip install -r requirements-scale.txt` (Ray Data), or use --engine local"


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ModelError(INSTALL) from None
    return ray


class EmbedActor:
    """One backbone per actor; `__call__` embeds a batch of clips (a dict of columns, as Ray Data passes it)."""

    def __init__(self, backbone_key: str, view: str, env: dict[str, str]):
        os.environ.update(env)  # the driver's SOUNDLAB_* settings: the same backbone files and options
        from soundlab.config import get_settings
        from soundlab.models.backbone import load_backbone

        self.backbone = load_backbone(backbone_key, get_settings())
        self.view = view

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from soundlab import audio
        from soundlab.errors import AudioError
        from soundlab.models.embeddings import view_input

        params = self.backbone.params
        rows = {k: [] for k in ("filename", "error", "size", "mtime_ns", "n_frames", "embeddings", "scores", "tags",
                                "fingerprint")}
        for name, path in zip(batch["filename"], batch["path"], strict=True):
            name, path = str(name), str(path)
            emb = scores = tags = b""
            n, err, stamp = 0, "", (0, 0)
            try:
                stamp = file_stamp(path)
                y = view_input(audio.load(path, sr=params.sample_rate_hz, allow_silent=True).y, self.view, params, name)
                out = self.backbone(y)
                n = len(out.embeddings)
                emb = out.embeddings.astype(np.float32).tobytes()
                scores = out.scores.astype(np.float16).tobytes()
                tags = out.pooled_scores.astype(np.float16).tobytes()
            except (AudioError, OSError) as e:  # one unreadable clip is reported, never fatal to the job
                err = str(e) or type(e).__name__
            for k, v in (("filename", name), ("error", err), ("size", stamp[0]), ("mtime_ns", stamp[1]),
                         ("n_frames", n), ("embeddings", emb), ("scores", scores), ("tags", tags),
                         ("fingerprint", self.backbone.fingerprint)):
                rows[k].append(v)
        return {k: np.array(v, dtype=object if k in ("embeddings", "scores", "tags") else None)
                for k, v in rows.items()}


def _shard_from_rows(rows: list[dict], params) -> EmbeddingSet:
    d, t = params.embedding_dim, params.n_tags
    emb = [np.frombuffer(r["embeddings"], np.float32).reshape(-1, d) for r in rows]
    sco = [np.frombuffer(r["scores"], np.float16).reshape(-1, t) for r in rows]
    return EmbeddingSet(
        filenames=np.array([r["filename"] for r in rows], dtype=object),
        offsets=np.concatenate([[0], np.cumsum([len(e) for e in emb])]).astype(np.int64),
        embeddings=np.concatenate(emb) if emb else np.zeros((0, d), np.float32),
        scores=np.concatenate(sco) if sco else np.zeros((0, t), np.float16),
        stamps=np.array([[r["size"], r["mtime_ns"]] for r in rows], np.int64).reshape(-1, 2),
        tags=np.stack([np.frombuffer(r["tags"], np.float16) for r in rows]) if rows else np.zeros((0, t), np.float16),
    )


def embed_clips_ray(clips: list[tuple[str, str]], backbone, *, cache_dir: Path, view: str = "orig",
                    actors: int = 2, batch_size: int = 16, shard_size: int = 256, progress: Progress | None = None,
                    log: Callable[[str], None] | None = None, stop_after_shards: int | None = None
                    ) -> tuple[EmbeddingSet, list[tuple[str, str]], dict]:
    """Embeddings of `clips` ((filename, path) pairs) computed on Ray, cached as `embeddings.embed_clips` caches them.

    `backbone` is the driver's loaded backbone (its key and fingerprint name what the actors must load). Ray must be
    initialised (`ray.init(...)`) by the caller. `stop_after_shards` ends the job after that many shards (tests use it
    to interrupt a job; the merged cache is then not written and a rerun resumes).

    Returns
    -------
    embeddings : EmbeddingSet
        In the order of `clips`, without the clips that failed.
    failures : list of (filename, message)
    stats : dict
        computed (clips embedded by this call), resumed (clips found in committed shards), shards (written by this
        call), seconds; interrupted when `stop_after_shards` ended it.
    """
    ray = require_ray()
    if view not in VIEWS:
        raise ParameterError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    if actors < 1 or batch_size < 1 or shard_size < 1:
        raise ParameterError("--actors, --batch-size and --shard-size must be at least 1")
    t0 = time.monotonic()
    params = backbone.params
    path = cache_path(cache_dir, backbone.fingerprint, view)
    folder = shard_dir(cache_dir, backbone.fingerprint, view)
    folder.mkdir(parents=True, exist_ok=True)
    cached = load_cache(path, params, log=log)
    shards, _ = read_shards(folder, params)
    have = stamps_of([cached, *shards])
    todo = [(f, p) for f, p in clips if have.get(f) != file_stamp(p)]
    n_resumed = sum(len(s) for s in shards)
    stats = {"computed": 0, "resumed": n_resumed, "shards": 0}
    failures: list[tuple[str, str]] = []
    done = len(clips) - len(todo)
    if progress:
        progress(done, len(clips))
    if todo:
        env = {k: v for k, v in os.environ.items() if k.startswith("SOUNDLAB_")}
        ds = ray.data.from_items([{"filename": f, "path": str(p)} for f, p in todo])
        results = ds.map_batches(EmbedActor, fn_constructor_kwargs={"backbone_key": backbone.key, "view": view,
                                                                    "env": env},
                                 batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
                                 num_cpus=1, batch_format="numpy")
        pending: list[dict] = []

        def commit() -> None:
            nonlocal pending
            good = [r for r in pending if not r["error"]]
            if good:
                es = _shard_from_rows(good, params)
                write_shard(folder, es)
                shards.append(es)
                stats["shards"] += 1
                stats["computed"] += len(good)
            pending = []

        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(batch["filename"])):
                r = {k: batch[k][i] for k in batch}
                if r["fingerprint"] != backbone.fingerprint:
                    raise ModelError(f"an actor loaded backbone {r['fingerprint']}, not the driver's "
                                     f"{backbone.fingerprint}: every node needs the same model files")
                if r["error"]:
                    failures.append((str(r["filename"]), str(r["error"])))
                else:
                    pending.append(r)
                done += 1
            if progress:
                progress(done, len(clips))
            if len(pending) >= shard_size:
                commit()
                if stop_after_shards is not None and stats["shards"] >= stop_after_shards:
                    stats["seconds"] = time.monotonic() - t0
                    stats["interrupted"] = True
                    return concat([cached, *shards], params), failures, stats
        commit()
    # merge: the cache (minus what was recomputed), the resumed shards and the new ones, then the shards go
    merged = merge_into_cache(path, folder, cached, {f for f, _ in todo}, shards, params)
    names = [str(x) for x in merged.filenames]
    have_now = set(names)
    wanted = [f for f, _ in clips if f in have_now]
    stats["seconds"] = time.monotonic() - t0
    return merged.subset(wanted), failures, stats

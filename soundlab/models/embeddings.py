"""Frame embeddings and AudioSet scores of dataset clips, computed once per backbone and cached on disk.

The cache lives in ``SOUNDLAB_CACHE_DIR/embeddings/<backbone fingerprint>/<view>.npz`` and is keyed
by clip file name and the file's size and modification time, so a rerun only embeds new or changed
clips. A *view* is the audio as given ("orig") or an augmentation of it ("shift": the clip delayed
by half the backbone's frame hop, 0.24 s for YAMNet, which puts the frames on a different grid; "real1", "real2",
"real-test": the clip as another recording might be, `soundlab.augment`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundlab import audio, augment
from soundlab.errors import AudioError, ParameterError
from soundlab.models.backbone import Backbone, BackboneParams, sound_pooled
from soundlab.storage import file_stamp, save_npz_atomic

# view name -> leading silence as a share of the backbone's frame hop (the recording-conditions views add none)
VIEWS = {"orig": 0.0, "shift": 0.5, **{v: 0.0 for v in augment.VIEWS}}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EmbeddingSet:
    """Per-clip frame arrays, stored ragged (clip i owns rows offsets[i]:offsets[i+1]), and per-clip tags."""

    filenames: np.ndarray  # (n,) str
    offsets: np.ndarray  # (n + 1,) int64
    embeddings: np.ndarray  # (total_frames, embedding_dim) float32
    scores: np.ndarray  # (total_frames, n_tags) float16, per frame
    stamps: np.ndarray  # (n, 2) int64: file size, mtime_ns
    tags: np.ndarray  # (n, n_tags) float16: each clip's tags (`BackboneOutput.pooled_scores`)

    def __len__(self) -> int:
        return len(self.filenames)

    def index(self) -> dict[str, int]:
        return {f: i for i, f in enumerate(self.filenames)}

    def subset(self, names: Iterable[str]) -> EmbeddingSet:
        """The clips `names`, in that order (KeyError if one is missing)."""
        idx = self.index()
        order = [idx[n] for n in names]
        parts_e = [self.embeddings[self.offsets[i] : self.offsets[i + 1]] for i in order]
        parts_s = [self.scores[self.offsets[i] : self.offsets[i + 1]] for i in order]
        lengths = [len(p) for p in parts_e]
        return EmbeddingSet(
            filenames=self.filenames[order],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            embeddings=np.concatenate(parts_e) if parts_e else self.embeddings[:0],
            scores=np.concatenate(parts_s) if parts_s else self.scores[:0],
            stamps=self.stamps[order],
            tags=self.tags[order],
        )

    def stacked(self, n_frames: int | None = None) -> np.ndarray:
        """(n, T, d): every clip's frames, cut or zero-padded to T (default: the longest clip)."""
        lengths = np.diff(self.offsets)
        T = int(n_frames or (lengths.max() if len(lengths) else 0))
        out = np.zeros((len(self), T, self.embeddings.shape[1]), np.float32)
        for i in range(len(self)):
            e = self.embeddings[self.offsets[i] : self.offsets[i + 1]][:T]
            out[i, : len(e)] = e
        return out

    def pooled(self) -> np.ndarray:
        """(n, d) mean embedding of each clip."""
        return np.stack([self.embeddings[self.offsets[i] : self.offsets[i + 1]].mean(axis=0)
                         for i in range(len(self))]) if len(self) else self.embeddings[:0].astype(np.float32)

    def pooled_sound(self, silence_index: int | None) -> np.ndarray:
        """(n, d) mean embedding of each clip's frames that are not silence (`backbone.sound_pooled`)."""
        return np.stack([sound_pooled(self.embeddings[self.offsets[i] : self.offsets[i + 1]],
                                      self.scores[self.offsets[i] : self.offsets[i + 1]], silence_index)
                         for i in range(len(self))]) if len(self) else self.embeddings[:0].astype(np.float32)

    def clip_scores(self) -> np.ndarray:
        """(n, n_tags) AudioSet tags of each clip (the backbone's clip-level output, or its frames' mean)."""
        return self.tags.astype(np.float32)


def _frame_means(offsets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.stack([scores[offsets[i] : offsets[i + 1]].astype(np.float32).mean(axis=0)
                     for i in range(len(offsets) - 1)]).astype(np.float16) if len(offsets) > 1 else scores[:0]


def empty_set(params: BackboneParams) -> EmbeddingSet:
    return EmbeddingSet(np.array([], dtype=object), np.zeros(1, np.int64),
                        np.zeros((0, params.embedding_dim), np.float32), np.zeros((0, params.n_tags), np.float16),
                        np.zeros((0, 2), np.int64), np.zeros((0, params.n_tags), np.float16))


def concat(parts: list[EmbeddingSet], params: BackboneParams) -> EmbeddingSet:
    """The clips of `parts`, one after the other (an empty set for none)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_set(params)
    lengths = np.concatenate([np.diff(p.offsets) for p in parts])
    return EmbeddingSet(
        filenames=np.concatenate([p.filenames for p in parts]).astype(object),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        embeddings=np.concatenate([p.embeddings for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
        stamps=np.concatenate([p.stamps for p in parts]),
        tags=np.concatenate([p.tags for p in parts]),
    )


def cache_path(cache_dir: Path, fingerprint: str, view: str) -> Path:
    # a recording-conditions view's file names its chain's version: a changed chain never reads an old cache
    name = f"{view}-v{augment.VERSION}" if view in augment.VIEWS else view
    return Path(cache_dir) / "embeddings" / fingerprint / f"{name}.npz"


def load_cache(path: Path, params: BackboneParams, *, log: Callable[[str], None] | None = None) -> EmbeddingSet:
    """The cached set at `path`; an empty one if there is none, or if it is damaged (it is then rebuilt, and `log`
    is told so)."""
    if not path.is_file():
        return empty_set(params)

    def damaged(why: str) -> EmbeddingSet:
        if log is not None:
            log(f"the embedding cache {path} is damaged ({why}); its clips are embedded again")
        return empty_set(params)

    try:
        with np.load(path, allow_pickle=False) as z:
            offsets, scores = z["offsets"], z["scores"]
            # caches written before per-clip tags existed hold YAMNet frames: their tags are the frame means
            tags = z["tags"] if "tags" in z.files else _frame_means(offsets, scores)
            es = EmbeddingSet(z["filenames"].astype(object), offsets, z["embeddings"], scores, z["stamps"], tags)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:  # damaged: rebuilt, never trusted
        return damaged(f"{type(e).__name__}: {e}")
    if (es.embeddings.shape[1:] != (params.embedding_dim,) or es.scores.shape[1:] != (params.n_tags,)
            or len(es.tags) != len(es.filenames) or len(es.offsets) != len(es.filenames) + 1):
        return damaged("its arrays do not fit together or do not fit the backbone")
    return es


def save_cache(path: Path, es: EmbeddingSet) -> None:
    save_npz_atomic(path, filenames=es.filenames.astype(str), offsets=es.offsets, embeddings=es.embeddings,
                    scores=es.scores, stamps=es.stamps, tags=es.tags)


def shard_dir(cache_dir: Path, fingerprint: str, view: str) -> Path:
    """Where an embedding job commits its work in progress: ``<view>.shards/`` beside the cache file."""
    p = cache_path(cache_dir, fingerprint, view)
    return p.with_name(f"{view}.shards")


def read_shards(folder: Path, params: BackboneParams) -> tuple[list[EmbeddingSet], list[Path]]:
    """The committed shards of an interrupted job (a damaged shard reads as empty: its clips are embedded again)."""
    sets, paths = [], []
    for p in sorted(folder.glob("shard-*.npz")) if folder.is_dir() else []:
        es = load_cache(p, params)
        if len(es):
            sets.append(es)
            paths.append(p)
    return sets, paths


def write_shard(folder: Path, es: EmbeddingSet) -> Path:
    """Commit `es` as one new shard (atomic: a reader sees all of it or none)."""
    import uuid

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shard-{uuid.uuid4().hex}.npz"
    save_cache(path, es)
    return path


def stamps_of(sets: list[EmbeddingSet]) -> dict[str, tuple[int, int]]:
    """The file stamp each clip had when it was embedded (the last set holding a clip wins)."""
    have: dict[str, tuple[int, int]] = {}
    for es in sets:
        for name, stamp in zip(es.filenames, es.stamps, strict=True):
            have[str(name)] = tuple(int(x) for x in stamp)
    return have


def merge_into_cache(path: Path, folder: Path, cached: EmbeddingSet, recomputed: set[str],
                     sets: list[EmbeddingSet], params: BackboneParams) -> EmbeddingSet:
    """End of a job: the cache (minus the clips computed again) plus the shards and new sets, one entry per clip,
    written as the cache file; then the shard files go. Returns the merged set."""
    keep = [f for f in cached.filenames if f not in recomputed]
    merged = concat([cached.subset(keep) if keep else empty_set(params), *sets], params)
    # one entry per clip: a clip changed on disk since a resumed shard holds it twice, and `subset` keeps the last
    names = list(dict.fromkeys(str(x) for x in merged.filenames))
    if len(names) != len(merged):
        merged = merged.subset(names)
    save_cache(path, merged)
    if folder.is_dir():
        for p in folder.glob("shard-*.npz"):
            p.unlink(missing_ok=True)
        if not any(folder.iterdir()):
            folder.rmdir()
    return merged


def view_input(y: np.ndarray, view: str, params: BackboneParams, name: str = "") -> np.ndarray:
    """The waveform a view feeds to the backbone (same length as the input); `name` seeds a recording-conditions
    view, so each clip gets its own conditions, the same on every rerun."""
    if view in augment.VIEWS:
        return augment.real_conditions(y, params.sample_rate_hz, view=view, name=name)
    shift = int(round(VIEWS[view] * params.hop_samples))
    if shift == 0:
        return y
    return np.concatenate([np.zeros(shift, np.float32), y[:-shift]])


def _ahead(pool, fn, items, n: int):
    """fn(item) for each item, in order, computed by `pool` at most `n` items ahead of the consumer."""
    import collections

    pending = collections.deque()
    it = iter(items)
    for item in it:
        pending.append(pool.submit(fn, item))
        if len(pending) >= n:
            break
    while pending:
        result = pending.popleft().result()
        nxt = next(it, None)
        if nxt is not None:
            pending.append(pool.submit(fn, nxt))
        yield result


def embed_clips(clips: list[tuple[str, str]], backbone: Backbone, *, cache_dir: Path, view: str = "orig",
                progress: Progress | None = None, save_every: int = 200, batch: int = 16,
                log: Callable[[str], None] | None = None) -> tuple[EmbeddingSet, list[tuple[str, str]]]:
    """Embeddings of `clips` ((filename, path) pairs), computing only what the cache lacks.

    Decoding runs ahead in a helper thread while the backbone works; a backbone with ``embed_batch`` gets clips of
    equal length `batch` at a time. A damaged cache file is recomputed, and `log` is told so. Every `save_every` new
    clips are committed as a shard (``<view>.shards/``, as the Ray engine does), so an interrupted run keeps its work
    and resumes from it, and the cache file is written once at the end (rewriting it every 200 clips made a
    20,000-clip job slow down as the file grew).

    Returns
    -------
    embeddings : EmbeddingSet
        In the order of `clips`, without the clips that failed.
    failures : list of (filename, message)
        Clips that could not be decoded (e.g. a damaged file); the others are unaffected.
    """
    if view not in VIEWS:
        raise ParameterError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    params = backbone.params
    path = cache_path(cache_dir, backbone.fingerprint, view)
    folder = shard_dir(cache_dir, backbone.fingerprint, view)
    cached = load_cache(path, params, log=log)
    shards, _ = read_shards(folder, params)
    have = stamps_of([cached, *shards])
    todo = [(f, p) for f, p in clips if have.get(f) != file_stamp(p)]
    new_e, new_s, new_t, new_names, new_stamps = [], [], [], [], []
    done = len(clips) - len(todo)
    if progress:
        progress(done, len(clips))
    failures: list[tuple[str, str]] = []
    embed_batch = getattr(backbone, "embed_batch", None)
    batch = batch if embed_batch is not None else 1

    def decode(item):
        name, p = item
        try:
            return name, p, view_input(audio.load(p, sr=params.sample_rate_hz, allow_silent=True).y, view, params, name)
        except AudioError as e:
            return name, p, e

    def chunk() -> EmbeddingSet:
        """The clips embedded since the last shard (and forget them: they are in `shards` now)."""
        new = EmbeddingSet(
            filenames=np.array(new_names, dtype=object),
            offsets=np.concatenate([[0], np.cumsum([len(e) for e in new_e], dtype=np.int64)]),
            embeddings=np.concatenate(new_e) if new_e else np.zeros((0, params.embedding_dim), np.float32),
            scores=np.concatenate(new_s) if new_s else np.zeros((0, params.n_tags), np.float16),
            stamps=np.array(new_stamps, np.int64).reshape(-1, 2),
            tags=np.stack(new_t) if new_t else np.zeros((0, params.n_tags), np.float16),
        )
        for lst in (new_e, new_s, new_t, new_names, new_stamps):
            lst.clear()
        shards.append(new)
        return new

    def flush(group) -> None:
        outs = embed_batch([y for _, _, y in group]) if batch > 1 else [backbone(group[0][2])]
        for (name, p, _), out in zip(group, outs):
            new_e.append(out.embeddings.astype(np.float32))
            new_s.append(out.scores.astype(np.float16))
            new_t.append(out.pooled_scores.astype(np.float16))
            new_names.append(name)
            new_stamps.append(file_stamp(p))

    if todo or shards:
        with ThreadPoolExecutor(max_workers=1) as pool:
            decoded = _ahead(pool, decode, todo, 2 * batch)  # decoding runs ahead of the backbone, bounded
            group = []
            for name, p, y in decoded:
                done += 1
                if isinstance(y, AudioError):
                    failures.append((name, str(y)))
                else:
                    if group and len(y) != len(group[0][2]):
                        flush(group)
                        group = []
                    group.append((name, p, y))
                    if len(group) >= batch:
                        flush(group)
                        group = []
                if progress:
                    progress(done, len(clips))
                if save_every and len(new_names) >= save_every:
                    write_shard(folder, chunk())  # an interrupted run keeps what it computed
            if group:
                flush(group)
        chunk()
        merge_into_cache(path, folder, cached, {f for f, _ in todo}, shards, params)
        cached = load_cache(path, params)
    failed = {f for f, _ in failures}
    return cached.subset([f for f, _ in clips if f not in failed]), failures

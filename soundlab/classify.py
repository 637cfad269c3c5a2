"""End-to-end classification: audio -> backbone frames -> head -> probabilities, timeline, tags, diagnostics.

Audio of up to `WINDOW_S` seconds is one window (what the heads were trained on: a 5 s ESC-50 clip).
Longer audio is classified in sliding windows of `WINDOW_S` every `HOP_S` seconds, decoded and
resampled block by block, so a 1-hour file runs in bounded memory; the overall probabilities are
the mean over windows and the timeline shows each window.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from soundlab import audio, openset
from soundlab.config import CLASSIFY_LIMITS, AudioLimits
from soundlab.dsp import level_dbfs
from soundlab.errors import AudioError, ModelError
from soundlab.models import embeddings, fusion
from soundlab.models.backbone import SILENT_FRAME, Backbone, BackboneOutput, silence_index, sound_pooled
from soundlab.models.heads import HeadPredictor
from soundlab.openset import OpenSetModel, Verdict, normalize
from soundlab.runs import Run, read_embeddings, read_extra_embeddings

WINDOW_S = 5.0
HOP_S = 2.5
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped
SILENT_DBFS = -60.0  # 50 ms frames quieter than this count as silence (diagnostics)
QUIET_DBFS = -65.0  # a window, timeline frame or live window quieter than this (RMS) is silence, not a class
SOUNDING_DB = 10.0  # a recording's answer pools its windows within this of its loudest (`sounding`)
LEVEL_FLOOR_DBFS = -20.0  # a louder window whose peak is below this is heard with its peak at this level: ESC-50's
#                           clips are mostly normalised (28 of the 1,054 dev clips peak lower), and a quiet recording
#                           of the same sound otherwise sounds unlike any of them (docs/models.md#quiet-recordings)
SILENCE_TAG, SILENCE_SCORE = "Silence", 0.5  # ... and so is one whose tagger hears Silence at least this strongly,
LOUD_DBFS = -30.0  # unless it is at least this loud: EfficientAT's per-frame tags (one column of its last feature map
#                    through a classifier trained on pooled features) said Silence (0.79) over a dog's bark at -16 dBFS


def heard(y: np.ndarray, level: float) -> np.ndarray:
    """The window `y` (RMS `level`, dBFS) as the models hear it: brought up to `LEVEL_FLOOR_DBFS` at its peak if it
    is quieter (never turned down, and silence, below `QUIET_DBFS`, is left as it is)."""
    if not len(y) or level < QUIET_DBFS:
        return y
    offset = np.float32(np.mean(y, dtype=np.float64))  # the peak of the sound, not of a DC offset (`dsp.level_dbfs`)
    peak = max(float(np.max(y)) - offset, offset - float(np.min(y)))  # max |y - offset|, without a copy of y
    floor = 10 ** (LEVEL_FLOOR_DBFS / 20)
    if peak == 0.0 or peak >= floor:
        return y
    return ((y - offset) * np.float32(floor / peak)).astype(np.float32, copy=False)


def sounding(levels: list[float]) -> np.ndarray:
    """(n_windows,) True for the windows of a recording whose answer counts: those within `SOUNDING_DB` of its
    loudest window (RMS dBFS), so a bark in a minute of a quiet room is not averaged away by the room; every window
    if all are silence."""
    levels = np.asarray(levels, np.float64)
    keep = (levels >= levels.max() - SOUNDING_DB) & (levels >= QUIET_DBFS)
    return keep if keep.any() else np.ones(len(levels), bool)


def silent_frames(y: np.ndarray, out: BackboneOutput, backbone: Backbone) -> np.ndarray:
    """(frames,) True for each backbone frame of `y` that is near-silent or that the tagger hears as Silence."""
    p = backbone.params
    hop, win = p.hop_samples, int(round(p.frame_window_s * p.sample_rate_hz))
    levels = np.array([level_dbfs(y[i * hop: i * hop + win]) for i in range(len(out.embeddings))])
    quiet = levels < QUIET_DBFS
    if SILENCE_TAG in backbone.tag_names:
        quiet |= (out.scores[:, backbone.tag_names.index(SILENCE_TAG)] >= SILENCE_SCORE) & (levels < LOUD_DBFS)
    return quiet


@dataclass
class Classifier:
    """A backbone plus one head of a run, with what the open-set check needs."""

    backbone: Backbone
    run: Run
    kind: str  # the head kind, e.g. "attention"
    predictor: HeadPredictor
    tta_views: tuple[str, ...]
    openset: OpenSetModel | None
    train_pooled: np.ndarray | None  # (n, d) mean embeddings of the run's clips, unit length
    train_labels: np.ndarray | None  # (n,) their labels
    warnings: tuple[str, ...] = ()
    finetuned: object | None = None  # a fused model's fine-tuned network (`Backbone.fine_tuned`), else None
    second: tuple[Backbone, HeadPredictor] | None = None  # a fused model's head on another backbone (YAMNet), else None
    evidence: dict | None = None  # a fused model's tag evidence by backbone key (soundlab.models.tag_evidence), else None
    prior: np.ndarray | None = None  # the class frequencies a fused model divides out (`fuse --class-balance`), else None

    @property
    def class_names(self) -> list[str]:
        return self.run.class_names

    @property
    def classes(self) -> list[str]:
        return self.run.classes

    def verdict(self, probs: np.ndarray, pooled: np.ndarray, audioset: np.ndarray,
                audioset2: np.ndarray | None = None) -> Verdict | None:
        """Is it one of the classes? From the head's probabilities (n_classes,), the mean embedding (d,) and the
        AudioSet tags (n_tags,), and a fused model's second backbone's tags (`audioset2`; without them the first
        backbone's tags speak alone); None if the run has no open-set calibration (or no stored embeddings)."""
        if self.openset is None or self.train_pooled is None:
            return None
        return self.openset.judge(probs=probs, pooled=pooled, tags=audioset, ref_pooled=self.train_pooled,
                                  ref_labels=self.train_labels, class_names=self.class_names,
                                  tag_names=self.backbone.tag_names, tagger=self.backbone.short_name,
                                  dataset=self.run.task_title, tags2=audioset2)


def load_classifier(run: Run, kind: str | None, backbone: Backbone,
                    other_backbone: Callable[[str], Backbone] | None = None) -> Classifier:
    """Load the head `kind` (default: the run's default model) of `run` for `backbone`.

    A head trained on another version of the backbone still loads, with a warning that says what to do.
    `other_backbone(key)` gives a fused model's second backbone (the app passes its shared one; default: loaded).
    """
    from soundlab.models import heads

    if not run.classifies_audio:
        raise ModelError(f"run {run.id} holds models trained from scratch on features; classify with a run of "
                         "heads on a backbone")
    kind = kind or run.default_model
    spec = run.model(kind)
    head_kind = spec.get("head", {}).get("kind", kind)  # a fused model's head member, else the model itself
    model = heads.load(run.model_path(kind))
    out_classes = int(model.output_shape[-1])
    if out_classes != len(run.classes):
        raise ModelError(f"head {kind} of run {run.id} outputs {out_classes} classes, the run lists "
                         f"{len(run.classes)}; the file does not belong to this run. Retrain with `python -m soundlab train`.")
    params = backbone.params
    if int(model.input_shape[-1]) != params.embedding_dim:
        raise ModelError(f"head {kind} of run {run.id} takes {int(model.input_shape[-1])}-d embeddings, but "
                         f"{backbone.name} gives {params.embedding_dim}-d ones; pick the backbone the run was trained on.")
    warnings = []
    if run.fingerprint != backbone.fingerprint:
        warnings.append(
            f"Run {run.id} was trained on backbone {run.fingerprint}, but the loaded backbone is "
            f"{backbone.fingerprint}. Its predictions may be off: set SOUNDLAB_YAMNET to the backbone it "
            "was trained on (\"tflite\" for the shipped model), or retrain with `python -m soundlab train`."
        )
    pooled = labels = None
    try:
        names, pooled, _ = read_embeddings(run)
        pooled, labels = normalize(pooled), run.labels_of(names)
        extra = read_extra_embeddings(run)  # recordings from elsewhere the run also learned from
        if extra is not None:
            pooled, labels = np.concatenate([pooled, normalize(extra[0])]), np.concatenate([labels, extra[2]])
    except (ModelError, KeyError) as e:
        pooled = labels = None
        warnings.append(f"Open-set check unavailable: the run's stored embeddings or labels cannot be read ({e}).")
    osm = run.openset(kind)
    if osm is None:
        warnings.append(f"Run {run.id} has no open-set calibration; sounds outside ESC-50 are not flagged. Make one "
                        "with `python -m soundlab calibrate`.")
    predictor = HeadPredictor(model, head_kind)
    finetuned = None
    if run.is_fused(kind):  # a fused model (soundlab.models.fusion): its fine-tuned network runs beside the head
        finetuned = backbone.fine_tuned(run.path / spec["finetuned"]["file"], len(run.classes))
    second = None
    if "second" in spec:  # a fused model with a head on a second backbone: it hears each window too
        from soundlab.models.backbone import load_backbone

        other = (other_backbone or load_backbone)(spec["second"]["backbone"]).beside()
        if other.fingerprint != spec["second"].get("fingerprint", other.fingerprint):
            warnings.append(f"The {other.name} member of {run.id} was trained on backbone "
                            f"{spec['second']['fingerprint']}, but the loaded one is {other.fingerprint}; its "
                            "predictions may be off.")
        second = (other, HeadPredictor(heads.load(run.path / spec["second"]["file"]), spec["second"]["kind"]))
    evidence = None
    if "tag_evidence" in spec:  # one more member per backbone: what its AudioSet tags say
        from soundlab.models import tag_evidence

        evidence = tag_evidence.load(run.path / spec["tag_evidence"]["file"])
        missing = {backbone.key, *([second[0].key] if second else [])} - set(evidence)
        if missing:
            raise ModelError(f"{run.id}: its tag evidence has no prototypes for {', '.join(sorted(missing))}; fuse the "
                             "run again")
    prior = None
    if "class_prior" in spec:
        prior = np.asarray(spec["class_prior"], np.float64)
        if prior.shape != (len(run.classes),) or not np.all(np.isfinite(prior)) or np.any(prior <= 0):
            raise ModelError(f"{run.id}: its class_prior is not one positive number per class; fuse the run again")
    clf = Classifier(backbone=backbone, run=run, kind=kind, predictor=predictor,
                     tta_views=tuple(spec.get("tta_views", ["orig"])), openset=osm, train_pooled=pooled,
                     train_labels=labels, warnings=tuple(warnings), finetuned=finetuned, second=second,
                     evidence=evidence, prior=prior)
    # Warm up at the shapes used at inference (a 5 s window): the head's traced functions and the backbone's
    # tensors are sized now, so the first classification is not 100s of ms slower.
    _, out = classify_waveform(clf, np.full(int(WINDOW_S * params.sample_rate_hz), 1e-3, np.float32))
    predictor.frame_probs(out.embeddings)
    return clf


@dataclass
class Diagnostics:
    duration_s: float
    sr: int
    channels: int
    format: str
    peak_dbfs: float
    rms_dbfs: float
    clipped_share: float  # share of samples at full scale (of the mono signal at the backbone's rate)
    silent_share: float  # share of 50 ms frames below SILENT_DBFS
    warnings: list[str] = field(default_factory=list)


@dataclass
class Result:
    probs: np.ndarray  # (n_classes,) overall
    class_names: list[str]
    classes: list[str]
    window_starts: np.ndarray  # (n_windows,) seconds
    window_probs: np.ndarray  # (n_windows, n_classes)
    frame_starts: np.ndarray  # (n_frames,) seconds (first window only when there are several)
    frame_probs: np.ndarray  # (n_frames, n_classes)
    frame_silent: np.ndarray  # (n_frames,) near-silent, or heard as Silence: drawn as silence on the timeline
    window_silent: np.ndarray  # (n_windows,) near-silent windows
    window_counted: np.ndarray  # (n_windows,) the windows the answer pools: those that hold the sound (`sounding`)
    audioset: np.ndarray  # (n_tags,) AudioSet tags, averaged over the counted windows
    embedding: np.ndarray  # (d,) the mean embedding over the counted windows (the verdict's distance)
    sound_embedding: np.ndarray  # (d,) the mean over the frames that are not silence (sound search)
    audioset_names: list[str]
    tagger: str  # the backbone whose AudioSet tags these are, e.g. "YAMNet"
    verdict: Verdict | None
    diagnostics: Diagnostics
    timings_ms: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    # other backbones' AudioSet tags heard on the way (a fused model's second backbone), by short name, averaged over
    # the windows as `tag_audio` does: the page shows them instead of running that backbone again
    more_tags: dict[str, np.ndarray] = field(default_factory=dict)

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(self.class_names[i], float(self.probs[i])) for i in order]

    def top_tags(self, k: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-self.audioset)[:k]
        return [(self.audioset_names[i], float(self.audioset[i])) for i in order]

    def category_totals(self, categories: list[str], order: list[str] | None = None) -> dict[str, float]:
        """The probability of each category: the sum over its classes (`categories`: each class's category, as
        `soundlab.runs.Run.categories` gives them; `order`: every category, shown even at 0)."""
        totals = {c: 0.0 for c in (order or dict.fromkeys(categories))}
        for p, c in zip(self.probs, categories, strict=True):
            totals[c] = totals.get(c, 0.0) + float(p)
        return totals

    def to_json(self, k: int = 5) -> dict:
        return {
            "top": [{"class": c, "probability": round(p, 4)} for c, p in self.top(k)],
            "in_set": None if self.verdict is None else self.verdict.in_set,
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "tagger": self.tagger,
            "tags": [{"label": c, "score": round(p, 4)} for c, p in self.top_tags(k)],
            "duration_s": round(self.diagnostics.duration_s, 3),
            "windows": int(len(self.window_starts)),
            "timings_ms": {k_: round(v, 2) for k_, v in self.timings_ms.items()},
            "warnings": self.warnings + self.diagnostics.warnings,
        }


def _window_views(clf: Classifier, y: np.ndarray) -> tuple[dict[str, BackboneOutput], float]:
    t0 = time.perf_counter()
    params = clf.backbone.params
    outs = {v: clf.backbone(embeddings.view_input(y, v, params)) for v in clf.tta_views}
    if "orig" not in outs:
        outs["orig"] = clf.backbone(y)
    return outs, (time.perf_counter() - t0) * 1000


def _head_probs(clf: Classifier, outs: dict[str, BackboneOutput], tuned=()) -> np.ndarray:
    """Mean of the head's probabilities over the test-time views (one batched call); for a fused model, combined
    with its other members' (`tuned`: their (clip, frame) probabilities of the window)."""
    frames = [outs[v].embeddings for v in clf.tta_views]
    if len({len(f) for f in frames}) == 1:
        p = clf.predictor.predict(np.stack(frames)).mean(axis=0)
    else:
        p = np.mean([clf.predictor.predict(f) for f in frames], axis=0)
    return fusion.geometric_mean(p, *(m[0] for m in tuned), prior=clf.prior) if tuned else p


def _frame_probs(clf: Classifier, out: BackboneOutput, tuned=()) -> np.ndarray:
    """(frames, n_classes) each backbone frame classified on its own (the timeline); for a fused model, combined with
    the other members' frames at the same time (the fine-tuned network's are the same columns of the same-shaped
    feature map; another backbone's frames have their own hop and are taken at the nearest time)."""
    p = clf.predictor.frame_probs(out.embeddings)
    members = [m[1] for m in tuned if len(m[1])]
    if not members:
        return p
    at = [m[np.minimum((np.arange(len(p)) * len(m)) // len(p), len(m) - 1)] for m in members]
    return fusion.geometric_mean(p, *at, prior=clf.prior)


_second_pool: ThreadPoolExecutor | None = None
_second_pool_lock = threading.Lock()


def _start_second(clf: Classifier, y: np.ndarray) -> Future | None:
    """A fused model's second backbone starts on the window `y` in its own thread before the first backbone runs:
    TFLite and the TorchScript network both run without the GIL, so on two cores the passes overlap instead of adding
    up (bench/RESULTS.md). None for a model without a second backbone."""
    global _second_pool
    if clf.second is None:
        return None
    other = clf.second[0]
    rate, sr = clf.backbone.params.sample_rate_hz, other.params.sample_rate_hz
    with _second_pool_lock:
        if _second_pool is None:
            _second_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soundlab-second")
    return _second_pool.submit(lambda: other(audio.resample(y, orig_sr=rate, target_sr=sr) if sr != rate else y))


def _tuned(clf: Classifier, y: np.ndarray, out: BackboneOutput, second: Future | None = None,
           tags2: list | None = None) -> tuple:
    """A fused model's other members on the window `y` at the backbone's rate: (clip, frame) probabilities of the
    fine-tuned network (it reuses the backbone's spectrogram, `out.log_mel`), of the head on a second backbone
    (`second`: its pass, from `_start_second`; its AudioSet tags are appended to `tags2`) and of each backbone's tag
    evidence (from the tags the passes gave anyway); () for a plain head."""
    members = []
    if clf.finetuned is not None:
        members.append(clf.finetuned(y, out.log_mel))
    heard = [(clf.backbone.key, out)]
    if clf.second is not None:
        o = (second or _start_second(clf, y)).result()
        head = clf.second[1]
        members.append((head.predict(o.embeddings), head.frame_probs(o.embeddings)))
        heard.append((clf.second[0].key, o))
        if tags2 is not None:
            tags2.append(o.pooled_scores)
    if clf.evidence:
        members += [(clf.evidence[key].predict(o.pooled_scores), clf.evidence[key].predict(o.scores)) for key, o in heard]
    return tuple(members)


class _Levels:
    """Running level statistics of the file as decoded (every channel, at its own rate): peak, RMS, clipping, silent
    50 ms frames. Measured on the file, not on a backbone's resampled copy, whose peak can overshoot the file's; the
    RMS levels around the mean, as every level (`dsp.level_dbfs`), the peak and the clipping of the samples as they are."""

    def __init__(self, sr: int = 0):
        self.sr = sr  # the file's rate
        self.n = 0  # samples per channel
        self.values = 0  # samples over all channels
        self.sumsq = 0.0
        self.sum = 0.0
        self.peak = 0.0
        self.clipped = 0
        self.frames = 0
        self.silent = 0
        self.carry = np.zeros((0, 0), np.float32)  # the samples of a 50 ms frame not yet complete, (n, channels)

    def add(self, data: np.ndarray) -> None:
        """One decoded block, (n, channels) float32."""
        self.n += len(data)
        self.values += data.size
        self.sumsq += float(np.sum(data * data))  # not np.dot: see openset.nearest_distance on BLAS threads
        self.sum += float(np.sum(data, dtype=np.float64))
        if data.size:
            self.peak = max(self.peak, float(np.max(np.abs(data))))
        self.clipped += int(np.count_nonzero(np.abs(data) >= CLIP_LEVEL))
        samples = np.concatenate([self.carry, data]) if len(self.carry) else data
        hop = int(0.05 * self.sr)
        k = len(samples) // hop
        if k:  # each channel's variance per frame, averaged over the channels
            power = samples[: k * hop].reshape(k, hop, -1).var(axis=1).mean(axis=1)
            self.frames += k
            self.silent += int(np.count_nonzero(10 * np.log10(power + 1e-20) < SILENT_DBFS))
        self.carry = samples[k * hop:]

    @property
    def rms(self) -> float:
        mean = self.sum / max(self.values, 1)
        return float(np.sqrt(max(self.sumsq / max(self.values, 1) - mean * mean, 0.0)))

    @property
    def clipped_share(self) -> float:
        return self.clipped / max(self.values, 1)

    @property
    def silent_share(self) -> float:
        return self.silent / max(self.frames, 1)


class _Windows:
    """Cuts a stream of blocks into windows of `win` samples every `hop`, plus one final window aligned to the end
    (or the whole audio, if it is shorter than a window). Bounded memory: keeps at most a window and a block."""

    def __init__(self, win: int, hop: int):
        self.win, self.hop = win, hop
        self.buf = np.zeros(0, np.float32)
        self.offset = 0  # sample index of buf[0]
        self.last = np.zeros(0, np.float32)  # the last `win` samples seen, for the final window
        self.covered = 0  # audio up to this sample index is inside some window
        self.count = 0

    def feed(self, block: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """The whole windows this block completes, as (samples, start sample)."""
        out = []
        self.buf = np.concatenate([self.buf, block])
        self.last = np.concatenate([self.last, block])[-self.win:]
        while len(self.buf) >= self.win:  # the overlap stays for the next window
            out.append((self.buf[: self.win], self.offset))
            self.covered = self.offset + self.win
            self.buf = self.buf[self.hop:]
            self.offset += self.hop
        self.count += len(out)
        return out

    def finish(self) -> list[tuple[np.ndarray, int]]:
        """The last window: the whole audio if no window was complete, else one aligned to the end if needed."""
        end = self.offset + len(self.buf)
        if self.count == 0:
            return [(self.last, 0)]
        if end > self.covered:
            return [(self.last, end - len(self.last))]
        return []


def _db(x: float) -> float:
    return float(20 * np.log10(max(x, 1e-10)))


class _Accumulator:
    """What `classify_audio` gathers window by window: probabilities, tags, embeddings, levels, timings."""

    def __init__(self, clf: Classifier):
        self.clf = clf
        params = clf.backbone.params
        self.sr = params.sample_rate_hz
        self.starts: list[float] = []
        self.probs: list[np.ndarray] = []
        self.levels: list[float] = []
        # per window: AudioSet tags, a fused model's second backbone's tags, mean embedding, and the sum and count of
        # the embeddings of its frames that are not silence (the answer pools the windows that hold the sound)
        self.tags: list[np.ndarray] = []
        self.tags2: list[np.ndarray] = []
        self.pooled: list[np.ndarray] = []
        self.sound: list[tuple[np.ndarray, int]] = []
        self.first_frames: tuple[np.ndarray, np.ndarray] | None = None  # the first window's frame probabilities
        self.silence_at = silence_index(clf.backbone.tag_names)
        self.ms = {"decode": 0.0, "backbone": 0.0, "head": 0.0}

    def add(self, y: np.ndarray, start: int) -> None:
        """Classify one window `y` (at the backbone's rate) starting at sample `start`."""
        clf = self.clf
        self.levels.append(level_dbfs(y))  # the recording's own level, not the one the models hear
        z = heard(y, self.levels[-1])
        second = _start_second(clf, z)
        outs, ms = _window_views(clf, z)
        self.ms["backbone"] += ms
        t0 = time.perf_counter()
        o = outs["orig"]
        got: list[np.ndarray] = []
        tuned = _tuned(clf, z, o, second, got)
        if got:
            self.tags2.append(got[0].astype(np.float32))
        self.probs.append(_head_probs(clf, outs, tuned))
        if self.first_frames is None:
            self.first_frames = (_frame_probs(clf, o, tuned), silent_frames(y, o, clf.backbone))
        self.ms["head"] += (time.perf_counter() - t0) * 1000
        self.starts.append(start / self.sr)
        self.tags.append(o.pooled_scores.astype(np.float32))
        self.pooled.append(o.pooled_embedding.astype(np.float32))
        keep = (np.ones(len(o.embeddings), bool) if self.silence_at is None
                else np.asarray(o.scores[:, self.silence_at], np.float32) < SILENT_FRAME)
        self.sound.append((o.embeddings[keep].sum(axis=0), int(keep.sum())))

    def result(self, info: audio.AudioInfo, levels: _Levels, t_start: float) -> Result:
        clf = self.clf
        window_probs = np.asarray(self.probs, np.float32)
        counted = sounding(self.levels)
        probs = window_probs[counted].mean(axis=0)
        tags = np.asarray(self.tags)[counted].mean(axis=0)
        pooled = np.asarray(self.pooled)[counted].mean(axis=0)
        frames = sum(n for (_, n), c in zip(self.sound, counted) if c)
        # all silence: the plain mean, as `sound_pooled` does
        sound = (sum(e for (e, _), c in zip(self.sound, counted) if c) / frames).astype(np.float32) if frames else pooled
        tags2 = np.asarray(self.tags2)[counted].mean(axis=0) if self.tags2 else None
        if np.all(np.asarray(self.levels) < QUIET_DBFS):  # silent all through: no class, whatever the faint tags say
            verdict = openset.silence(clf.class_names[int(np.argmax(probs))], tagger=clf.backbone.short_name,
                                      dataset=clf.run.task_title)
        else:
            verdict = clf.verdict(probs, pooled, tags, tags2)
        warnings = []
        if levels.clipped_share > 0.001:
            warnings.append(f"{levels.clipped_share:.1%} of the samples are clipped (at full scale); the recording is "
                            "distorted.")
        if levels.silent_share > 0.8:
            warnings.append(f"{levels.silent_share:.0%} of the audio is near-silent (below {SILENT_DBFS:.0f} dBFS).")
        if info.sr < self.sr:
            warnings.append(f"Low sample rate ({info.sr} Hz): nothing above {info.sr // 2} Hz was recorded.")
        diag = Diagnostics(
            duration_s=info.duration_s, sr=info.sr, channels=info.channels, format=f"{info.format} {info.subtype}",
            peak_dbfs=_db(levels.peak), rms_dbfs=_db(levels.rms),
            clipped_share=levels.clipped_share, silent_share=levels.silent_share, warnings=warnings,
        )
        fprobs, fsilent = self.first_frames
        timings = {**self.ms, "total": (time.perf_counter() - t_start) * 1000}
        return Result(probs=probs, class_names=clf.class_names, classes=clf.classes,
                      window_starts=np.asarray(self.starts, np.float32), window_probs=window_probs,
                      frame_starts=clf.backbone.frame_starts(len(fprobs)), frame_probs=fprobs, frame_silent=fsilent,
                      window_silent=np.asarray(self.levels) < QUIET_DBFS,
                      window_counted=counted, audioset=tags, embedding=pooled,
                      sound_embedding=sound, audioset_names=clf.backbone.tag_names, tagger=clf.backbone.short_name,
                      verdict=verdict, diagnostics=diag, timings_ms=timings, warnings=list(clf.warnings),
                      more_tags={clf.second[0].short_name: tags2} if tags2 is not None else {})


def classify_audio(clf: Classifier, source: audio.Source, *, name: str | None = None,
                   limits: AudioLimits | None = None, progress=None) -> Result:
    """Classify a file (path, bytes or upload) of any length up to ``limits.max_duration_s`` (default
    `CLASSIFY_LIMITS`).

    Raises
    ------
    AudioError
        Undecodable, empty, too long, non-finite or silent audio (the message names the problem).
    """
    t_start = time.perf_counter()
    sr = clf.backbone.params.sample_rate_hz
    levels = _Levels()
    info, blocks = audio.stream(source, sr=sr, name=name, limits=limits or CLASSIFY_LIMITS, on_decoded=levels.add)
    levels.sr = info.sr  # blocks are decoded only once iterated
    label = name or audio.name_of(source, None)
    windows = _Windows(int(WINDOW_S * sr), int(HOP_S * sr))
    acc = _Accumulator(clf)
    total = max(1, int(info.duration_s * sr))
    t0 = time.perf_counter()
    for block in blocks:
        acc.ms["decode"] += (time.perf_counter() - t0) * 1000
        for y, start in windows.feed(block):
            acc.add(y, start)
            if progress:
                progress(min(windows.covered, total), total)
        t0 = time.perf_counter()
    acc.ms["decode"] += (time.perf_counter() - t0) * 1000
    if levels.n and levels.peak <= audio.SILENCE_PEAK:
        raise AudioError(f"{label}: the audio is silent (every sample is at or below -90 dBFS); nothing to classify.")
    if levels.n / info.sr < 0.05:
        raise AudioError(f"{label}: the audio is too short ({1000 * levels.n / info.sr:.0f} ms); "
                         "at least 50 ms is needed.")
    for y, start in windows.finish():
        acc.add(y, start)
    return acc.result(info, levels, t_start)


def classify_waveform(clf: Classifier, y: np.ndarray, tags2: list | None = None) -> tuple[np.ndarray, BackboneOutput]:
    """Probabilities (n_classes,) of one short window at the backbone's rate, and its backbone output (live mode);
    a fused model's second backbone's tags of the window are appended to `tags2`, if given."""
    second = _start_second(clf, y)
    outs, _ = _window_views(clf, y)
    return _head_probs(clf, outs, _tuned(clf, y, outs["orig"], second, tags2)), outs["orig"]


def _backbone_windows(backbone: Backbone, source: audio.Source, *, name: str | None = None,
                      limits: AudioLimits | None = None) -> list[BackboneOutput]:
    """The backbone's output for each window `classify_audio` pools (bounded memory), heard as it hears them."""
    sr = backbone.params.sample_rate_hz
    _, blocks = audio.stream(source, sr=sr, name=name, limits=limits or CLASSIFY_LIMITS)
    windows = _Windows(int(WINDOW_S * sr), int(HOP_S * sr))
    outs, levels = [], []
    for block in itertools.chain(blocks, [None]):
        for y, _ in windows.feed(block) if block is not None else windows.finish():
            levels.append(level_dbfs(y))
            outs.append(backbone(heard(y, levels[-1])))
    return [o for o, c in zip(outs, sounding(levels)) if c]


def tag_audio(backbone: Backbone, source: audio.Source, **kw) -> np.ndarray:
    """(n_tags,) a backbone's AudioSet tags of a file, averaged over the windows `classify_audio` uses.

    Lets a page show what each backbone hears, whichever one the classifier sits on. Raises AudioError.
    """
    return np.mean([o.pooled_scores for o in _backbone_windows(backbone, source, **kw)], axis=0).astype(np.float32)


def pooled_audio(backbone: Backbone, source: audio.Source, **kw) -> np.ndarray:
    """(d,) the mean embedding of a file's windows as `classify_audio` pools it for the open-set check. Raises
    AudioError."""
    return np.mean([o.pooled_embedding for o in _backbone_windows(backbone, source, **kw)], axis=0).astype(np.float32)


def embed_audio(backbone: Backbone, source: audio.Source, **kw) -> np.ndarray:
    """(d,) a backbone's mean embedding of the frames of a file that are not silence, over all its windows: the
    vector sound search compares with a run's stored `sound` embeddings. Raises AudioError."""
    outs = _backbone_windows(backbone, source, **kw)
    frames = np.concatenate([o.embeddings for o in outs])
    scores = np.concatenate([o.scores for o in outs])
    return sound_pooled(frames, scores, silence_index(backbone.tag_names)).astype(np.float32)

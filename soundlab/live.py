"""Live classification of a stream of short audio frames (the microphone), without Streamlit.

Frames (e.g. WebRTC's 20 ms, 48 kHz, stereo, int16) are mixed to mono, resampled to the backbone's rate with a
streaming resampler and kept in a ring buffer. Every `hop_s` seconds of new audio the last `window_s` seconds
are classified; an optional exponential moving average smooths the result, and each update carries the
open-set verdict of its window.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from soundlab.dsp import level_dbfs
from soundlab.openset import Verdict

# classify(y) -> (class probabilities (n_classes,), AudioSet tags of the window (n_tags,), its embedding (d,))
ClassifyFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
# verdict(class probabilities, mean embedding, AudioSet tags) -> Verdict or None
VerdictFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Verdict | None]
# tagger(window at the classifier's rate) -> AudioSet tags of another backbone (n_tags,)
TaggerFn = Callable[[np.ndarray], np.ndarray]


def frame_samples(arr: np.ndarray, *, planar: bool, channels: int) -> np.ndarray:
    """An av.AudioFrame's ``to_ndarray()`` -> (n, channels): packed arrays are (1, n*channels)
    interleaved, planar ones (channels, n)."""
    arr = np.asarray(arr)
    if planar:
        return arr.T
    return arr.reshape(-1, channels)


def to_float_mono(samples: np.ndarray) -> np.ndarray:
    """(n, channels) int16/int32/float -> (n,) float32 in [-1, 1]."""
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    return x.mean(axis=1, dtype=np.float32)


@dataclass(frozen=True)
class Update:
    time_s: float  # stream time of the window's end
    probs: np.ndarray  # (n_classes,) smoothed
    raw_probs: np.ndarray  # (n_classes,) this window only
    audioset: np.ndarray  # (n_tags,) mean AudioSet scores of the window
    embedding: np.ndarray  # (d,) mean embedding of the window
    verdict: Verdict | None  # is this window one of the classes? (None: no open-set calibration)
    other_tags: dict  # another backbone's short name -> its AudioSet tags of the same window
    latency_s: float  # wall time from the newest frame's arrival to these probabilities
    level_dbfs: float
    silent: bool  # near-silent, or the tagger hears Silence: no class is shown
    shown: str  # the outcome to show ("in-set", "foreign", "unsure", "silence"), steadied by hysteresis


class LiveClassifier:
    """Rolling-window classification of a stream. `hysteresis` consecutive updates must agree before the outcome
    shown changes (in-set, not one of the classes, unsure, silence), so the verdict does not flicker."""

    def __init__(self, classify: ClassifyFn, *, sample_rate_hz: int, min_samples: int, window_s: float = 1.92,
                 hop_s: float = 0.48, smoothing: float = 0.0, history: int = 40, verdict: VerdictFn | None = None,
                 taggers: dict[str, TaggerFn] | None = None, is_silent: Callable[[float, np.ndarray], bool] | None = None,
                 hysteresis: int = 3):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.classify, self.judge, self.taggers = classify, verdict, dict(taggers or {})
        self.is_silent = is_silent or (lambda level, tags: level < -50.0)
        self.hysteresis = hysteresis
        self._recent: collections.deque[str] = collections.deque(maxlen=max(1, hysteresis))
        self.shown = "in-set"
        self.sr = sample_rate_hz
        self.window = int(window_s * sample_rate_hz)
        self.hop = int(hop_s * sample_rate_hz)
        self.min_samples = min_samples  # one backbone frame
        self.smoothing = smoothing
        self.buffer = np.zeros(0, np.float32)
        self.total = 0  # samples received, at the backbone's rate
        self.next_at = self.min_samples  # classify when total reaches this
        self.newest_arrival = 0.0
        self.smoothed: np.ndarray | None = None
        self.history: collections.deque[Update] = collections.deque(maxlen=history)
        self._resampler = None
        self._in_sr = None

    def push(self, samples: np.ndarray, sr: int, arrival: float | None = None) -> None:
        """Add one frame: (n, channels) or (n,) samples at rate `sr`."""
        import soxr

        y = to_float_mono(samples)
        if sr != self.sr:
            if self._resampler is None or self._in_sr != sr:
                self._resampler = soxr.ResampleStream(sr, self.sr, 1, dtype="float32", quality="HQ")
                self._in_sr = sr
            y = self._resampler.resample_chunk(y)
        self.buffer = np.concatenate([self.buffer, y])[-self.window :]
        self.total += len(y)
        self.newest_arrival = arrival if arrival is not None else time.monotonic()

    def ready(self) -> bool:
        return self.total >= self.next_at

    def step(self) -> Update | None:
        """Classify the current window if enough new audio arrived; None otherwise."""
        if not self.ready():
            return None
        self.next_at = self.total + self.hop
        y = self.buffer
        probs, audioset, embedding = self.classify(y)
        if self.smoothed is None or self.smoothing == 0:
            self.smoothed = probs
        else:
            self.smoothed = self.smoothing * self.smoothed + (1 - self.smoothing) * probs
        level = level_dbfs(y)
        silent = bool(self.is_silent(level, audioset))
        verdict = self.judge(probs, embedding, audioset) if self.judge is not None and not silent else None
        self._recent.append("silence" if silent else verdict.outcome if verdict is not None else "in-set")
        if len(self._recent) == self._recent.maxlen and len(set(self._recent)) == 1:
            self.shown = self._recent[-1]
        update = Update(time_s=self.total / self.sr, probs=self.smoothed, raw_probs=probs,
                        audioset=audioset, embedding=embedding, verdict=verdict,
                        other_tags={name: tag(y) for name, tag in self.taggers.items()},
                        latency_s=time.monotonic() - self.newest_arrival, level_dbfs=level, silent=silent,
                        shown=self.shown)
        self.history.append(update)
        return update


def for_classifier(clf, *, window_s: float = 1.92, smoothing: float = 0.0, others: tuple = ()) -> LiveClassifier:
    """A live stream classified by `clf` (a `soundlab.classify.Classifier`), one update every frame hop; `others` are
    more backbones whose AudioSet tags of each window come with the update."""
    from soundlab.audio import resample
    from soundlab.classify import classify_waveform

    second_tags: list[np.ndarray | None] = [None]  # a fused model's YAMNet tags of the window just classified

    def classify(y: np.ndarray):
        got: list[np.ndarray] = []
        probs, out = classify_waveform(clf, y, got)
        second_tags[0] = got[0] if got else None
        return probs, out.pooled_scores, out.pooled_embedding

    def verdict(probs: np.ndarray, embedding: np.ndarray, tags: np.ndarray):
        # the same window's second tags: a stream's updates run one at a time, classify then verdict
        return clf.verdict(probs, embedding, tags, second_tags[0])

    params = clf.backbone.params

    def tagger(bb):
        if clf.second is not None and bb.key == clf.second[0].key:  # it heard this window inside the model already
            return lambda y: second_tags[0]
        return lambda y: bb(resample(y, orig_sr=params.sample_rate_hz, target_sr=bb.params.sample_rate_hz)).pooled_scores

    from soundlab.classify import LOUD_DBFS, QUIET_DBFS, SILENCE_SCORE, SILENCE_TAG

    silence = clf.backbone.tag_names.index(SILENCE_TAG) if SILENCE_TAG in clf.backbone.tag_names else None

    def is_silent(level: float, tags: np.ndarray) -> bool:
        return level < QUIET_DBFS or (silence is not None and tags[silence] >= SILENCE_SCORE and level < LOUD_DBFS)

    return LiveClassifier(classify, sample_rate_hz=params.sample_rate_hz, min_samples=params.min_samples,
                          window_s=window_s, hop_s=params.frame_hop_s, smoothing=smoothing, verdict=verdict,
                          taggers={bb.short_name: tagger(bb) for bb in others}, is_silent=is_silent)

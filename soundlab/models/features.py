"""Hand-made input features for the from-scratch models, computed once per clip and cached.

* ``logmel``   -- log-mel spectrograms with the seeds' settings: 22.05 kHz input, n_fft 1024, hop 320,
                 window 320, 128 mel bands up to `fmax_hz` (default 11025 Hz); shape (128, 345) for 5 s.
* ``mfcc``     -- summary statistics of 40 MFCCs and their deltas (mean and standard deviation over
                 time), the classic ESC-50 baseline features; shape (160,).
* ``wave``     -- the waveform at 8 kHz for the 1-D CNN; shape (40000,) for 5 s.
* ``eat-logmel`` -- EfficientAT's own input (`soundlab.models.efficientat.log_mel`: 32 kHz, pre-emphasis, 1024-point
                 STFT every 320 samples, 128 Kaldi mel bands up to 15 kHz, normalised); shape (128, 500) for 5 s.
                 The fine-tuned network trains on these.

The cache is ``SOUNDLAB_CACHE_DIR/features/<kind>-<settings hash>.npz``, keyed like the embedding cache by
clip name and file size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from soundlab import audio
from soundlab.errors import AudioError, ParameterError
from soundlab.storage import file_stamp, save_npz_atomic

CLIP_SECONDS = 5.0
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FeatureSpec:
    kind: str  # logmel | mfcc | wave
    sr: int = 22_050
    n_fft: int = 1024
    hop_length: int = 320
    win_length: int = 320
    n_mels: int = 128
    fmax_hz: float = 11_025.0
    n_mfcc: int = 40
    seconds: float = CLIP_SECONDS

    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.kind}-{digest}"

    @property
    def samples(self) -> int:
        return int(round(self.seconds * self.sr))


DESCRIPTIONS = {
    "logmel": "log-mel spectrograms (22.05 kHz, n_fft 1024, hop 320, 128 mels)",
    "mfcc": "MFCC statistics (mean and std of 40 MFCCs and their deltas)",
    "wave": "the raw waveform at 8 kHz",
    "eat-logmel": "EfficientAT's log-mel input (32 kHz, 128 Kaldi mels up to 15 kHz)",
}

SPECS = {
    "logmel": FeatureSpec("logmel"),
    "mfcc": FeatureSpec("mfcc"),
    "wave": FeatureSpec("wave", sr=8_000),
    "eat-logmel": FeatureSpec("eat-logmel", sr=32_000, n_fft=1024, hop_length=320, win_length=800, n_mels=128,
                              fmax_hz=15_000.0),
}


def specs_for(sr: int = 22_050, fmax_hz: float = 0.0) -> dict[str, FeatureSpec]:
    """The feature specs with the log-mel input rate and top band edge set (`fmax_hz` 0: half the rate).

    Raises
    ------
    ParameterError
        A rate outside 8-48 kHz or an fmax above half the rate.
    """
    if not 8_000 <= sr <= 48_000:
        raise ParameterError(f"log-mel input rate {sr} Hz is out of range (8000-48000; the seeds used 22050 or 32000)")
    fmax = float(fmax_hz) or sr / 2
    if not 0 < fmax <= sr / 2:
        raise ParameterError(f"log-mel fmax {fmax_hz:g} Hz must be above 0 and at most half the rate ({sr / 2:g} Hz)")
    return {"logmel": FeatureSpec("logmel", sr=sr, fmax_hz=fmax), "mfcc": FeatureSpec("mfcc", sr=sr, fmax_hz=fmax),
            "wave": SPECS["wave"], "eat-logmel": SPECS["eat-logmel"]}


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to exactly n samples (ESC-50 clips are 5 s; other audio is made to fit)."""
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def log_mel(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(n,) at spec.sr -> (n_mels, t) float32 log power (dB re 1.0, floored at -100 dB)."""
    import librosa

    S = librosa.feature.melspectrogram(y=y, sr=spec.sr, n_fft=spec.n_fft, hop_length=spec.hop_length,
                                       win_length=spec.win_length, n_mels=spec.n_mels, fmax=spec.fmax_hz)
    return (10.0 * np.log10(np.maximum(S, 1e-10))).astype(np.float32)


def compute(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Features of one clip already at spec.sr."""
    y = fit_length(y.astype(np.float32, copy=False), spec.samples)
    if spec.kind == "wave":
        return y
    if spec.kind == "eat-logmel":
        from soundlab.models.efficientat import log_mel as eat_log_mel

        return eat_log_mel(y)
    S_db = log_mel(y, spec)
    if spec.kind == "logmel":
        return S_db
    if spec.kind == "mfcc":
        import librosa

        mfcc = librosa.feature.mfcc(S=S_db, n_mfcc=spec.n_mfcc)  # (n_mfcc, t)
        delta = librosa.feature.delta(mfcc)
        return np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]).astype(np.float32)
    raise ParameterError(f"unknown feature kind {spec.kind!r}; known: {', '.join(SPECS)}")


def feature_set(clips: list[tuple[str, str]], spec: FeatureSpec, *, cache_dir: Path,
                progress: Progress | None = None, dtype=np.float32, log: Callable[[str], None] | None = None,
                view: str | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Features of (filename, path) clips, computing only what the cache lacks; with `view` (one of
    `soundlab.augment.VIEWS`), of each clip as another recording would give it, seeded by its file name.

    Returns
    -------
    names : np.ndarray [shape=(m,)]
    X : np.ndarray [shape=(m, ...)], `dtype` (stored as float16; keep float16 to halve the memory of big sets)
    failures : list of (filename, message)
    """
    from soundlab import augment

    if view is not None and view not in augment.VIEWS:
        raise ParameterError(f"unknown recording-conditions view {view!r}; known: {', '.join(augment.VIEWS)}")
    # a view's file names its chain's version: a changed chain never reads an old cache
    suffix = f"-{view}-v{augment.VERSION}" if view else ""
    path = Path(cache_dir) / "features" / f"{spec.key()}{suffix}.npz"
    cached: dict[str, tuple[tuple[int, int], np.ndarray]] = {}
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                for name, stamp, x in zip(z["names"], z["stamps"], z["X"]):
                    cached[str(name)] = (tuple(int(v) for v in stamp), x)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:  # damaged: rebuilt, never trusted
            cached = {}
            if log is not None:
                log(f"the feature cache {path} is damaged ({type(e).__name__}: {e}); its clips are computed again")
    todo = [(f, p) for f, p in clips if f not in cached or cached[f][0] != file_stamp(p)]
    failures: list[tuple[str, str]] = []

    def work(item):
        name, p = item
        try:
            y = audio.load(p, sr=spec.sr, allow_silent=True).y
            if view:
                y = augment.real_conditions(y, spec.sr, view=view, name=name)
            return name, p, compute(y, spec)
        except AudioError as e:
            return name, p, e

    done = len(clips) - len(todo)
    if todo:
        with ThreadPoolExecutor(max_workers=2) as pool:  # decoding and librosa release the GIL often enough
            for name, p, x in pool.map(work, todo):
                done += 1
                if isinstance(x, AudioError):
                    failures.append((name, str(x)))
                else:
                    cached[name] = (file_stamp(p), x.astype(np.float16))
                if progress:
                    progress(done, len(clips))
        names = sorted(cached)
        save_npz_atomic(path, names=np.array(names), stamps=np.array([cached[n][0] for n in names], np.int64),
                        X=np.stack([cached[n][1] for n in names]))
    elif progress:
        progress(done, len(clips))
    failed = {f for f, _ in failures}
    names = [f for f, _ in clips if f not in failed]
    X = np.stack([cached[n][1] for n in names]).astype(dtype, copy=False) if names else np.zeros((0,), dtype)
    return np.array(names), X, failures

"""Spectral features and plotting helpers: mel spectrogram in dB, waveform envelope, level.

Parameter names follow librosa (``y``, ``sr``, ``n_fft``, ``hop_length``, ``win_length``,
``n_mels``, ``fmax``) and are keyword-only, except the level's one argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from soundlab.errors import ParameterError


def level_dbfs(y: np.ndarray) -> float:
    """RMS level of a stretch of samples in dBFS (-200 for nothing), around its mean: a recorder's DC offset is not
    sound (the models' front ends do not hear it), so it neither makes silence loud nor a quiet sound loud enough."""
    return float(10 * np.log10(max(float(np.var(y, dtype=np.float64)) if len(y) else 0.0, 1e-20)))


@dataclass(frozen=True)
class MelParams:
    """Mel spectrogram settings, as the Explore page exposes them."""

    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None  # None -> n_fft
    n_mels: int = 128
    fmin_hz: float = 0.0
    fmax_hz: float | None = None  # None -> sr / 2
    top_db: float = 80.0

    def check(self, sr: int) -> None:
        """Raise ParameterError naming the first bad value for rate `sr`."""
        if not 16 <= self.n_fft <= 16384:
            raise ParameterError(f"n_fft must be between 16 and 16384, got {self.n_fft}")
        win = self.win_length or self.n_fft
        if not 1 <= win <= self.n_fft:
            raise ParameterError(f"win_length must be between 1 and n_fft ({self.n_fft}), got {win}")
        if not 1 <= self.hop_length <= 4 * self.n_fft:
            raise ParameterError(f"hop_length must be between 1 and 4*n_fft, got {self.hop_length}")
        if not 1 <= self.n_mels <= 512:
            raise ParameterError(f"n_mels must be between 1 and 512, got {self.n_mels}")
        fmax = self.fmax_hz if self.fmax_hz is not None else sr / 2
        if not 0 <= self.fmin_hz < fmax <= sr / 2:
            raise ParameterError(
                f"need 0 <= fmin < fmax <= sr/2 ({sr / 2:.0f} Hz); got fmin={self.fmin_hz}, fmax={fmax}"
            )


@lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    # (n_mels, 1 + n_fft // 2); cached because building it costs more than the STFT of a clip
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


def mel_spectrogram_db(*, y: np.ndarray, sr: int, params: MelParams = MelParams()) -> np.ndarray:
    """Mel power spectrogram in dB relative to its maximum, floored at ``-top_db``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
    sr : int > 0
    params : MelParams

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, t), dtype=float32]
        ``t = 1 + n // hop_length`` (centered frames). Silence gives ``-top_db`` everywhere
        except that an all-zero input gives 0 dB everywhere (its own maximum).

    Raises
    ------
    ParameterError
        If a parameter is out of range for `sr` (see :meth:`MelParams.check`).
    """
    import librosa

    params.check(sr)
    fmax = params.fmax_hz if params.fmax_hz is not None else sr / 2
    # stft: (1 + n_fft // 2, t) complex
    D = librosa.stft(y.astype(np.float32, copy=False), n_fft=params.n_fft, hop_length=params.hop_length,
                     win_length=params.win_length or params.n_fft, center=True)
    power = np.abs(D) ** 2
    S = _mel_basis(sr, params.n_fft, params.n_mels, float(params.fmin_hz), float(fmax)) @ power
    # S: (n_mels, t) power; dB relative to the peak so clips at different levels compare by shape
    amin = 1e-10
    S_db = 10.0 * np.log10(np.maximum(S, amin))
    S_db -= max(float(S_db.max()), 10.0 * np.log10(amin))
    return np.maximum(S_db, -params.top_db).astype(np.float32)


def mel_frequencies(*, sr: int, params: MelParams = MelParams()) -> np.ndarray:
    """Centre frequency in Hz of each mel band, shape (n_mels,)."""
    import librosa

    fmax = params.fmax_hz if params.fmax_hz is not None else sr / 2
    return librosa.mel_frequencies(n_mels=params.n_mels + 2, fmin=params.fmin_hz, fmax=fmax)[1:-1]


def frame_times(n_frames: int, *, sr: int, hop_length: int) -> np.ndarray:
    """Time in seconds of each (centered) STFT frame."""
    return np.arange(n_frames) * (hop_length / sr)


def envelope(*, y: np.ndarray, sr: int, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max envelope of a waveform for plotting with a bounded number of points.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : int
    max_points : int >= 2
        Number of buckets at most; each bucket keeps its minimum and maximum, so the
        envelope of a 1-hour file costs as much to draw as that of a 5 s clip.

    Returns
    -------
    t : np.ndarray [shape=(k,)]   bucket start times in seconds
    lo : np.ndarray [shape=(k,)]  minimum of each bucket
    hi : np.ndarray [shape=(k,)]  maximum of each bucket
        ``k <= max_points``. If ``n <= max_points`` each sample is its own bucket.
    """
    if max_points < 2:
        raise ParameterError(f"max_points must be at least 2, got {max_points}")
    y = np.asarray(y)
    n = y.shape[-1]
    if n <= max_points:
        t = np.arange(n) / sr
        return t, y.copy(), y.copy()
    size = int(np.ceil(n / max_points))
    k = n // size
    body = y[: k * size].reshape(k, size)
    lo, hi = body.min(axis=1), body.max(axis=1)
    if k * size < n:  # the ragged tail is a bucket of its own
        lo = np.append(lo, y[k * size :].min())
        hi = np.append(hi, y[k * size :].max())
    t = np.arange(lo.shape[0]) * (size / sr)
    return t, lo, hi

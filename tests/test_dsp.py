"""soundlab.dsp: mel spectrogram in dB and the waveform envelope."""

import numpy as np
import pytest

from soundlab import dsp
from soundlab.errors import ParameterError

SR = 16_000


def test_mel_shape_and_range(tone_440):
    p = dsp.MelParams(n_fft=512, hop_length=160, n_mels=64)
    S = dsp.mel_spectrogram_db(y=tone_440, sr=SR, params=p)
    assert S.shape == (64, 1 + SR // 160) and S.dtype == np.float32
    assert S.max() == pytest.approx(0.0) and S.min() >= -p.top_db


def test_mel_peak_band_is_the_tone(tone_440):
    p = dsp.MelParams(n_fft=1024, hop_length=256, n_mels=128)
    S = dsp.mel_spectrogram_db(y=tone_440, sr=SR, params=p)
    freqs = dsp.mel_frequencies(sr=SR, params=p)
    peak_band = int(np.argmax(S[:, S.shape[1] // 2]))
    assert freqs[peak_band] == pytest.approx(440, rel=0.1)


def test_mel_of_silence_is_flat():
    S = dsp.mel_spectrogram_db(y=np.zeros(SR, np.float32), sr=SR)
    assert np.all(S == S.flat[0])


@pytest.mark.parametrize("kwargs, sr", [
    ({"n_fft": 1024}, SR),
    ({"n_fft": 2048, "hop_length": 512, "win_length": 1024, "n_mels": 40, "fmax_hz": 4000.0}, SR),
    ({"n_fft": 1024, "hop_length": 320, "win_length": 320, "n_mels": 128}, 32_000),  # the seeds' settings
])
def test_mel_parameters_change_the_shape(kwargs, sr, rng):
    y = rng.uniform(-0.5, 0.5, sr).astype(np.float32)
    p = dsp.MelParams(**kwargs)
    S = dsp.mel_spectrogram_db(y=y, sr=sr, params=p)
    assert S.shape == (p.n_mels, 1 + sr // p.hop_length)


def test_fmax_limits_the_bands():
    p = dsp.MelParams(n_mels=32, fmax_hz=2000.0)
    assert dsp.mel_frequencies(sr=SR, params=p).max() < 2000


@pytest.mark.parametrize("kwargs, match", [
    ({"win_length": 4096, "n_fft": 1024}, "win_length"),
    ({"n_fft": 8}, "n_fft"),
    ({"hop_length": 0}, "hop_length"),
    ({"n_mels": 0}, "n_mels"),
    ({"fmax_hz": 20_000.0}, "fmax"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        dsp.mel_spectrogram_db(y=np.zeros(SR, np.float32), sr=SR, params=dsp.MelParams(**kwargs))


def test_envelope_is_bounded_and_keeps_extremes(rng):
    y = rng.uniform(-0.5, 0.5, 3600 * 8000).astype(np.float32)  # one hour at 8 kHz
    y[123_456] = 0.99
    y[7_654_321] = -0.98
    t, lo, hi = dsp.envelope(y=y, sr=8000, max_points=2000)
    assert len(t) == len(lo) == len(hi) <= 2000
    assert hi.max() == pytest.approx(0.99) and lo.min() == pytest.approx(-0.98)
    assert np.all(np.diff(t) > 0) and t[-1] < 3600


def test_envelope_of_a_short_signal_is_the_signal():
    y = np.array([0.1, -0.2, 0.3], np.float32)
    t, lo, hi = dsp.envelope(y=y, sr=10)
    assert np.allclose(t, [0, 0.1, 0.2]) and np.allclose(lo, y) and np.allclose(hi, y)


def test_envelope_golden():
    y = np.arange(10, dtype=np.float32)
    t, lo, hi = dsp.envelope(y=y, sr=1, max_points=4)  # buckets of 3: [0,1,2] [3,4,5] [6,7,8] [9]
    assert np.allclose(lo, [0, 3, 6, 9]) and np.allclose(hi, [2, 5, 8, 9]) and np.allclose(t, [0, 3, 6, 9])

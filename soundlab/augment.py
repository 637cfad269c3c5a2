"""Recording conditions other than ESC-50's: a phone, a small room, a noisy street, a lossy codec.

ESC-50's clips come from one culture of recordings (Freesound uploads, mostly clean, close and full-band); a sound
played to SoundLab comes from anywhere. `real_conditions` turns a clip into a plausible other recording of it, with
audiomentations (and pyroomacoustics for the room, fast-mp3-augment for the codec). Heads train on such views beside
the clip (`soundlab.models.embeddings.VIEWS`), the open set counts them as genuine, and "ESC-50 under real
conditions" scores held-out clips through a differently seeded chain (`TEST_VIEW`).

Each clip's chain is seeded by the view and the clip's name, so a view is the same on every machine and rerun.
"""

from __future__ import annotations

import functools
import random
import threading
import zlib

import numpy as np

VERSION = 1  # bump when the chain changes: cached embeddings of the views are then recomputed
TRAIN_VIEWS = ("real1", "real2")  # views heads may train on
TEST_VIEW = "real-test"  # the view "ESC-50 under real conditions" is scored on; never trained on
RATE_VIEWS = {"rate8k": 8000, "rate16k": 16000}  # the clip as a phone call (8 kHz) or a voice note (16 kHz) carries it
ROOM_VIEWS = ("room1", "room2")  # the clip played from a loudspeaker in a room and recorded there (two rooms per clip)
VIEWS = (*TRAIN_VIEWS, TEST_VIEW, *RATE_VIEWS, *ROOM_VIEWS)

_lock = threading.Lock()  # audiomentations draws from the global numpy and random generators
_chains: dict[int, object] = {}


def _chain(sample_rate: int):
    import audiomentations as A

    if sample_rate not in _chains:
        nyquist = sample_rate / 2
        _chains[sample_rate] = A.Compose([
            A.OneOf([  # where the microphone and the channel cut the band: phone, laptop, camera, full band
                A.Compose([A.HighPassFilter(200, 400, p=1.0), A.LowPassFilter(3000, 4000, p=1.0)]),
                A.Compose([A.HighPassFilter(60, 250, p=1.0), A.LowPassFilter(5000, min(8000, nyquist * 0.9), p=1.0)]),
                A.SevenBandParametricEQ(-8, 8, p=1.0),
            ], p=0.8),
            A.RoomSimulator(min_target_rt60=0.2, max_target_rt60=0.9, calculation_mode="rt60", max_order=6,
                            use_ray_tracing=False, leave_length_unchanged=True, min_mic_distance=0.5,
                            max_mic_distance=3.0, p=0.5),
            A.AddColorNoise(min_snr_db=6, max_snr_db=30, min_f_decay=-6, max_f_decay=0, p=0.6),
            A.Mp3Compression(min_bitrate=24, max_bitrate=96, backend="fast-mp3-augment", p=0.4),
            A.Gain(min_gain_db=-18, max_gain_db=6, p=0.8),
            A.Limiter(min_threshold_db=-12, max_threshold_db=-2, p=0.2),  # a phone's automatic gain control
            A.Shift(min_shift=-0.5, max_shift=0.5, shift_unit="seconds", rollover=False, p=0.5),
        ])
    return _chains[sample_rate]


def seed_of(view: str, name: str) -> int:
    return zlib.crc32(f"{view}/{name}".encode())


def real_conditions(y: np.ndarray, sample_rate: int, *, view: str, name: str) -> np.ndarray:
    """`y` as another recording of the same sound might be: same length, float32, never louder than full scale."""
    if view not in VIEWS:
        raise ValueError(f"unknown recording-conditions view {view!r}; known: {', '.join(VIEWS)}")
    if view in RATE_VIEWS:
        return at_rate(y, sample_rate, RATE_VIEWS[view])
    if view in ROOM_VIEWS:  # a room of `ROOMS` drawn by the clip's name; the tail cut, as a 5 s recording cuts it
        rt60, distance = ROOMS[seed_of(view, name) % len(ROOMS)]
        return np.clip(in_room(y, sample_rate, rt60=rt60, distance=distance)[: len(y)], -1.0, 1.0)
    y = np.asarray(y, np.float32)
    if not np.any(y):
        return y
    # the codec and the shift refuse very short input: a short clip is padded with silence to 1 s, then cut back
    padded = np.pad(y, (0, max(0, sample_rate - len(y))))
    with _lock:
        seed = seed_of(view, name)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        out = _chain(sample_rate)(samples=padded, sample_rate=sample_rate)
    out = np.nan_to_num(np.asarray(out, np.float32)[: len(y)])
    if len(out) < len(y):
        out = np.pad(out, (0, len(y) - len(out)))
    peak = float(np.max(np.abs(out)))
    return out / peak if peak > 1.0 else out


# A living room or small office, the loudspeaker 1.5 m from a wall and the microphone further along the room, both at
# desk height. One fixed room, so a figure measured "in a room" means the same room on every machine and rerun.
ROOM_M = (4.5, 3.8, 2.7)
# The rooms `ROOM_VIEWS` draw from: a damped office to a bare kitchen, the microphone at arm's length to across the
# room. A fixed bank, so each room's response is computed once (`room_response` keeps them).
ROOMS = tuple((rt60, distance) for rt60 in (0.2, 0.35, 0.5, 0.7, 0.9) for distance in (0.5, 1.0, 2.0))


def check_room(rt60: float, distance: float) -> None:
    """Raise ValueError, in words, for a room `room_response` cannot make."""
    if not 0.05 <= rt60 <= 2.0 or not 0.1 <= distance <= 2.5:  # the far wall is 3 m from the loudspeaker
        raise ValueError(f"a room's rt60 is 0.05-2 s and the microphone 0.1-2.5 m away (got {rt60:g} s, {distance:g} m)")


@functools.lru_cache(maxsize=64)
def room_response(sample_rate: int, rt60: float, distance: float) -> np.ndarray:
    """The impulse response from a loudspeaker to a microphone `distance` m away in `ROOM_M`, whose reverberation time
    is `rt60` s (pyroomacoustics' image sources; the absorption and reflection order from Sabine's formula)."""
    import pyroomacoustics as pra

    check_room(rt60, distance)
    absorption, order = pra.inverse_sabine(rt60, ROOM_M)
    room = pra.ShoeBox(ROOM_M, fs=sample_rate, materials=pra.Material(absorption), max_order=order)
    src = np.array([1.5, 1.9, 1.2])
    room.add_source(src)
    room.add_microphone(src + np.array([distance, 0.0, 0.0]))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], np.float32)
    rir.flags.writeable = False  # cached: shared by every call
    return rir


def in_room(y: np.ndarray, sample_rate: int, *, rt60: float, distance: float) -> np.ndarray:
    """`y` played in the room of `room_response` and recorded there: the reverberant tail kept (rt60 seconds longer),
    the peak as the clip's own (the level is `Gain`'s business, not the room's)."""
    from scipy.signal import fftconvolve

    y = np.asarray(y, np.float32)
    out = fftconvolve(y, room_response(sample_rate, rt60, distance))[: len(y) + int(rt60 * sample_rate)]
    peak_in, peak_out = float(np.max(np.abs(y), initial=0.0)), float(np.max(np.abs(out), initial=0.0))
    return (out * (peak_in / peak_out) if peak_out > 0 else out).astype(np.float32)


def with_noise(y: np.ndarray, sample_rate: int, *, snr_db: float, seed: int = 0) -> np.ndarray:
    """`y` with pink noise (a fan, a room's hum and hiss) `snr_db` decibels below its RMS, clipped at full scale."""
    import audiomentations as A

    y = np.asarray(y, np.float32)
    if not np.any(y):
        return y
    with _lock:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        out = A.AddColorNoise(min_snr_db=snr_db, max_snr_db=snr_db, min_f_decay=-3.01, max_f_decay=-3.01,
                              p=1.0)(samples=y, sample_rate=sample_rate)
    return np.clip(np.asarray(out, np.float32), -1.0, 1.0)


def at_rate(y: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    """`y` as recorded at sample `rate` (nothing above rate / 2), brought back to `sample_rate`: same length."""
    from soundlab.audio import resample

    y = np.asarray(y, np.float32)
    if rate >= sample_rate or not len(y):
        return y
    out = resample(resample(y, orig_sr=sample_rate, target_sr=rate), orig_sr=rate, target_sr=sample_rate)
    out = out[: len(y)] if len(out) >= len(y) else np.pad(out, (0, len(y) - len(out)))
    return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)

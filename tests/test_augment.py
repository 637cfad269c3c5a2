"""soundlab.augment: a clip as another recording of it (phone, room, noise, codec), and the views heads train on.

Heads trained with `--real-conditions` see these views beside the clip, and "ESC-50 under real conditions" is scored
on `TEST_VIEW`; a user relies on a view being a plausible clip (same length, never clipped) and the same on every
rerun, so cached embeddings of a view stay valid.
"""

import concurrent.futures

import numpy as np
import pytest

from soundlab import augment
from soundlab.models import embeddings
from soundlab.models import yamnet as yamnet_model
from soundlab.train.heads import TRAIN_VIEWS, HeadsConfig


def _noise(sr: int, seconds: float = 2.0, peak: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(7)
    y = rng.standard_normal(int(seconds * sr))
    return (peak * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("sr", [16_000, 32_000])
@pytest.mark.parametrize("view", augment.VIEWS)
def test_a_view_is_a_clip_of_the_same_length_never_louder_than_full_scale(sr, view):
    """Every view, at YAMNet's and EfficientAT's rates: float32, as long as the clip, finite, peak <= 1 (even from a
    clip already at full scale, which the chain's gain may push up), and the input is left as it was."""
    for peak in (0.3, 1.0):
        y = _noise(sr, peak=peak)
        before = y.copy()
        for name in ("1-100038-A-14.wav", "2-117271-A-0.wav", "clip"):
            out = augment.real_conditions(y, sr, view=view, name=name)
            assert out.dtype == np.float32 and out.shape == y.shape
            assert np.all(np.isfinite(out))
            assert float(np.max(np.abs(out))) <= 1.0
        np.testing.assert_array_equal(y, before)


def test_float64_input_gives_float32():
    out = augment.real_conditions(_noise(16_000).astype(np.float64), 16_000, view="real1", name="a.wav")
    assert out.dtype == np.float32


def test_the_same_view_and_name_give_the_same_clip_and_others_differ():
    """A view is seeded by (view, name): rerunning gives the same audio whatever ran before, another clip name or
    another view gives other conditions."""
    y = _noise(16_000)
    first = augment.real_conditions(y, 16_000, view="real1", name="1-100038-A-14.wav")
    augment.real_conditions(y, 16_000, view="real2", name="something else")  # other work in between
    np.random.seed(123)  # and whatever the global generators hold
    again = augment.real_conditions(y, 16_000, view="real1", name="1-100038-A-14.wav")
    np.testing.assert_array_equal(first, again)
    others = [augment.real_conditions(y, 16_000, view="real1", name=n) for n in ("a.wav", "b.wav", "c.wav")]
    others.append(augment.real_conditions(y, 16_000, view="real2", name="1-100038-A-14.wav"))
    others.append(augment.real_conditions(y, 16_000, view=augment.TEST_VIEW, name="1-100038-A-14.wav"))
    for other in others:
        assert not np.array_equal(first, other)
    assert any(not np.array_equal(o, y) for o in [first, *others])  # the chain does change the clip


def test_views_are_the_same_when_computed_from_several_threads():
    """Embedding decodes ahead in helper threads: a view must not depend on which thread made it or when."""
    y = _noise(16_000, seconds=1.0)
    pairs = [(v, n) for v in augment.VIEWS for n in ("a.wav", "b.wav", "c.wav")]
    serial = [augment.real_conditions(y, 16_000, view=v, name=n) for v, n in pairs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda p: augment.real_conditions(y, 16_000, view=p[0], name=p[1]), pairs))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seconds", [0.05, 0.2, 0.6])
def test_a_short_clip_gets_its_views_too(seconds):
    """Datasets may hold clips shorter than the codec's or the shift's minimum: they are padded for the chain and cut
    back, never an error that would stop a training run."""
    for i in range(12):
        y = np.full(int(seconds * 16_000), 0.1, np.float32)
        out = augment.real_conditions(y, 16_000, view="real1", name=f"c{i}.wav")
        assert len(out) == len(y) and np.isfinite(out).all()


@pytest.mark.parametrize("sr", [16_000, 32_000])
def test_silence_stays_silent(sr):
    """Digital silence (ESC-50 pads many clips with it) gets no added noise: it stays all zeros."""
    out = augment.real_conditions(np.zeros(sr, np.float32), sr, view="real1", name="silent.wav")
    assert out.dtype == np.float32 and out.shape == (sr,) and not np.any(out)


@pytest.mark.parametrize("view, rate", list(augment.RATE_VIEWS.items()))
def test_a_rate_view_keeps_the_band_the_rate_carries(view, rate):
    """The clip as recorded at 8 or 16 kHz: a tone below the new Nyquist frequency stays, one above it is gone."""
    sr = 32_000
    t = np.arange(sr, dtype=np.float32) / sr
    low, high = (0.3 * np.sin(2 * np.pi * f * t).astype(np.float32) for f in (1000, rate * 0.6))
    out_low, out_high = (augment.real_conditions(y, sr, view=view, name="a.wav") for y in (low, high))
    assert out_low.shape == low.shape and np.abs(out_low[sr // 4: -sr // 4] - low[sr // 4: -sr // 4]).max() < 0.01
    assert np.abs(out_high[sr // 4: -sr // 4]).max() < 0.01
    assert augment.at_rate(low, 8000, 16_000) is low  # a higher rate than the clip's changes nothing


@pytest.mark.parametrize("view", augment.ROOM_VIEWS)
def test_a_room_view_is_the_clip_with_a_room_heard_after_it(view):
    """The clip played in one of `ROOMS` (drawn by its name, the same each rerun): a click rings on after it."""
    sr = 16_000
    click = np.zeros(sr, np.float32)
    click[sr // 10] = 0.8
    out = augment.real_conditions(click, sr, view=view, name="a.wav")
    np.testing.assert_array_equal(out, augment.real_conditions(click, sr, view=view, name="a.wav"))
    assert np.abs(out).max() == pytest.approx(0.8, abs=1e-3)  # the room changes the sound, not its peak
    assert np.abs(out[sr // 10 + sr // 50:]).max() > 0.05  # still ringing 20 ms after the click


def test_a_room_is_the_same_room_each_time_and_refuses_an_impossible_one():
    """A room's response is computed, not drawn: the same on every rerun (so a figure measured in it means one room),
    and it dies away; a reverberation time or a distance the room cannot have is refused."""
    a = augment.room_response(16000, 0.6, 2.0)
    np.testing.assert_array_equal(a, augment.room_response.__wrapped__(16000, 0.6, 2.0))  # not only the cached copy
    assert not a.flags.writeable  # the cached copy is shared: nobody may change it
    half = len(a) // 2
    assert np.sum(a[half:] ** 2) < 0.01 * np.sum(a[:half] ** 2)
    for rt60, distance in ((5.0, 2.0), (0.6, 2.8), (0.01, 1.0)):
        with pytest.raises(ValueError, match="rt60 is 0.05-2 s"):
            augment.room_response(16000, rt60, distance)


@pytest.mark.parametrize("view", ["orig", "shift", "real3", "", "REAL1"])
def test_an_unknown_view_raises(view):
    with pytest.raises(ValueError, match="unknown recording-conditions view") as e:
        augment.real_conditions(_noise(16_000), 16_000, view=view, name="a.wav")
    assert all(v in str(e.value) for v in augment.VIEWS)  # the message names the known ones


def test_view_input_of_a_recording_conditions_view_is_real_conditions():
    """The embeddings of a view are computed from exactly `real_conditions` of the clip, seeded by its name."""
    y = _noise(yamnet_model.PARAMS.sample_rate_hz)
    for view in augment.VIEWS:
        got = embeddings.view_input(y, view, yamnet_model.PARAMS, "1-100038-A-14.wav")
        want = augment.real_conditions(y, yamnet_model.PARAMS.sample_rate_hz, view=view, name="1-100038-A-14.wav")
        np.testing.assert_array_equal(got, want)
    assert embeddings.view_input(y, "orig", yamnet_model.PARAMS, "x") is y
    shifted = embeddings.view_input(y, "shift", yamnet_model.PARAMS, "x")
    hop = int(round(0.5 * yamnet_model.PARAMS.hop_samples))
    assert len(shifted) == len(y) and not shifted[:hop].any()
    np.testing.assert_array_equal(shifted[hop:], y[:-hop])


def test_the_cache_file_of_a_view_names_the_chains_version(tmp_path):
    """A changed chain (a new `augment.VERSION`) never reads embeddings cached from the old one."""
    for view in augment.VIEWS:
        path = embeddings.cache_path(tmp_path, "fp123", view)
        assert path.name == f"{view}-v{augment.VERSION}.npz"
        assert path.parent == tmp_path / "embeddings" / "fp123"
    assert embeddings.cache_path(tmp_path, "fp123", "orig").name == "orig.npz"
    names = {embeddings.cache_path(tmp_path, "fp123", v).name for v in embeddings.VIEWS}
    assert len(names) == len(embeddings.VIEWS)
    assert set(augment.VIEWS) <= set(embeddings.VIEWS)


def test_heads_train_on_the_views_asked_for_and_never_on_the_test_view():
    cfg = HeadsConfig(real_views=augment.TRAIN_VIEWS, real_test=True)
    views = cfg.views()
    assert {"orig", "shift", *augment.TRAIN_VIEWS, augment.TEST_VIEW} <= set(views)
    assert views == [v for v in embeddings.VIEWS if v in views]  # in the one order of embeddings.VIEWS
    assert cfg.train_views("logreg") == ("orig", *augment.TRAIN_VIEWS)
    for kind in TRAIN_VIEWS:
        assert cfg.train_views(kind) == TRAIN_VIEWS[kind] + augment.TRAIN_VIEWS
        assert augment.TEST_VIEW not in cfg.train_views(kind)
    assert augment.TEST_VIEW not in HeadsConfig(real_views=augment.TRAIN_VIEWS).views()
    plain = HeadsConfig()
    assert not set(plain.views()) & set(augment.VIEWS)
    assert plain.train_views("logreg") == ("orig",)

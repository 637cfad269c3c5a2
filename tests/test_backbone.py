"""soundlab.models.backbone and yamnet: the shipped TFLite YAMNet, the TF Hub path, thread safety, bad models."""

import threading
import time

import numpy as np
import pytest

from soundlab import audio
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.errors import AudioError, ModelError
from soundlab.models import yamnet as yamnet_model
from tests.assets import yamnet_hub_stub

SR = 16_000


def _top(bb, out, k=3):
    m = out.scores.mean(axis=0)
    return [bb.tag_names[i] for i in np.argsort(-m)[:k]]


def test_shapes_and_frames(yamnet, rng):
    y = rng.uniform(-0.3, 0.3, 5 * SR).astype(np.float32)
    out = yamnet(y)
    assert out.scores.shape == (10, 521) and out.embeddings.shape == (10, 1024) and out.log_mel.shape == (528, 64)
    assert out.scores.dtype == np.float32 and 0 <= out.scores.min() and out.scores.max() <= 1
    assert np.allclose(yamnet.frame_starts(3), [0, 0.48, 0.96])


def test_short_input_is_padded_to_one_frame(yamnet, tone_440):
    out = yamnet(tone_440[:800])  # 50 ms
    assert out.scores.shape == (1, 521)
    assert len(yamnet.check_input(tone_440[:800])) == yamnet.params.min_samples == 15_600


def test_known_sounds(yamnet, rng):
    # as YAMNet's own test: silence, white noise, a sine wave
    assert _top(yamnet, yamnet(np.zeros(SR, np.float32)), 1) == ["Silence"]
    noise = rng.uniform(-1, 1, 3 * SR).astype(np.float32)
    assert "White noise" in _top(yamnet, yamnet(noise))
    beep = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(3 * SR) / SR)).astype(np.float32)
    assert "Beep, bleep" in _top(yamnet, yamnet(beep))


def test_real_clips(yamnet, dev_root):
    for name, expect in [("2-104105-A-19.wav", "Thunderstorm"), ("1-100032-A-0.wav", "Dog")]:
        a = audio.load(dev_root / "audio" / name, sr=SR)
        assert expect in _top(yamnet, yamnet(a.y), 5), name


@pytest.mark.parametrize("y, match", [
    (np.zeros((2, 100), np.float32), "1-D"),
    (np.zeros(100, np.int16), "floating-point"),
    (np.zeros(0, np.float32), "empty"),
    (np.array([np.nan] * 100, np.float32), "NaN"),
])
def test_bad_input(yamnet, y, match):
    with pytest.raises(AudioError, match=match):
        yamnet(y)


def test_fingerprint_is_the_file_checksum(yamnet):
    assert yamnet.fingerprint == "yamnet-tflite-2d5e1e0577beb1fd"


def test_eight_threads_give_the_single_thread_result(yamnet, dev_root):
    paths = sorted((dev_root / "audio").glob("4-*.wav"))[:8]
    inputs = [audio.load(p, sr=SR).y for p in paths]
    inputs[3] = inputs[3][: SR * 2]  # different lengths force the interpreter to resize between calls
    expected = [yamnet(y) for y in inputs]
    results = [None] * 8
    errors = []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            for _ in range(5):
                results[i] = yamnet(inputs[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for exp, got in zip(expected, results):
        assert np.allclose(exp.embeddings, got.embeddings, atol=1e-5)
        assert np.allclose(exp.scores, got.scores, atol=1e-6)


def test_the_twin_beside_other_models_hears_the_same(yamnet, dev_root):
    """A fused model's YAMNet pass runs beside its other members on a one-thread twin: the same outputs, one twin."""
    twin = yamnet.beside()
    assert twin is yamnet.beside() and twin.num_threads == 1 and twin.beside() is twin
    assert twin.fingerprint == yamnet.fingerprint and twin.tag_names == yamnet.tag_names
    y = audio.load(dev_root / "audio" / "1-100032-A-0.wav", sr=SR).y
    a, b = yamnet(y), twin(y)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.embeddings, b.embeddings)


def test_missing_tflite_says_what_to_do(tmp_path):
    with pytest.raises(ModelError, match="git checkout model_artifacts/yamnet.tflite"):
        yamnet_model.load_yamnet("tflite", tmp_path)


def test_corrupt_tflite(tmp_path):
    (tmp_path / "yamnet.tflite").write_bytes(b"\x00" * 1000)
    (tmp_path / "yamnet_class_map.csv").write_text((DEFAULT_ARTIFACTS_DIR / "yamnet_class_map.csv").read_text())
    with pytest.raises(ModelError, match="not a usable TFLite model"):
        yamnet_model.load_yamnet("tflite", tmp_path)


def test_bad_class_map(tmp_path):
    (tmp_path / "map.csv").write_text("index,mid,display_name\n0,/m/x,Speech\n")
    with pytest.raises(ModelError, match="1 classes, expected 521"):
        yamnet_model.read_class_map(tmp_path / "map.csv")


def test_hub_savedmodel_folder(rng):
    bb = yamnet_model.load_yamnet(str(yamnet_hub_stub()), DEFAULT_ARTIFACTS_DIR)
    assert isinstance(bb, yamnet_model.HubYamnet) and bb.fingerprint.startswith("yamnet-hub-")
    out = bb(rng.uniform(-0.3, 0.3, 5 * SR).astype(np.float32))
    assert out.scores.shape[1] == 521 and out.embeddings.shape[1] == 1024 and out.log_mel.shape[1] == 64
    assert out.scores.shape[0] == out.embeddings.shape[0] >= 10
    assert bb.tag_names[0] == "Speech" and len(bb.tag_names) == 521  # read from the model's asset
    assert bb(np.zeros(100, np.float32)).scores.shape[0] >= 1  # short input padded
    assert bb.beside() is bb  # a TF Hub model beside other models: itself (no twin)


def test_hub_not_a_savedmodel(tmp_path):
    with pytest.raises(ModelError, match="not a SavedModel folder"):
        yamnet_model.load_yamnet(str(tmp_path), DEFAULT_ARTIFACTS_DIR)


def test_hub_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    t0 = time.monotonic()
    with pytest.raises(ModelError) as info:
        yamnet_model.load_yamnet("https://tfhub.invalid/google/yamnet/1", DEFAULT_ARTIFACTS_DIR)
    assert time.monotonic() - t0 < 5
    assert "offline" in str(info.value) and "SOUNDLAB_YAMNET" in str(info.value)

"""EfficientAT mn04_as: the network written here is the real model (strict state dict, the third-party ONNX export's
logits), its front end is the published one, and it behaves as a backbone (frames, tags, threads, bad files)."""

import threading

import numpy as np
import pytest

from soundlab import audio
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings
from soundlab.errors import AudioError, ModelError
from soundlab.models import efficientat
from soundlab.models.backbone import load_backbone
from tests.assets import shared

WEIGHTS = DEFAULT_ARTIFACTS_DIR / "efficientat" / efficientat.WEIGHTS_FILE
DOG, SIREN = "2-117271-A-0.wav", "4-102871-A-42.wav"


@pytest.fixture(scope="module")
def eat():
    return load_backbone("efficientat", get_settings())


def _top(bb, scores, k=5):
    return [bb.tag_names[i] for i in np.argsort(-scores)[:k]]


def test_the_shipped_weights_are_the_published_ones():
    from soundlab.models.backbone import file_sha256

    assert file_sha256(WEIGHTS) == efficientat.WEIGHTS_SHA256
    for f in ("class_labels_indices.csv", "LICENSE.txt", "PROVENANCE.tsv"):
        assert (WEIGHTS.parent / f).is_file()
    assert "MIT License" in (WEIGHTS.parent / "LICENSE.txt").read_text()


def test_network_loads_strictly_with_the_published_size():
    net = efficientat.load_network(WEIGHTS)
    assert sum(p.numel() for p in net.parameters()) == 983_599
    assert [efficientat.make_divisible(c * 0.4) for c in (16, 24, 40, 80, 112, 160, 960)] == [8, 16, 16, 32, 48, 64, 384]


def test_logits_equal_the_onnx_export():
    import onnxruntime as ort
    import torch

    onnx = shared("models", "candidates", "efficientat_mn04_as_onnx", "mn04_as.onnx")
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    net = efficientat.load_network(WEIGHTS)
    spec = np.random.default_rng(7).normal(0, 1, (2, 1, 128, 431)).astype(np.float32)  # any T works
    with torch.inference_mode():
        logits, emb = net(torch.from_numpy(spec))
    ref_logits, ref_emb = sess.run(None, {sess.get_inputs()[0].name: spec})
    assert np.allclose(logits.numpy(), ref_logits, atol=1e-4) and np.allclose(emb.numpy(), ref_emb, atol=1e-4)


def test_kaldi_mel_front_end():
    banks = efficientat.kaldi_mel_banks()
    assert banks.shape == (128, 513) and (banks[:, -1] == 0).all() and banks.min() >= 0 and banks.max() <= 1
    peaks = banks.argmax(axis=1) * 32_000 / 1024
    assert (np.diff(peaks) >= 0).all() and peaks[-1] < 15_000  # bands rise to below fmax
    silence = efficientat.log_mel(np.zeros(32_000 * 5, np.float32))
    assert silence.shape == (128, 500) and np.allclose(silence, (np.log(1e-5) + 4.5) / 5, atol=1e-4)
    tone = efficientat.log_mel((0.5 * np.sin(2 * np.pi * 1000 * np.arange(32_000) / 32_000)).astype(np.float32))
    band = 1127 * np.log1p(1000 / 700) / (1127 * np.log1p(15_000 / 700)) * 129 - 1  # where 1 kHz sits on the scale
    assert abs(int(tone[:, 50].argmax()) - band) <= 1.5


def test_frames_are_the_columns_and_their_mean_is_the_embedding(eat, dev_root):
    import torch

    y = audio.load(dev_root / "audio" / DOG, sr=32_000).y
    out = eat.embed(y)
    assert out.embeddings.shape == (16, 384) and out.scores.shape == (16, 527) and out.clip_scores.shape == (527,)
    with torch.inference_mode():
        logits, emb = eat.net(eat.spectrogram(y))
    assert np.allclose(out.pooled_embedding, emb[0].numpy(), atol=1e-4)
    assert np.allclose(out.clip_scores, torch.sigmoid(logits[0]).numpy(), atol=1e-4)
    assert np.allclose(eat.frame_starts(3), [0, 0.32, 0.64])


@pytest.mark.parametrize("clip, expected", [(DOG, {"Dog", "Bark"}), (SIREN, {"Siren"})])
def test_real_clips_get_their_audioset_tags(eat, dev_root, clip, expected):
    out = eat.embed(audio.load(dev_root / "audio" / clip, sr=32_000).y)
    assert expected <= set(_top(eat, out.pooled_scores)), _top(eat, out.pooled_scores)


def test_short_and_bad_input(eat, tone_440):
    assert eat.embed(tone_440[:800]).embeddings.shape[0] >= 1  # 25 ms at 32 kHz, zero-padded to 1 s
    with pytest.raises(AudioError, match="1-D"):
        eat.embed(np.zeros((2, 100), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        eat.embed(np.full(32_000, np.nan, np.float32))


def test_threads_get_the_single_thread_result(eat, dev_root):
    y = audio.load(dev_root / "audio" / DOG, sr=32_000).y
    ref = eat.embed(y).embeddings
    outs = []

    def work():
        outs.append(eat.embed(y).embeddings)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 4 and all(np.allclose(o, ref, atol=1e-5) for o in outs)


def test_batched_and_single_agree(eat, dev_root):
    ys = [audio.load(dev_root / "audio" / f, sr=32_000).y for f in (DOG, SIREN)]
    batch = eat.embed_batch(ys)
    for y, b in zip(ys, batch):
        assert np.allclose(eat.embed(y).embeddings, b.embeddings, atol=1e-4)


def test_missing_and_broken_weights(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="weights not found.*SOUNDLAB_EFFICIENTAT"):
        efficientat.load_network(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a state dict")
    with pytest.raises(ModelError, match="not a readable PyTorch state dict"):
        efficientat.load_network(tmp_path / "junk.pt")
    import torch

    torch.save({"features.0.0.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="does not hold the mn04_as weights"):
        efficientat.load_network(tmp_path / "other.pt")
    monkeypatch.setenv("SOUNDLAB_EFFICIENTAT", str(tmp_path))
    with pytest.raises(ModelError, match="weights not found"):
        load_backbone("efficientat", get_settings())
    status = efficientat.status(get_settings())
    assert not status.ready and "SOUNDLAB_EFFICIENTAT" in status.note


def test_a_loud_frame_is_never_drawn_as_silence(eat, dev_root):
    """The timeline's silence: a near-silent frame is, a bark at -16 dBFS is not, even where the per-frame tags (one
    feature-map column through a classifier trained on pooled features) say Silence."""
    from soundlab.classify import LOUD_DBFS, silent_frames
    from soundlab.dsp import level_dbfs

    y = audio.load(dev_root / "audio" / "1-100032-A-0.wav", sr=32_000).y  # one short bark in 5 s of silence
    out = eat.embed(y)
    silent = silent_frames(y, out, eat)
    hop = eat.params.hop_samples
    levels = np.array([level_dbfs(y[i * hop: (i + 1) * hop]) for i in range(len(silent))])
    assert (levels >= LOUD_DBFS).any()
    assert not silent[levels >= LOUD_DBFS].any() and silent[levels < -60].all()

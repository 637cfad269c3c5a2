"""From-scratch models: features, tiny training runs on a handful of real clips, run folders, shipped runs."""

import subprocess
import sys

import numpy as np
import pytest

from soundlab import predictions, runs, train
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.errors import ParameterError
from soundlab.models import features, scratch
from soundlab.train.scratch import ScratchConfig, ScratchTrainer
from tests.assets import ROOT
from tests.test_training import check_head_files, small

TINY = ScratchConfig(epochs=2, batch_size=8)


def train_scratch(ds, task, kind, *, cache_dir, runs_dir, cfg=TINY):
    return train.train_run(ds, task, ScratchTrainer(kind, cfg), cache_dir=cache_dir, runs_dir=runs_dir,
                           log=lambda m: None)


@pytest.fixture(scope="module")
def tiny_runs(dev, tmp_path_factory):
    """Each model trained on 30 clips of 5 classes, two epochs: seconds, not minutes."""
    runs_dir = tmp_path_factory.mktemp("scratch-runs")
    cache = tmp_path_factory.mktemp("scratch-cache")
    ds = small(dev)
    return {kind: runs.load_run(train_scratch(ds, "esc50", kind, cache_dir=cache, runs_dir=runs_dir))
            for kind in scratch.SCRATCH_MODELS}


def test_feature_shapes_match_the_seeds_settings(dev):
    y = np.random.default_rng(0).standard_normal(22_050 * 5).astype(np.float32) * 0.1
    assert features.compute(y, features.SPECS["logmel"]).shape == (128, 345)
    assert features.compute(y, features.SPECS["mfcc"]).shape == (160,)
    assert features.compute(y[:8_000 * 3], features.SPECS["wave"]).shape == (40_000,)  # short input: zero-padded
    spec = features.SPECS["logmel"]
    assert (spec.n_fft, spec.hop_length, spec.win_length, spec.n_mels, spec.fmax_hz) == (1024, 320, 320, 128, 11025)


def test_log_mel_rate_and_fmax_are_settings(tmp_path):
    specs = features.specs_for(32_000, 14_000)
    assert specs["logmel"].sr == 32_000 and specs["logmel"].fmax_hz == 14_000 and specs["mfcc"].sr == 32_000
    y = np.zeros(32_000 * 5, np.float32)
    assert features.compute(y, specs["logmel"]).shape == (128, 501)
    assert features.specs_for()["logmel"] == features.SPECS["logmel"]  # the default: 22.05 kHz, fmax 11025
    assert specs["logmel"].key() != features.SPECS["logmel"].key()  # cached apart
    with pytest.raises(ParameterError, match="at most half the rate"):
        features.specs_for(22_050, 16_000)
    with pytest.raises(ParameterError, match="out of range"):
        features.specs_for(4_000)
    env = {"PATH": "/usr/bin:/bin", "SOUNDLAB_LOGMEL_FMAX_HZ": "16000", "TF_CPP_MIN_LOG_LEVEL": "3",
           "SOUNDLAB_ARTIFACTS_DIR": str(tmp_path), "SOUNDLAB_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "soundlab", "train", "--model", "cnn"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "SOUNDLAB_LOGMEL_FMAX_HZ" in out.stderr and "Traceback" not in out.stderr


def test_feature_cache_computes_once_and_notices_changed_files(dev, tmp_path):
    clips = list(zip(dev.present["filename"][:4], dev.present["path"][:4]))
    calls = []
    names, X, failures = features.feature_set(clips, features.SPECS["mfcc"], cache_dir=tmp_path,
                                              progress=lambda d, n: calls.append(d))
    assert X.shape == (4, 160) and failures == [] and list(names) == [f for f, _ in clips]
    assert len(list((tmp_path / "features").glob("mfcc-*.npz"))) == 1
    again = features.feature_set(clips, features.SPECS["mfcc"], cache_dir=tmp_path)[1]
    assert np.allclose(X, again)
    bad = tmp_path / "1-100038-A-14.wav"
    bad.write_bytes(b"RIFF not audio")
    names, X, failures = features.feature_set([*clips, (bad.name, str(bad))], features.SPECS["mfcc"],
                                              cache_dir=tmp_path)
    assert len(names) == 4 and [f for f, _ in failures] == [bad.name]


@pytest.mark.parametrize("kind", scratch.SCRATCH_MODELS)
def test_tiny_scratch_run_folder_is_complete(tiny_runs, kind):
    run = tiny_runs[kind]
    info = run.info
    assert run.family == "scratch" and run.model_names == [kind] and run.default_model == kind
    assert info["protocol"]["name"] == "esc50-grouped"
    assert info["coverage"]["clips_present"] == 30 and info["coverage"]["classes_present"] == 5
    assert info["features"]["kind"] == scratch.FEATURE_OF[kind]
    h = run.model(kind)
    assert h["params"] > 0 and info["inference_ms_per_clip"] > 0 and info["wall_seconds"] > 0
    check_head_files(run, kind, 30)  # includes: folds never share a source recording
    names, pooled, audioset = runs.read_embeddings(run)
    assert len(names) == 30 and pooled.shape[0] == 30 and pooled.shape[1] > 0 and audioset.shape == (30, 0)
    assert not list(run.path.parent.glob(".tmp-*"))  # published atomically


@pytest.mark.parametrize("kind", ["cnn", "crnn", "wavecnn"])
def test_scratch_models_reload_in_safe_mode_and_agree(tiny_runs, dev, kind):
    run = tiny_runs[kind]
    model = scratch.load(kind, run.model_path(kind))
    spec = features.SPECS[run.info["features"]["kind"]]
    clips = list(zip(dev.present["filename"][:3], dev.present["path"][:3]))
    _, X, _ = features.feature_set(clips, spec, cache_dir=run.path.parent / "cache")
    p = model.predict(X, verbose=0)
    assert p.shape == (3, 5) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
    assert np.allclose(p, model.predict(X, verbose=0), atol=1e-5)  # augmentations are off at inference


def test_scratch_runs_join_the_comparison(tiny_runs, dev, tmp_path):
    from soundlab.report import load_predictions

    preds = [load_predictions(r, r.default_model, dev.meta) for r in tiny_runs.values()]
    board = predictions.leaderboard(preds[0], preds[1:])
    assert len(board) == len(scratch.SCRATCH_MODELS) - 1 and set(board["family"]) == {"scratch"} and (board["clips"] == 30).all()
    assert board["McNemar p"].between(0, 1).all()


def test_grouped_folds_hold_for_the_esc10_task_too(dev, tmp_path):
    ds = small(dev, classes=("dog", "rooster", "rain", "sea_waves", "crackling_fire"), per_class=5)
    path = train_scratch(ds, "esc10", "mfcc-svm", cache_dir=tmp_path, runs_dir=tmp_path / "runs")
    run = runs.load_run(path)
    assert run.task == "esc10" and run.protocol["name"] == "esc10-grouped"
    assert runs.read_oof(run, "mfcc-svm").groupby("src_file")["fold"].nunique().max() == 1


def test_shipped_scratch_runs(dev):
    shipped, problems = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    assert problems == []
    scratch_runs = [r for r in shipped if r.family == "scratch"]
    found = {(r.task, r.default_model) for r in scratch_runs}
    assert found == {(t, k) for t in ("esc50", "esc10") for k in scratch.SCRATCH_MODELS}
    heads_clips = {(r.task, r.info["coverage"]["clips_present"]): set(runs.read_oof(r, r.default_model)["filename"])
                   for r in shipped if r.family == "yamnet"}
    dev_clips = set(dev.meta.loc[dev.meta["present"], "filename"])
    for run in scratch_runs:
        oof = runs.read_oof(run, run.default_model)
        key = (run.task, run.info["coverage"]["clips_present"])
        assert key in heads_clips, f"{run.id} is not on the clips of a shipped YAMNet run"
        assert set(oof["filename"]) == heads_clips[key] <= dev_clips  # the same clips as the YAMNet heads
        if run.protocol["name"].endswith("grouped"):
            assert oof.groupby("src_file")["fold"].nunique().max() == 1
        assert run.model(run.default_model)["cv"]["accuracy"] > 0.2
    assert runs.preferred(shipped).family in ("yamnet", "efficientat")


def test_too_few_recordings_is_a_clear_error(dev, tmp_path):
    from soundlab.errors import DatasetError

    ds = small(dev, classes=("dog", "rooster", "rain"), per_class=1)
    with pytest.raises(DatasetError, match="3 source recordings present; 5-fold grouped cross-validation needs at least 5"):
        train_scratch(ds, "esc50", "mfcc-svm", cache_dir=tmp_path, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-written

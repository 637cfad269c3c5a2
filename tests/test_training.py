"""Protocols, the embedding cache, and training a tiny run end to end (seconds, real YAMNet)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from soundlab import metrics, runs, train
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.data import esc50, protocol
from soundlab.errors import ModelError
from soundlab.models import embeddings, heads
from soundlab.train.heads import HeadsConfig, HeadsTrainer
from tests.assets import ROOT


def small(ds, classes=("dog", "rooster", "rain", "sea_waves", "crackling_fire"), per_class=6):
    """The dev dataset with only a few clips of a few classes present, from distinct recordings."""
    keep = (ds.present[ds.present["category"].isin(classes)]
            .drop_duplicates("src_file").groupby("category").head(per_class)["filename"])
    meta = ds.meta.assign(present=ds.meta["filename"].isin(keep))
    return esc50.Dataset(ds.root, "partial", meta)


def check_head_files(run, kind, n_clips, n_history_folds=5):
    """A head's files exist; its out-of-fold predictions cover every clip once, keep each source recording in
    one fold, sum to 1, and recompute to the stored metrics."""
    h = run.model(kind)
    for key in ("file", "oof", "history"):
        assert (run.path / h[key]).is_file(), (kind, key)
    oof = runs.read_oof(run, kind)
    assert len(oof) == n_clips and set(oof["fold"]) == {1, 2, 3, 4, 5}
    assert oof.groupby("src_file")["fold"].nunique().max() == 1  # folds never share a source recording
    probs = oof[[f"p_{c}" for c in run.classes]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    recomputed = metrics.summary(oof["true"].to_numpy(), probs, oof["fold"].to_numpy())
    assert recomputed["accuracy"] == pytest.approx(h["cv"]["accuracy"], abs=1e-6)
    history = json.loads((run.path / h["history"]).read_text())
    assert len(history["folds"]) == n_history_folds


def test_protocol_grouped_on_partial_data(dev):
    p = protocol.choose(dev.meta, "esc50")
    n = int(dev.meta["present"].sum())
    assert p.name == "esc50-grouped" and len(p.clips) == n and p.n_classes == 50
    assert protocol.sources_split_across_folds(p.clips) == []
    assert sorted(p.clips["fold"].unique()) == [1, 2, 3, 4, 5]
    sizes = p.clips.groupby("fold").size()
    assert sizes.max() - sizes.min() <= 10  # balanced
    assert "grouped by source recording" in p.description and f"{n} of 2000" in p.description


def test_protocol_esc10_official_when_complete(dev):
    p = protocol.choose(dev.meta, "esc10")
    assert p.name == "esc10-official" and len(p.clips) == 400 and p.n_classes == 10
    assert (p.clips["fold"] == p.clips["filename"].str[0].astype(int)).all()  # the official folds


def test_protocol_official_when_all_2000_present(dev):
    meta = dev.meta.assign(present=True)
    p = protocol.choose(meta, "esc50")
    assert p.name == "esc50-official" and len(p.clips) == 2000
    assert (p.clips["fold"] == meta.sort_values("filename")["fold"].to_numpy()).all()


def test_protocol_esc10_grouped_when_incomplete(dev):
    meta = dev.meta.assign(present=dev.meta["present"] & ~dev.meta["filename"].str.startswith("1-"))
    p = protocol.choose(meta, "esc10")
    assert p.name == "esc10-grouped" and protocol.sources_split_across_folds(p.clips) == []


class Counting:
    """Wraps a backbone and counts its calls."""

    def __init__(self, bb):
        self.bb, self.calls = bb, 0
        self.name, self.fingerprint, self.tag_names, self.params = bb.name, bb.fingerprint, bb.tag_names, bb.params

    def __call__(self, y):
        self.calls += 1
        return self.bb(y)


def test_embedding_cache(dev, yamnet, tmp_path):
    clips = list(zip(dev.present["filename"], dev.present["path"]))[:6]
    bb = Counting(yamnet)
    es, failed = embeddings.embed_clips(clips, bb, cache_dir=tmp_path)
    assert failed == [] and len(es) == 6 and bb.calls == 6
    assert es.stacked().shape == (6, 10, 1024) and es.clip_scores().shape == (6, 521)
    es2, _ = embeddings.embed_clips(clips, bb, cache_dir=tmp_path)
    assert bb.calls == 6 and np.array_equal(es.embeddings, es2.embeddings)  # all from the cache
    es3, _ = embeddings.embed_clips(clips[:3] + [("x-0.wav", str(tmp_path / "bad.wav"))] + clips[3:],
                                    bb, cache_dir=tmp_path) if (tmp_path / "bad.wav").write_bytes(b"junk") else None
    assert bb.calls == 6 and len(es3) == 6  # the undecodable clip is skipped, the rest come from the cache
    path = embeddings.cache_path(tmp_path, yamnet.fingerprint, "orig")
    path.write_bytes(b"damaged")
    es4, _ = embeddings.embed_clips(clips, bb, cache_dir=tmp_path)
    assert bb.calls == 12 and np.allclose(es4.embeddings, es.embeddings)  # a damaged cache is rebuilt


def test_an_interrupted_embedding_resumes_from_its_shards(dev, yamnet, tmp_path):
    clips = list(zip(dev.present["filename"], dev.present["path"]))[:6]
    bb = Counting(yamnet)

    def stop_at_five(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embeddings.embed_clips(clips, bb, cache_dir=tmp_path, save_every=2, progress=stop_at_five)
    folder = embeddings.shard_dir(tmp_path, yamnet.fingerprint, "orig")
    # five clips embedded, the first four committed in two shards; the fifth was lost with the interruption
    assert len(list(folder.glob("shard-*.npz"))) == 2 and bb.calls == 5
    assert not embeddings.cache_path(tmp_path, yamnet.fingerprint, "orig").exists()  # written once, at the end
    es, _ = embeddings.embed_clips(clips, bb, cache_dir=tmp_path, save_every=2)
    assert bb.calls == 7 and len(es) == 6 and not folder.exists()  # only the two uncommitted clips were embedded
    fresh, _ = embeddings.embed_clips(clips, yamnet, cache_dir=tmp_path / "fresh")
    assert list(es.filenames) == list(fresh.filenames) and np.allclose(es.embeddings, fresh.embeddings, atol=1e-5)


def test_embedding_views_differ(dev, yamnet, tmp_path):
    clips = list(zip(dev.present["filename"], dev.present["path"]))[:2]
    orig, _ = embeddings.embed_clips(clips, yamnet, cache_dir=tmp_path, view="orig")
    shifted, _ = embeddings.embed_clips(clips, yamnet, cache_dir=tmp_path, view="shift")
    assert orig.embeddings.shape == shifted.embeddings.shape
    assert not np.allclose(orig.embeddings, shifted.embeddings)


@pytest.fixture(scope="module")
def tiny_run(dev, yamnet, tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    cfg = HeadsConfig(max_epochs=4, patience=2)
    path = train.train_run(small(dev), "esc50", HeadsTrainer(yamnet, cfg), cache_dir=cache, runs_dir=runs_dir,
                           log=lambda m: None)
    return runs.load_run(path)


def test_tiny_run_folder_is_complete(tiny_run):
    info = tiny_run.info
    assert info["protocol"]["name"] == "esc50-grouped"
    assert info["backbone"]["fingerprint"] == "yamnet-tflite-2d5e1e0577beb1fd"
    assert info["coverage"]["clips_present"] == 30 and info["coverage"]["classes_present"] == 5
    assert set(tiny_run.model_names) == set(heads.HEAD_KINDS)
    assert tiny_run.default_model in heads.HEAD_KINDS
    for kind in tiny_run.model_names:
        check_head_files(tiny_run, kind, 30, n_history_folds=0 if kind == "ensemble" else 5)
    names, pooled, audioset = runs.read_embeddings(tiny_run)
    assert pooled.shape == (30, 1024) and audioset.shape == (30, 521)
    assert 0 < tiny_run.openset().oof_in_set_share <= 1


def test_a_run_trained_on_other_recording_conditions_says_so_and_scores_them(dev, yamnet, tmp_path):
    """`train --real-conditions train`: the heads also learn from two augmented views of every clip, and every held-out
    clip is scored once more through a chain no head trained on ("ESC-50 under real conditions"), out of fold."""
    from soundlab import augment

    cfg = HeadsConfig(heads=("logreg",), real_views=augment.TRAIN_VIEWS, real_test=True)
    path = train.train_run(small(dev), "esc50", HeadsTrainer(yamnet, cfg), cache_dir=tmp_path / "cache",
                           runs_dir=tmp_path / "runs", log=lambda m: None)
    run = runs.load_run(path)
    record = run.model("logreg")
    assert record["train_views"] == ["orig", *augment.TRAIN_VIEWS]
    real = record["real_conditions"]
    table = pd.read_csv(run.path / real["oof"])
    assert len(table) == 30 and 0 <= real["cv"]["accuracy"] <= 1
    assert (table["fold"] == runs.read_oof(run, "logreg")["fold"]).all()  # the same folds as the plain predictions
    assert run.trained_on_real_conditions and "other recording conditions" in run.model_title("logreg")


def test_tiny_run_heads_load_in_safe_mode(tiny_run, rng):
    x = rng.standard_normal((3, 10, 1024)).astype(np.float32)
    for kind in tiny_run.model_names:
        head = heads.HeadPredictor(heads.load(tiny_run.model_path(kind)), kind)
        p = head.predict(x)
        assert p.shape == (3, 5) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
        assert head.frame_probs(x[0]).shape == (10, 5)
    att = heads.HeadPredictor(heads.load(tiny_run.model_path("attention")), "attention")
    w = att.attention_weights(x[0])
    assert w.shape == (10,) and np.isclose(w.sum(), 1, atol=1e-4)


def test_damaged_head_and_truncated_predictions(tiny_run, tmp_path):
    import shutil

    copy = tmp_path / tiny_run.path.name
    shutil.copytree(tiny_run.path, copy)
    (copy / tiny_run.model("mlp")["file"]).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError, match="damaged"):
        heads.load(copy / tiny_run.model("mlp")["file"])
    (copy / tiny_run.model("linear")["file"]).unlink()
    with pytest.raises(ModelError, match="not found"):
        heads.load(copy / tiny_run.model("linear")["file"])
    text = (copy / "oof" / "attention.csv").read_text()
    (copy / "oof" / "attention.csv").write_text(text[: len(text) // 2])
    run = runs.load_run(copy)
    with pytest.raises(runs.RunError, match="truncated"):
        runs.read_oof(run, "attention")
    (copy / "run.json").write_text("{not json")
    with pytest.raises(runs.RunError, match="not valid JSON"):
        runs.load_run(copy)


def test_cli_evaluate_recomputes_from_the_stored_predictions(tiny_run, tmp_path):
    artifacts = tmp_path / "artifacts"
    (artifacts / "runs").mkdir(parents=True)
    import shutil

    shutil.copytree(tiny_run.path, artifacts / "runs" / tiny_run.path.name)
    env = {"PATH": "/usr/bin:/bin", "SOUNDLAB_ARTIFACTS_DIR": str(artifacts), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "soundlab", "evaluate", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout[out.stdout.index("["):])
    assert {r["model"] for r in rows} == set(heads.HEAD_KINDS)
    for r in rows:
        assert r["accuracy"] == pytest.approx(tiny_run.model(r["model"])["cv"]["accuracy"], abs=1e-6)


def test_shipped_runs(dev):
    shipped, problems = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    assert problems == []
    shipped = [r for r in shipped if r.family == "yamnet"]  # the from-scratch runs: tests/test_scratch.py
    by_task = {r.task: r for r in shipped}
    assert set(by_task) == {"esc50", "esc10"}
    assert by_task["esc50"].protocol["name"] == "esc50-grouped" and by_task["esc50"].info["coverage"]["clips_present"] == int(dev.meta["present"].sum())
    assert by_task["esc10"].protocol["name"] == "esc10-official"
    assert runs.preferred(shipped).task == "esc50"
    for run in shipped:
        assert run.fingerprint == "yamnet-tflite-2d5e1e0577beb1fd"
        for kind in run.model_names:
            oof = runs.read_oof(run, kind)
            assert set(oof["filename"]) <= set(dev.present["filename"])
            if run.protocol["name"].endswith("grouped"):
                assert oof.groupby("src_file")["fold"].nunique().max() == 1
        # most ESC-50 clips out of fold are judged "one of the 50" (the 95% target and the figures reached are in
        # bench/bench_openset.py and the README; this checks that the shipped calibration is that one)
        assert run.openset().oof_in_set_share >= 0.94


def test_table_of_shipped_results_is_consistent():
    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    table = pd.DataFrame([{"run": r.id, "head": k, "acc": r.model(k)["cv"]["accuracy"]}
                          for r in shipped if r.family == "yamnet" for k in r.model_names])
    assert (table["acc"] > 0.7).all()


def test_linear_heads_predict_exactly_as_keras_does(rng):
    """The logreg and linear heads are served in numpy (no TensorFlow call overhead); the answer is Keras's."""
    from soundlab.config import DEFAULT_ARTIFACTS_DIR
    from soundlab.models import heads

    served = [(r, k) for r in runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0] if r.classifies_audio
              for k in ("logreg", "linear") if k in r.model_names]
    assert {r.backbone_key for r, _ in served} == {"yamnet", "efficientat"}
    for run, kind in served:
        model = heads.load(run.model_path(kind))
        predictor = heads.HeadPredictor(model, kind)
        # Real embeddings (the run's clips'), not random ones: random input gives a standardised head logits in the
        # hundreds, where float32 rounding alone moves a near-tie's probabilities by more than 1e-5.
        x = runs.read_embeddings(run)[1][rng.choice(30, 30, replace=False)].reshape(3, 10, -1).astype(np.float32)
        assert np.allclose(predictor.predict(x), model(x, training=False).numpy(), atol=1e-5)
        assert np.allclose(predictor.frame_probs(x[0]), model(x[0][:, None, :], training=False).numpy(), atol=1e-5)

"""Heads on EfficientAT and EfficientAT fine-tuned end to end: tiny runs on a few real clips (seconds, not minutes)."""

import numpy as np
import pytest

from soundlab import runs, train
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings
from soundlab.data import esc50
from soundlab.models import efficientat, features, heads
from soundlab.models.backbone import load_backbone
from soundlab.train.finetune import NAME, FinetuneConfig, FinetuneTrainer
from soundlab.train.heads import HeadsConfig, HeadsTrainer
from tests.test_training import check_head_files, small

WEIGHTS = DEFAULT_ARTIFACTS_DIR / "efficientat" / efficientat.WEIGHTS_FILE


@pytest.fixture(scope="module")
def dev(dev_root):
    return esc50.load_dataset(dev_root)


@pytest.fixture(scope="module")
def tiny_eat_run(dev, tmp_path_factory):
    eat = load_backbone("efficientat", get_settings())
    cfg = HeadsConfig(max_epochs=4, patience=2)
    path = train.train_run(small(dev), "esc50", HeadsTrainer(eat, cfg), cache_dir=tmp_path_factory.mktemp("cache"),
                           runs_dir=tmp_path_factory.mktemp("runs"), log=lambda m: None)
    return runs.load_run(path)


@pytest.fixture(scope="module")
def tiny_finetune_run(dev, tmp_path_factory):
    trainer = FinetuneTrainer(WEIGHTS, FinetuneConfig(epochs=2, batch_size=8))
    path = train.train_run(small(dev), "esc50", trainer, cache_dir=tmp_path_factory.mktemp("cache"),
                           runs_dir=tmp_path_factory.mktemp("runs"), log=lambda m: None)
    return runs.load_run(path)


def test_every_head_kind_trains_on_efficientat(tiny_eat_run, rng):
    run = tiny_eat_run
    assert run.family == "efficientat" and run.classifies_audio and run.backbone_key == "efficientat"
    assert run.info["backbone"]["fingerprint"].startswith("efficientat-mn04-") and "efficientat" in run.id
    assert set(run.model_names) == set(heads.HEAD_KINDS)
    for kind in run.model_names:
        check_head_files(run, kind, 30, n_history_folds=0 if kind == "ensemble" else 5)
        predictor = heads.HeadPredictor(heads.load(run.model_path(kind)), kind)
        p = predictor.predict(rng.standard_normal((2, 16, 384)).astype(np.float32))
        assert p.shape == (2, 5) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
    names, pooled, audioset = runs.read_embeddings(run)
    assert pooled.shape == (30, 384) and audioset.shape == (30, 527)
    assert run.openset().oof_in_set_share > 0.5


def test_classifier_on_efficientat_classifies_a_clip(tiny_eat_run, dev_root):
    from soundlab.classify import classify_audio, load_classifier

    eat = load_backbone("efficientat", get_settings())
    clf = load_classifier(tiny_eat_run, None, eat)
    res = classify_audio(clf, dev_root / "audio" / "2-117271-A-0.wav")
    assert res.tagger == "EfficientAT" and len(res.audioset) == 527 and res.probs.shape == (5,)
    assert res.top(1)[0][0] == "Dog" and {"Dog", "Bark"} & {t for t, _ in res.top_tags(5)}
    yam = load_backbone("yamnet", get_settings())
    with pytest.raises(Exception, match="takes 384-d embeddings"):
        load_classifier(tiny_eat_run, None, yam)  # a head for one backbone refuses the other, with a reason


def test_fine_tuned_run_folder_is_complete_and_reloads(tiny_finetune_run, dev):
    run = tiny_finetune_run
    assert run.family == "finetune" and not run.classifies_audio and run.model_names == [NAME]
    check_head_files(run, NAME, 30)
    m = run.model(NAME)
    # mn04's 0.98 M parameters less its 527-way AudioSet layer (270 k), plus the new 512 -> n layer
    assert m["epochs"] == 2 and 700_000 < m["params"] < 800_000 and run.info["inference_ms_per_clip"] > 0
    net = efficientat.load_fine_tuned(run.model_path(NAME), m["n_classes"])
    names, pooled, _ = runs.read_embeddings(run)
    assert pooled.shape == (30, 384)
    clips = list(zip(dev.present["filename"][:2], dev.present["path"][:2]))
    _, X, _ = features.feature_set(clips, features.SPECS["eat-logmel"], cache_dir=run.path.parent / "cache")
    from soundlab.train.finetune import predict

    p1, _ = predict(net, X)
    p2, _ = predict(net, X)
    assert p1.shape == (2, 5) and np.allclose(p1, p2) and np.allclose(p1.sum(axis=1), 1, atol=1e-4)


def test_fine_tuned_file_for_another_class_list_is_refused(tiny_finetune_run):
    from soundlab.errors import ModelError

    with pytest.raises(ModelError, match="another class list"):
        efficientat.load_fine_tuned(tiny_finetune_run.model_path(NAME), 50)

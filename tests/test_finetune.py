"""Heads on EfficientAT and EfficientAT fine-tuned end to end: tiny runs on a few real clips (seconds, not minutes)."""

import numpy as np
import pytest

from soundlab import runs, train
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings
from soundlab.models import efficientat, features, heads
from soundlab.models.backbone import load_backbone
from soundlab.train.finetune import NAME, FinetuneConfig, FinetuneTrainer
from soundlab.train.heads import HeadsConfig, HeadsTrainer
from tests.test_training import check_head_files, small

WEIGHTS = DEFAULT_ARTIFACTS_DIR / "efficientat" / efficientat.WEIGHTS_FILE


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


# ---- fused models: the fine-tuned network x a head on the frozen backbone -------------------------------------------

@pytest.fixture(scope="module")
def tiny_fused_run(tiny_finetune_run, tiny_eat_run, tmp_path_factory):
    from soundlab.train import fusion

    eat = load_backbone("efficientat", get_settings())
    path = fusion.fuse(tiny_finetune_run, tiny_eat_run, None, tmp_path_factory.mktemp("fused-runs"),
                       tag_names=eat.tag_names, log=lambda m: None)
    return runs.load_run(path)


def test_fused_run_combines_its_members_out_of_fold(tiny_fused_run, tiny_finetune_run, tiny_eat_run):
    from soundlab.models.fusion import KIND, geometric_mean

    run = tiny_fused_run
    assert run.model_names == [KIND] and run.default_model == KIND
    assert run.classifies_audio and run.backbone_key == "efficientat" and "fusion" in run.id
    m = run.model(KIND)
    assert m["finetuned"]["run"] == tiny_finetune_run.id and m["head"]["run"] == tiny_eat_run.id
    assert m["head"]["kind"] == tiny_eat_run.default_model and (run.path / m["finetuned"]["file"]).is_file()
    fused = runs.read_oof(run, KIND).set_index("filename")
    a = runs.read_oof(tiny_eat_run, tiny_eat_run.default_model).set_index("filename").loc[fused.index]
    b = runs.read_oof(tiny_finetune_run, NAME).set_index("filename").loc[fused.index]
    assert (fused["fold"] == a["fold"]).all() and (fused["true"] == a["true"]).all()
    expect = geometric_mean(runs.oof_probs(run, a), runs.oof_probs(run, b))
    assert np.allclose(runs.oof_probs(run, fused), expect, atol=2e-6)
    assert m["cv"]["accuracy"] == pytest.approx(float((expect.argmax(1) == fused["true"].to_numpy()).mean()))
    assert run.openset() is not None
    names, pooled, tags = runs.read_embeddings(run)
    assert pooled.shape == (30, 384) and tags.shape == (30, 527)


def test_fused_model_classifies_audio_with_both_members(tiny_fused_run, tiny_eat_run, dev_root):
    from soundlab.classify import classify_audio, load_classifier
    from soundlab.models.fusion import geometric_mean

    eat = load_backbone("efficientat", get_settings())
    clf = load_classifier(tiny_fused_run, None, eat)
    assert clf.finetuned is not None
    dog = dev_root / "audio" / "2-117271-A-0.wav"
    res = classify_audio(clf, dog)
    assert res.probs.shape == (5,) and np.isclose(res.probs.sum(), 1, atol=1e-4)
    assert res.frame_probs.shape == (len(res.frame_starts), 5) and res.verdict is not None
    # the fused probabilities are the geometric mean of what each member says of the same window
    head_only = classify_audio(load_classifier(tiny_eat_run, None, eat), dog)
    from soundlab import audio

    tuned, _ = clf.finetuned(audio.load(dog, sr=eat.params.sample_rate_hz).y)
    assert np.allclose(res.probs, geometric_mean(head_only.probs, tuned), atol=1e-4)
    # a short sound (0.4 s) is padded for the network as its 5 s training clips were
    short = audio.load(dog, sr=eat.params.sample_rate_hz).y[: int(0.4 * eat.params.sample_rate_hz)]
    p, f = clf.finetuned(short)
    assert p.shape == (5,) and f.ndim == 2 and np.isfinite(f).all()


def test_fuse_refuses_runs_that_cannot_be_combined(tiny_finetune_run, tiny_eat_run, tmp_path):
    import shutil

    from soundlab.errors import RunError
    from soundlab.train import fusion

    kw = {"tag_names": [], "log": lambda m: None}
    with pytest.raises(RunError, match="not a fine-tuned run"):
        fusion.fuse(tiny_eat_run, tiny_eat_run, None, tmp_path, **kw)
    with pytest.raises(RunError, match="not a run of heads on EfficientAT"):
        fusion.fuse(tiny_finetune_run, tiny_finetune_run, None, tmp_path, **kw)
    # the same clips with one clip in another fold: out-of-fold predictions of different models cannot be combined
    moved = tmp_path / "moved"
    shutil.copytree(tiny_eat_run.path, moved)
    oof = moved / tiny_eat_run.model(tiny_eat_run.default_model)["oof"]
    table = __import__("pandas").read_csv(oof)
    table.loc[0, "fold"] = table.loc[0, "fold"] % 5 + 1
    table.to_csv(oof, index=False)
    with pytest.raises(RunError, match="different folds"):
        fusion.fuse(tiny_finetune_run, runs.load_run(moved), None, tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing half-written


def test_shipped_fine_tuned_network_serves_what_it_was_evaluated_on(dev_root):
    """The Classify page runs the fine-tuned network on a decoded waveform; its out-of-fold figures come from the
    cached spectrogram features. Both paths must give the same probabilities."""
    from soundlab import audio
    from soundlab.train.finetune import predict

    shipped = [r for r in runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0] if r.family == "finetune" and r.task == "esc50"]
    run = shipped[0]
    net = efficientat.FineTunedNetwork(run.model_path(NAME), len(run.classes))
    for name in ("2-117271-A-0.wav", "4-102871-A-42.wav", "4-181286-A-10.wav"):
        y = audio.load(dev_root / "audio" / name, sr=32_000).y
        p, _ = net(y)
        q, _ = predict(net.net, efficientat.log_mel(features.fit_length(y, 160_000))[None])
        assert np.allclose(p, q[0], atol=1e-4)
        assert run.classes[int(p.argmax())] == {"0": "dog", "42": "siren", "10": "rain"}[name.split("-")[-1][:-4]]


def test_shipped_fused_runs_recompute_from_their_members():
    """Each shipped fused run's stored out-of-fold predictions are the geometric mean of its member runs' (also
    shipped; two, or three with a head on YAMNet, and the tag evidence fitted fold by fold from those runs' stored
    tags), clip by clip and fold by fold: its headline numbers come from stored predictions, not from a search."""
    from soundlab.models.fusion import KIND, class_prior, geometric_mean
    from soundlab.train.fusion import clip_tags, tag_evidence_members

    shipped = runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0]
    fused = [r for r in shipped if r.is_fused()]
    assert {r.task for r in fused} == {"esc50", "esc10"}
    for run in fused:
        m = run.model(KIND)
        tuned, head_run = runs.find(shipped, m["finetuned"]["run"]), runs.find(shipped, m["head"]["run"])
        table = runs.read_oof(run, KIND)
        a = runs.read_oof(head_run, m["head"]["kind"]).set_index("filename").loc[table["filename"]]
        b = runs.read_oof(tuned, tuned.default_model).set_index("filename").loc[table["filename"]]
        assert (a["fold"].to_numpy() == table["fold"].to_numpy()).all()
        assert (b["fold"].to_numpy() == table["fold"].to_numpy()).all()
        members = [runs.oof_probs(run, a), runs.oof_probs(run, b)]
        if "second" in m:
            c = runs.read_oof(runs.find(shipped, m["second"]["run"]), m["second"]["kind"]).set_index("filename")
            c = c.loc[table["filename"]]
            assert (c["fold"].to_numpy() == table["fold"].to_numpy()).all()
            members.append(runs.oof_probs(run, c))
        if "tag_evidence" in m:
            taggers = [head_run] + ([runs.find(shipped, m["second"]["run"])] if "second" in m else [])
            members += tag_evidence_members(table, {r.backbone_key: clip_tags(r, table["filename"]) for r in taggers},
                                            len(run.classes))[1]
        expect = geometric_mean(*members)
        if "class_prior" in m:  # each fold divided by the class frequencies of the other folds
            folds, labels = table["fold"].to_numpy(), table["true"].to_numpy()
            for k in np.unique(folds):
                rows = folds == k
                expect[rows] = geometric_mean(*(p[rows] for p in members),
                                              prior=class_prior(labels[~rows], len(run.classes)))
            assert np.allclose(m["class_prior"], class_prior(labels, len(run.classes)), atol=1e-7)
        assert np.allclose(runs.oof_probs(run, table), expect, atol=2e-6)


def test_fine_tuned_network_reuses_the_backbones_spectrogram(dev_root):
    """A fused model hands the backbone's spectrogram of a 5 s window to the fine-tuned network: the same input as
    computing it again (the same front end), so the same answer."""
    from soundlab import audio

    eat = load_backbone("efficientat", get_settings())
    run = next(r for r in runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0] if r.family == "finetune" and r.task == "esc50")
    net = eat.fine_tuned(run.model_path(NAME), len(run.classes))
    y = audio.load(dev_root / "audio" / "2-117271-A-0.wav", sr=32_000).y
    out = eat(y)
    (p1, f1), (p2, f2) = net(y), net(y, out.log_mel)
    assert out.log_mel.shape[0] == 128 and np.allclose(p1, p2, atol=1e-5) and np.allclose(f1, f2, atol=1e-5)
    short = y[:16_000]  # padded for the network: the backbone's spectrogram of the short input is not used
    assert np.allclose(net(short)[0], net(short, eat(short).log_mel)[0], atol=1e-6)


# ---- a fused model with a second backbone: the fine-tuned network x a head on EfficientAT x a head on YAMNet -----------

@pytest.fixture(scope="module")
def tiny_yamnet_run(dev, tmp_path_factory):
    yam = load_backbone("yamnet", get_settings())
    path = train.train_run(small(dev), "esc50", HeadsTrainer(yam, HeadsConfig(heads=("logreg",))),
                           cache_dir=tmp_path_factory.mktemp("cache"), runs_dir=tmp_path_factory.mktemp("runs"),
                           log=lambda m: None)
    return runs.load_run(path)


@pytest.fixture(scope="module")
def tiny_fused_yamnet_run(tiny_finetune_run, tiny_eat_run, tiny_yamnet_run, tmp_path_factory):
    from soundlab.train import fusion

    eat = load_backbone("efficientat", get_settings())
    path = fusion.fuse(tiny_finetune_run, tiny_eat_run, None, tmp_path_factory.mktemp("fused-runs"),
                       tag_names=eat.tag_names, log=lambda m: None, second=(tiny_yamnet_run, "logreg"))
    return runs.load_run(path)


def test_fused_run_with_yamnet_combines_three_members(tiny_fused_yamnet_run, tiny_finetune_run, tiny_eat_run,
                                                      tiny_yamnet_run):
    from soundlab.models.fusion import KIND, geometric_mean

    run = tiny_fused_yamnet_run
    m = run.model(KIND)
    assert m["second"]["run"] == tiny_yamnet_run.id and m["second"]["backbone"] == "yamnet"
    assert (run.path / m["second"]["file"]).is_file() and len(run.info["config"]["members"]) == 3
    assert run.title.endswith("fused with YAMNet") and "fused with YAMNet" in run.model_title()
    fused = runs.read_oof(run, KIND).set_index("filename")
    members = [runs.read_oof(r, k).set_index("filename").loc[fused.index]
               for r, k in ((tiny_eat_run, tiny_eat_run.default_model), (tiny_finetune_run, NAME),
                            (tiny_yamnet_run, "logreg"))]
    expect = geometric_mean(*(runs.oof_probs(run, t) for t in members))
    assert np.allclose(runs.oof_probs(run, fused), expect, atol=2e-6)


def test_fused_model_with_yamnet_hears_each_window_through_both_backbones(tiny_fused_yamnet_run, tiny_fused_run,
                                                                         tiny_yamnet_run, dev_root):
    from soundlab.classify import classify_audio, classify_waveform, load_classifier
    from soundlab.models.fusion import geometric_mean

    eat = load_backbone("efficientat", get_settings())
    yam = load_backbone("yamnet", get_settings())
    clf = load_classifier(tiny_fused_yamnet_run, None, eat, other_backbone=lambda key: yam)
    assert clf.second is not None and clf.second[0] is yam.beside()  # the app's YAMNet's one twin, not a new load
    dog = dev_root / "audio" / "2-117271-A-0.wav"
    res = classify_audio(clf, dog)
    two = classify_audio(load_classifier(tiny_fused_run, None, eat), dog)
    alone = classify_audio(load_classifier(tiny_yamnet_run, None, yam), dog)
    # three members by the geometric mean: (two members)^2 x YAMNet's head, renormalised
    assert np.allclose(res.probs, geometric_mean(two.probs, two.probs, alone.probs), atol=2e-3)
    assert res.frame_probs.shape == (len(res.frame_starts), 5) and np.isfinite(res.frame_probs).all()
    # what YAMNet heard inside the model is the result's, as tag_audio would give it (the page shows it, no 2nd pass)
    from soundlab.classify import tag_audio

    assert set(res.more_tags) == {"YAMNet"} and not two.more_tags
    assert np.allclose(res.more_tags["YAMNet"], tag_audio(yam, dog), atol=0.03)
    p, _ = classify_waveform(clf, np.zeros(eat.params.sample_rate_hz, np.float32) + 1e-3)  # live mode's path
    assert p.shape == (5,) and np.isclose(p.sum(), 1, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_fused_tags_run(tiny_finetune_run, tiny_eat_run, tiny_yamnet_run, tmp_path_factory):
    from soundlab.train import fusion

    eat = load_backbone("efficientat", get_settings())
    path = fusion.fuse(tiny_finetune_run, tiny_eat_run, None, tmp_path_factory.mktemp("fused-runs"),
                       tag_names=eat.tag_names, log=lambda m: None, second=(tiny_yamnet_run, "logreg"), with_tags=True)
    return runs.load_run(path)


def test_fuse_with_tag_evidence_adds_what_each_tagger_hears_as_members(tiny_fused_tags_run, tiny_fused_yamnet_run,
                                                                        tiny_eat_run, tiny_yamnet_run, dev_root):
    """`fuse --tag-evidence`: each backbone's tag prototypes join the geometric mean, out of fold in the run's table
    (fitted on the other folds) and, when classifying, from the tags each pass gives anyway."""
    from soundlab.classify import classify_audio, load_classifier
    from soundlab.models import tag_evidence
    from soundlab.models.fusion import KIND, geometric_mean
    from soundlab.train import fusion

    run = tiny_fused_tags_run
    spec = run.model(KIND)
    assert spec["tag_evidence"]["taggers"] == ["efficientat", "yamnet"] and len(run.info["config"]["members"]) == 5
    three = runs.read_oof(tiny_fused_yamnet_run, KIND).set_index("filename")
    table = runs.read_oof(tiny_eat_run, tiny_eat_run.default_model)
    _, oof = fusion.tag_evidence_members(table, {r.backbone_key: fusion.clip_tags(r, table["filename"])
                                                 for r in (tiny_eat_run, tiny_yamnet_run)}, 5)
    p3 = runs.oof_probs(tiny_fused_yamnet_run, three.loc[table["filename"]].reset_index())
    fused = runs.read_oof(run, KIND).set_index("filename").loc[table["filename"]].reset_index()
    assert np.allclose(runs.oof_probs(run, fused), geometric_mean(p3, p3, p3, *oof), atol=1e-4)
    eat, yam = load_backbone("efficientat", get_settings()), load_backbone("yamnet", get_settings())
    clf = load_classifier(run, None, eat, other_backbone=lambda key: yam)
    dog = dev_root / "audio" / "2-117271-A-0.wav"
    res = classify_audio(clf, dog)
    before = classify_audio(load_classifier(tiny_fused_yamnet_run, None, eat, other_backbone=lambda key: yam), dog)
    protos = tag_evidence.load(run.path / spec["tag_evidence"]["file"])
    expect = geometric_mean(before.probs, before.probs, before.probs, protos["efficientat"].predict(res.audioset),
                            protos["yamnet"].predict(res.more_tags["YAMNet"]))
    assert np.allclose(res.probs, expect, atol=2e-3)
    assert np.isfinite(res.frame_probs).all() and res.frame_probs.shape == (len(res.frame_starts), 5)


def test_fuse_with_class_balance_divides_out_the_class_frequencies(tiny_finetune_run, tiny_eat_run, tiny_fused_run,
                                                                   dev_root, tmp_path):
    """`fuse --class-balance`: out of fold, each fold's fused probabilities are divided by the class frequencies of
    the folds its members learned from; when classifying, by those of every clip (stored in run.json)."""
    from soundlab.classify import classify_audio, load_classifier
    from soundlab.models.fusion import KIND, class_prior, geometric_mean
    from soundlab.train import fusion

    eat = load_backbone("efficientat", get_settings())
    run = runs.load_run(fusion.fuse(tiny_finetune_run, tiny_eat_run, None, tmp_path, tag_names=eat.tag_names,
                                    log=lambda m: None, balance=True))
    spec = run.model(KIND)
    table = runs.read_oof(run, KIND)
    plain = runs.read_oof(tiny_fused_run, KIND).set_index("filename").loc[table["filename"]].reset_index()
    labels, folds = table["true"].to_numpy(), table["fold"].to_numpy()
    assert np.allclose(spec["class_prior"], class_prior(labels, 5), atol=1e-7)
    assert "divided by the training clips' class frequencies" in run.info["config"]["combine"]
    assert "classes weighed alike" in run.model_title()
    p = runs.oof_probs(tiny_fused_run, plain)
    for k in np.unique(folds):
        rows = folds == k
        assert np.allclose(runs.oof_probs(run, table)[rows], geometric_mean(p[rows], prior=class_prior(labels[~rows], 5)),
                           atol=1e-5)
    dog = dev_root / "audio" / "2-117271-A-0.wav"
    before = classify_audio(load_classifier(tiny_fused_run, None, eat), dog)
    res = classify_audio(load_classifier(run, None, eat), dog)
    assert np.allclose(res.probs, geometric_mean(before.probs, prior=spec["class_prior"]), atol=2e-3)
    assert np.isfinite(res.frame_probs).all()


def test_a_damaged_class_prior_is_one_line(tiny_fused_run, tmp_path):
    import json
    import shutil

    from soundlab.classify import load_classifier
    from soundlab.errors import ModelError
    from soundlab.models.fusion import KIND

    copy = tmp_path / tiny_fused_run.id
    shutil.copytree(tiny_fused_run.path, copy)
    info = json.loads((copy / "run.json").read_text())
    info["models"][KIND]["class_prior"] = [0.5, 0.5]
    (copy / "run.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match="class_prior is not one positive number per class; fuse the run again"):
        load_classifier(runs.load_run(copy), None, load_backbone("efficientat", get_settings()))


def test_fuse_refuses_a_second_member_that_cannot_be_combined(tiny_finetune_run, tiny_eat_run, tmp_path):
    from soundlab.errors import RunError
    from soundlab.train import fusion

    with pytest.raises(RunError, match="another backbone than EfficientAT"):
        fusion.fuse(tiny_finetune_run, tiny_eat_run, None, tmp_path, tag_names=[], log=lambda m: None,
                    second=(tiny_eat_run, tiny_eat_run.default_model))


def test_a_fused_model_with_yamnet_lets_either_tagger_vouch_for_the_class(tiny_fused_yamnet_run, dev_root):
    """Its open-set check also reads YAMNet's tags: the class's own tags heard by either tagger count as support, and
    speech or music heard by either counts; the calibration stores YAMNet's tag map, and live mode (no YAMNet tags)
    falls back to EfficientAT's alone."""
    from soundlab import openset
    from soundlab.classify import classify_audio, load_classifier

    run = tiny_fused_yamnet_run
    osm = run.openset()
    assert osm.second is not None and osm.second.name == "YAMNet" and osm.second.speech_music
    assert runs.read_second_tags(run)[1].shape == (30, 521)
    eat, yam = load_backbone("efficientat", get_settings()), load_backbone("yamnet", get_settings())
    clf = load_classifier(run, None, eat, other_backbone=lambda key: yam)
    res = classify_audio(clf, dev_root / "audio" / "2-117271-A-0.wav")
    tags2 = yam(__import__("soundlab.audio", fromlist=["load"]).load(dev_root / "audio" / "2-117271-A-0.wav",
                                                                        sr=16_000).y).pooled_scores
    both = clf.verdict(res.probs, res.embedding, res.audioset, tags2)
    alone = clf.verdict(res.probs, res.embedding, res.audioset)
    assert both.values[3] <= alone.values[3] + 1e-6 and both.values[4] >= alone.values[4] - 1e-6
    # the signals by hand: support is the smaller of the two taggers', speech/music the larger
    p = res.probs[None]
    one = openset.signals(probs=p, pooled=res.embedding[None], tags=res.audioset[None], ref_pooled=clf.train_pooled,
                          ref_labels=clf.train_labels, tag_map=osm.tag_map, speech_music=osm.speech_music)
    two = openset.signals(probs=p, pooled=res.embedding[None], tags=tags2[None], ref_pooled=clf.train_pooled,
                          ref_labels=clf.train_labels, tag_map=osm.second.tag_map, speech_music=osm.second.speech_music)
    assert np.isclose(both.values[3], min(one[0, 3], two[0, 3]), atol=1e-5)
    assert np.isclose(both.values[4], max(one[0, 4], two[0, 4]), atol=1e-5)


def test_live_mode_judges_a_window_with_both_taggers(tiny_fused_yamnet_run, dev_root):
    """Live mode gives the verdict YAMNet's tags of the same window, as a file's classification does."""
    from soundlab import audio, live
    from soundlab.classify import classify_waveform, load_classifier

    eat, yam = load_backbone("efficientat", get_settings()), load_backbone("yamnet", get_settings())
    clf = load_classifier(tiny_fused_yamnet_run, None, eat, other_backbone=lambda key: yam)
    y = audio.load(dev_root / "audio" / "2-117271-A-0.wav", sr=eat.params.sample_rate_hz).y[: 2 * 32_000]
    stream = live.for_classifier(clf)
    stream.push(y, eat.params.sample_rate_hz)
    update = stream.step()
    assert update is not None and update.verdict is not None
    window = stream.buffer
    got = []
    probs, out = classify_waveform(clf, window, got)
    expect = clf.verdict(probs, out.pooled_embedding, out.pooled_scores, got[0])
    assert len(got) == 1 and np.allclose(update.verdict.values, expect.values, atol=1e-4)


def test_live_mode_shows_the_tags_yamnet_heard_inside_the_model(tiny_fused_yamnet_run, dev_root, monkeypatch):
    """YAMNet among the other backbones: its tags of each window come from the model's own YAMNet pass, not another."""
    from soundlab import audio, live
    from soundlab.classify import load_classifier

    eat, yam = load_backbone("efficientat", get_settings()), load_backbone("yamnet", get_settings())
    clf = load_classifier(tiny_fused_yamnet_run, None, eat, other_backbone=lambda key: yam)
    passes = []
    call = type(yam).__call__
    monkeypatch.setattr(type(yam), "__call__", lambda self, y: passes.append(len(y)) or call(self, y))
    stream = live.for_classifier(clf, others=(yam,))
    stream.push(audio.load(dev_root / "audio" / "2-117271-A-0.wav", sr=32_000).y[: 2 * 32_000], 32_000)
    update = stream.step()
    assert update is not None and len(passes) == 1  # one YAMNet pass for the model and the tags shown
    assert update.other_tags["YAMNet"].shape == (521,) and update.other_tags["YAMNet"].max() > 0.05


def test_fine_tuning_on_other_recording_conditions_says_so_and_scores_them(dev, tmp_path):
    """`train --model finetune --real-conditions train`: each example is drawn from the clip or two recordings of it
    made otherwise (spectrograms cached per view), and every held-out clip is scored once more through a chain the
    network never trained on ("ESC-50 under real conditions"), out of fold."""
    import pandas as pd

    from soundlab import augment

    cfg = FinetuneConfig(epochs=1, batch_size=8, real_views=augment.TRAIN_VIEWS, real_test=True)
    path = train.train_run(small(dev), "esc50", FinetuneTrainer(WEIGHTS, cfg), cache_dir=tmp_path / "cache",
                           runs_dir=tmp_path / "runs", log=lambda m: None)
    run = runs.load_run(path)
    cached = sorted(p.name for p in (tmp_path / "cache" / "features").glob("*.npz"))
    assert len(cached) == 4 and sum(f"-{v}-v{augment.VERSION}" in n for n in cached for v in augment.VIEWS) == 3
    real = run.model(NAME)["real_conditions"]
    table = pd.read_csv(run.path / real["oof"])
    assert len(table) == 30 and (table["fold"] == runs.read_oof(run, NAME)["fold"]).all()
    assert run.trained_on_real_conditions and run.model_title() == ("EfficientAT fine-tuned end to end, also on other "
                                                                    "recording conditions")


def test_an_unknown_recording_conditions_view_is_refused(dev, tmp_path):
    from soundlab.errors import ParameterError

    clips = [("a.wav", str(tmp_path / "a.wav"))]
    with pytest.raises(ParameterError, match="unknown recording-conditions view 'phone'"):
        features.feature_set(clips, features.SPECS["eat-logmel"], cache_dir=tmp_path, view="phone")


def test_recording_conditions_with_a_model_trained_from_scratch_is_one_line(dev_root, monkeypatch):
    from soundlab import cli

    monkeypatch.setenv("SOUNDLAB_ESC50_ROOT", str(dev_root))
    with pytest.raises(SystemExit, match="--real-conditions works with --model heads or finetune"):
        cli.main(["train", "--task", "esc50", "--model", "cnn", "--real-conditions", "train"])

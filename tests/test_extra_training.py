"""Training on recordings from outside the dataset (`train --extra-train`): only ever in training folds, said in the
run, in the open-set reference, and never evaluated on."""

import csv

import numpy as np
import pytest

from soundlab import external, runs, train
from soundlab.config import get_settings
from soundlab.errors import DatasetError
from soundlab.models.backbone import load_backbone
from soundlab.train import extra
from soundlab.train.heads import HeadsConfig, HeadsTrainer
from tests.test_training import small

CLASSES = ("dog", "rooster", "rain", "sea_waves", "crackling_fire")


@pytest.fixture(scope="module")
def outside(dev, tmp_path_factory):
    """A labelled CSV of dev clips that the small dataset leaves out (standing in for recordings made elsewhere),
    two per class, split A/B, and one foreign row."""
    used = set(small(dev).present["filename"])
    rows = (dev.present[dev.present["category"].isin(CLASSES) & ~dev.present["filename"].isin(used)]
            .drop_duplicates("src_file").groupby("category").head(2))
    path = tmp_path_factory.mktemp("outside") / "labels.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "label", "split"])
        for i, (p, c) in enumerate(zip(rows["path"], rows["category"], strict=True)):
            w.writerow([p, c, "AB"[i % 2]])
        cat = dev.present[dev.present["category"] == "cat"]["path"].iloc[0]
        w.writerow([cat, "foreign", "A"])  # a sound of none of the run's classes: not training data
    return path, len(rows)


@pytest.fixture(scope="module")
def extra_run(dev, outside, tmp_path_factory):
    """A tiny logreg run with the outside recordings; records which rows every fit was given."""
    eat = load_backbone("efficientat", get_settings())
    trainer = HeadsTrainer(eat, HeadsConfig(heads=("logreg",)))
    calls = []
    fit = trainer.fit

    def spy(name, rows, y, groups, **kw):
        calls.append(np.asarray(rows).copy())
        return fit(name, rows, y, groups, **kw)

    trainer.fit = spy
    path = train.train_run(small(dev), "esc50", trainer, cache_dir=tmp_path_factory.mktemp("cache"),
                           runs_dir=tmp_path_factory.mktemp("runs"), log=lambda m: None,
                           extra_train=(str(outside[0]), ()))
    return runs.load_run(path), calls


def test_outside_recordings_train_every_fold_and_are_never_tested(extra_run, outside):
    run, calls = extra_run
    n = len(runs.read_oof(run, "logreg"))
    assert n == 30  # the out-of-fold table holds the dataset's clips only
    info = run.extra_training
    assert info["recordings"] == outside[1] and info["windows"] >= outside[1] and info["classes"] == 5
    assert all(len(f["sha256"]) == 64 for f in info["files"]) and {f["label"] for f in info["files"]} == set(CLASSES)
    extra_rows = set(range(n, n + info["windows"]))
    assert len(calls) == 6  # five folds and the deployed model
    for rows in calls:
        assert extra_rows <= set(rows.tolist())  # in every training set
    # each fold's training rows leave out that fold's clips: the clips tested are never the extra ones
    tested = [set(range(n)) - set(rows.tolist()) for rows in calls[:5]]
    assert set().union(*tested) == set(range(n)) and not any(t & extra_rows for t in tested)
    assert run.model_title().endswith(f"also trained on {outside[1]} outside recordings")


def test_outside_recordings_join_the_open_set_reference(extra_run):
    from soundlab.classify import load_classifier

    run, _ = extra_run
    pooled, tags, labels = runs.read_extra_embeddings(run)
    assert pooled.shape == (run.extra_training["windows"], 384) and tags.shape[1] == 527
    clf = load_classifier(run, None, load_backbone("efficientat", get_settings()))
    assert len(clf.train_pooled) == 30 + len(pooled) and (clf.train_labels[30:] == labels).all()


def test_an_evaluation_leaves_out_what_the_run_learned_from(extra_run, outside):
    run, _ = extra_run
    labelled = external.read_labelled(outside[0], run.classes, run.class_names)
    kept = external.without_training_clips(labelled, run)
    assert [lab for _, lab in kept.items] == [external.FOREIGN]  # the foreign clip was not trained on
    assert any(f"{outside[1]} clips left out" in p for p in kept.problems)
    only_trained = external.LabelledSet("t", labelled.root, tuple(i for i in labelled.items if i[1] != "foreign"))
    with pytest.raises(DatasetError, match="every clip was in the training data"):
        external.without_training_clips(only_trained, run)


def test_extra_split_keeps_only_its_rows(outside, tmp_path):
    classes = list(CLASSES)
    a = extra.prepare(outside[0], classes, classes, cache_dir=tmp_path, splits=("A",), log=lambda m: None)
    b = extra.prepare(outside[0], classes, classes, cache_dir=tmp_path, splits=("B",), log=lambda m: None)
    assert len(a.recordings) + len(b.recordings) == outside[1] and a.splits == ("A",)
    assert not {f["sha256"] for f in a.recordings} & {f["sha256"] for f in b.recordings}
    with pytest.raises(DatasetError, match="split"):
        extra.prepare(outside[0], classes, classes, cache_dir=tmp_path, splits=("C",), log=lambda m: None)


def test_windows_repeat_a_short_sound_cap_a_long_one_and_skip_silence(rng):
    sr = 1000
    (one,) = extra._windows(np.linspace(-1, 1, 1200, dtype=np.float32), sr)  # 1.2 s: repeated to fill 5 s
    assert len(one) == 5000 and np.allclose(one[1200:2400], one[:1200])
    long = rng.standard_normal(60 * sr).astype(np.float32)
    wins = extra._windows(long, sr)
    assert len(wins) == extra.MAX_WINDOWS and all(len(w) == 5000 for w in wins)
    half_silent = np.concatenate([np.zeros(30 * sr, np.float32), long[: 30 * sr]])
    assert all(np.abs(w).max() > 0 for w in extra._windows(half_silent, sr))


def test_a_standardised_logistic_regression_is_stored_as_plain_weights(rng):
    """`train --standardize`: the scaling is folded into the head's weights, so serving needs nothing new and gives
    what scikit-learn's scaler + logistic regression give."""
    from types import SimpleNamespace

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from soundlab.models import heads

    trainer = HeadsTrainer(SimpleNamespace(key="fake", params=SimpleNamespace(embedding_dim=6)),
                           HeadsConfig(heads=("logreg",), logreg_standardize=True))
    trainer.n_classes = 3
    x = (rng.standard_normal((90, 4, 6)) * [1, 10, 100, 0.1, 1, 5] + [0, 5, -50, 1, 2, 3]).astype(np.float32)
    y = rng.integers(0, 3, 90)
    x[y == 1, :, 1] += 8  # something to learn
    fit = trainer._fit_sklearn("logreg", [x], y)
    served = heads.HeadPredictor(fit.model, "logreg").predict(x)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x.mean(axis=1), y)
    assert np.allclose(served, reference.predict_proba(x.mean(axis=1)), atol=1e-4)


def test_extra_windows_weigh_what_train_extra_weight_says(rng):
    """`train --extra-weight W`: each extra window counts as W dataset clips in the fit (scikit-learn's sample
    weights), the dataset's clips as one."""
    from types import SimpleNamespace

    from sklearn.linear_model import LogisticRegression

    from soundlab.models import heads

    trainer = HeadsTrainer(SimpleNamespace(key="fake", params=SimpleNamespace(embedding_dim=6)),
                           HeadsConfig(heads=("logreg",), extra_weight=3.0))
    trainer.n_classes, trainer.filenames, trainer.extra = 3, [f"c{i}" for i in range(60)], object()
    x = rng.standard_normal((90, 2, 6)).astype(np.float32)
    y = rng.integers(0, 3, 90)
    trainer.X = {"orig": x}
    rows = np.arange(90)  # 60 dataset clips, then 30 extra windows
    assert trainer._weights(rows).tolist() == [1.0] * 60 + [3.0] * 30
    served = heads.HeadPredictor(trainer.fit("logreg", rows, y, rows, seed=0).model, "logreg").predict(x)
    reference = LogisticRegression(max_iter=5000).fit(x.mean(axis=1), y, sample_weight=[1.0] * 60 + [3.0] * 30)
    assert np.allclose(served, reference.predict_proba(x.mean(axis=1)), atol=1e-4)
    assert HeadsTrainer(trainer.backbone, HeadsConfig(heads=("logreg",)))._weights(rows) is None


@pytest.mark.parametrize(("args", "says"), [
    (["--extra-weight", "3"], "give that too"),
    (["--extra-train", "x.csv", "--extra-weight", "0"], "finite number above 0, not 0"),
    (["--extra-train", "x.csv", "--extra-weight", "nan"], "finite number above 0, not nan"),
    (["--extra-train", "x.csv", "--extra-weight", "inf"], "finite number above 0, not inf"),
])
def test_a_bad_extra_weight_is_one_line(args, says, dev_root, monkeypatch):
    from soundlab import cli

    monkeypatch.setenv("SOUNDLAB_ESC50_ROOT", str(dev_root))
    with pytest.raises(SystemExit, match=says):
        cli.main(["train", "--task", "esc50", "--heads", "logreg", *args])


def test_fine_tuning_learns_from_outside_recordings_in_every_fold_and_never_tests_them(dev, outside, extra_run,
                                                                                      tmp_path):
    """`train --model finetune --extra-train`: the windows' spectrograms join every training fold (and the views
    that train), weighed as `--extra-weight` says; the out-of-fold table holds the dataset's clips only; a fused run
    refuses heads trained on other recordings than its fine-tuned network."""
    from soundlab.config import DEFAULT_ARTIFACTS_DIR
    from soundlab.errors import RunError
    from soundlab.models import efficientat
    from soundlab.train import finetune, fusion

    seen = []
    real = finetune.fine_tune

    def spy(X, y, n_classes, cfg, **kw):
        seen.append((len(X), len(kw["views"]), kw["sample_weight"]))
        return real(X, y, n_classes, cfg, **kw)

    trainer = finetune.FinetuneTrainer(DEFAULT_ARTIFACTS_DIR / "efficientat" / efficientat.WEIGHTS_FILE,
                                       finetune.FinetuneConfig(epochs=1, batch_size=8, extra_weight=3.0,
                                                               real_views=("real1",)))
    finetune.fine_tune = spy
    try:
        path = train.train_run(small(dev), "esc50", trainer, cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs",
                               log=lambda m: None, extra_train=(str(outside[0]), ("A",)))
    finally:
        finetune.fine_tune = real
    run = runs.load_run(path)
    windows = run.extra_training["windows"]
    assert run.extra_training["splits"] == ["A"] and run.extra_training["weight"] == 3.0
    assert len(runs.read_oof(run, finetune.NAME)) == 30 and len(runs.read_embeddings(run)[0]) == 30
    assert len(seen) == 6 and all(views == 1 for _, views, _ in seen)
    n, _, w = seen[-1]  # the deployed model: every clip and every window
    assert n == 30 + windows and w.tolist() == [1.0] * 30 + [3.0] * windows
    heads_run, _ = extra_run  # trained on every row of the CSV, not split A's only
    with pytest.raises(RunError, match="fine-tuned run was trained on other extra recordings than the heads"):
        fusion.fuse(run, heads_run, None, tmp_path / "fused", tag_names=[], log=lambda m: None)


def test_a_foreign_score_learns_from_the_csvs_foreign_rows_and_takes_the_distances_place(extra_run, outside):
    """`fuse --learn-foreign`: the open-set check learns what is none of the classes from the foreign rows of the
    heads' CSV (outlier exposure), nested out of fold like the rest; the verdict no longer counts the distance."""
    from soundlab import openset
    from soundlab.classify import pooled_audio

    run, _ = extra_run
    genuine, foreign = extra.outside_recordings(run.extra_training, run.classes, run.class_names)
    assert len(genuine) == outside[1] and [f["file"] for f in foreign] == [foreign[0]["file"]]
    eat = load_backbone("efficientat", get_settings())
    seen = (np.stack([pooled_audio(eat, p) for p in genuine]), np.stack([pooled_audio(eat, foreign[0]["path"])]))
    names, pooled, tags = runs.read_embeddings(run)
    oof = runs.read_oof(run, "logreg").set_index("filename").loc[list(names)]
    osm = openset.calibrate(probs=oof[[f"p_{c}" for c in run.classes]].to_numpy(np.float32), pooled=pooled, tags=tags,
                            labels=oof["true"].to_numpy(), folds=oof["fold"].to_numpy(), n_classes=len(run.classes),
                            tag_names=eat.tag_names, extra=runs.read_extra_embeddings(run), outside=seen)
    assert osm.used == openset.LEARNED and "distance" not in osm.used and osm.reference.shape[1] == 6
    assert osm.foreign(seen[1])[0] > osm.foreign(seen[0]).mean()  # the foreign recording scores as more foreign
    again = openset.OpenSetModel.from_json(osm.to_json())
    assert again.used == osm.used and np.allclose(again.foreign(pooled), osm.foreign(pooled), atol=1e-5)
    v = again.judge(probs=oof.iloc[0][[f"p_{c}" for c in run.classes]].to_numpy(np.float32), pooled=pooled[0],
                    tags=tags[0], ref_pooled=openset.normalize(pooled), ref_labels=oof["true"].to_numpy(),
                    class_names=run.class_names, tag_names=eat.tag_names)
    assert v.used == openset.LEARNED and len(v.values) == 6 and all(r.signal != "distance" for r in v.reasons)


def test_learn_foreign_says_in_one_line_what_is_missing(extra_run, outside, tmp_path):
    run, _ = extra_run
    info = run.extra_training
    with pytest.raises(DatasetError, match="no `foreign` row in split"):
        extra.outside_recordings({**info, "splits": ["B"]}, run.classes, run.class_names)
    with pytest.raises(DatasetError, match="not there any more"):
        extra.outside_recordings({**info, "source": str(tmp_path / "gone.csv")}, run.classes, run.class_names)
    changed = [{**info["files"][0], "sha256": "0" * 64}, *info["files"][1:]]
    with pytest.raises(DatasetError, match="missing or changed since the heads learned from it"):
        extra.outside_recordings({**info, "files": changed}, run.classes, run.class_names)


def test_an_evaluation_also_leaves_out_the_foreign_recordings_a_model_learned_from(extra_run, outside):
    from types import SimpleNamespace

    run, _ = extra_run
    _, foreign = extra.outside_recordings(run.extra_training, run.classes, run.class_names)
    learned = SimpleNamespace(id="r", info={"foreign_training": {"files": [{"file": f["file"], "sha256": f["sha256"]}
                                                                            for f in foreign]}})
    labelled = external.read_labelled(outside[0], run.classes, run.class_names)
    kept = external.without_training_clips(labelled, learned)
    assert external.FOREIGN not in [lab for _, lab in kept.items] and len(kept.items) == outside[1]

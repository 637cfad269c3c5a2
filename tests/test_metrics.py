"""soundlab.metrics and soundlab.predictions: hand-computed tables and scikit-learn as references; the generated result tables."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from soundlab import metrics, predictions, report, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.data import esc50

# 8 clips, 3 classes, by hand:
Y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
P = np.array([0, 0, 1, 1, 2, 2, 2, 0])
PROBS = np.array([
    [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1],
    [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.2, 0.5], [0.5, 0.1, 0.4],
])


def test_hand_computed_small_table():
    assert metrics.accuracy(Y, P) == 5 / 8
    cm = metrics.confusion(Y, P, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    t = metrics.per_class(Y, P, 3)
    assert t["precision"].tolist() == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert t["recall"].tolist() == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert t["support"].tolist() == [3, 2, 3]
    assert metrics.macro_f1(Y, P, 3) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    # top-3 of 3 classes is always right; top-2 misses clip 7 (true 2: 0.4 is second) -> all in
    assert metrics.top_k_accuracy(Y, PROBS, 2) == 1.0
    s = metrics.summary(Y, PROBS, np.array([1, 1, 1, 1, 2, 2, 2, 2]))
    assert s["per_fold_accuracy"] == {1: 0.75, 2: 0.5} and s["fold_mean"] == 0.625


def test_against_scikit_learn(rng):
    n, c = 500, 7
    y = rng.integers(0, c, n)
    probs = rng.dirichlet(np.ones(c), n)
    pred = probs.argmax(1)
    assert metrics.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred))
    assert metrics.top_k_accuracy(y, probs, 3) == pytest.approx(skm.top_k_accuracy_score(y, probs, k=3))
    assert metrics.macro_f1(y, pred, c) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert (metrics.confusion(y, pred, c) == skm.confusion_matrix(y, pred, labels=range(c))).all()
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(c), zero_division=0)
    t = metrics.per_class(y, pred, c)
    assert np.allclose(t["precision"], p) and np.allclose(t["recall"], r) and np.allclose(t["f1"], f)


def test_calibration_hand_computed():
    conf = np.array([0.15, 0.15, 0.55, 0.95, 0.95, 0.95, 0.95])
    correct = np.array([0, 1, 1, 1, 1, 1, 0], bool)
    bins = metrics.calibration_bins(conf, correct, n_bins=10)
    assert bins["count"].tolist() == [0, 2, 0, 0, 0, 1, 0, 0, 0, 4]
    assert bins.loc[1, "accuracy"] == 0.5 and bins.loc[9, "accuracy"] == 0.75
    # ECE = 2/7*|0.5-0.15| + 1/7*|1-0.55| + 4/7*|0.75-0.95|
    assert metrics.expected_calibration_error(conf, correct) == pytest.approx(
        2 / 7 * 0.35 + 1 / 7 * 0.45 + 4 / 7 * 0.2)
    perfect = metrics.expected_calibration_error(np.ones(5), np.ones(5, bool))
    assert perfect == 0


def test_mcnemar():
    a = np.array([1] * 10 + [0] * 2 + [1] * 5, bool)  # b = 10 (A right, B wrong), c = 2
    b = np.array([0] * 10 + [1] * 2 + [1] * 5, bool)
    r = metrics.mcnemar(a, b)
    assert (r["b"], r["c"], r["method"]) == (10, 2, "exact binomial")
    from scipy.stats import binomtest

    assert r["p_value"] == pytest.approx(binomtest(2, 12, 0.5).pvalue)  # = 0.0386
    assert r["p_value"] == pytest.approx(0.03857, abs=1e-4)
    big_a = np.r_[np.ones(40, bool), np.zeros(20, bool)]
    big_b = np.r_[np.zeros(40, bool), np.ones(20, bool)]
    r = metrics.mcnemar(big_a, big_b)
    assert r["method"].startswith("chi-square") and r["statistic"] == pytest.approx((20 - 1) ** 2 / 60)
    assert metrics.mcnemar(a, a)["p_value"] == 1.0


def test_category_confusion():
    cm = np.zeros((50, 50), int)
    cm[0, 0], cm[0, 5], cm[0, 12], cm[49, 40] = 3, 2, 1, 4
    cat = metrics.category_confusion(cm, [t // 10 for t in range(50)], 5)
    assert cat[0, 0] == 5 and cat[0, 1] == 1 and cat[4, 4] == 4 and cat.sum() == 10


def test_nearest_neighbours(rng):
    cand = rng.standard_normal((100, 16))
    q = cand[42] * 3
    idx, d = metrics.nearest_neighbors(q, cand, 3)
    assert idx[0] == 42 and d[0] == pytest.approx(0, abs=1e-9) and np.all(np.diff(d) >= 0)


@pytest.fixture(scope="module")
def shipped():
    all_runs, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    return {r.task: r for r in all_runs if r.family == "yamnet"}  # the YAMNet heads runs (five heads each)


def test_predictions_of_a_shipped_run(shipped, dev_root):
    meta = esc50.load_dataset(dev_root).meta
    run = shipped["esc50"]
    N = run.info["coverage"]["clips_present"]  # noqa: N806
    p = predictions.load_predictions(run, run.default_model, meta)
    assert len(p.table) == N and p.problems == [] and p.table["present"].all()
    s = p.summary()
    assert s["accuracy"] == pytest.approx(run.model(run.default_model)["cv"]["accuracy"])
    t = predictions.per_class_table(p)
    assert len(t) == 50 and t["support"].sum() == N
    cats = predictions.category_table(p)
    assert len(cats) == 5 and cats["support"].sum() == N
    wrong = predictions.mistakes(p)
    assert len(wrong) == int((~p.table["correct"]).sum()) and wrong["confidence"].is_monotonic_decreasing
    row = wrong.iloc[0]
    cell = predictions.cell_clips(p, int(row["true"]), int(row["pred"]))
    assert row["filename"] in set(cell["filename"])
    emb = predictions.load_embeddings(run)
    near = predictions.correct_neighbours(p, emb, row["filename"], int(row["true"]))
    assert 1 <= len(near) <= 3 and near["correct"].all() and (near["true"] == row["true"]).all()
    # a class none of whose clips is right: no neighbours, and still a table of clips (found by the stateful test)
    from dataclasses import replace

    wrong_everywhere = replace(p, table=p.table.assign(correct=p.table["true"] != row["true"]), memo={})
    none = predictions.correct_neighbours(wrong_everywhere, emb, row["filename"], int(row["true"]))
    assert none.empty and {"filename", "distance"} <= set(none.columns)
    assert predictions.embedding_map(emb.pooled, "pca").shape == (N, 2)


def test_predictions_with_problems(shipped, dev_root, tmp_path):
    import shutil

    run = shipped["esc50"]
    copy = tmp_path / run.path.name
    shutil.copytree(run.path, copy)
    oof = pd.read_csv(copy / "oof" / "linear.csv")
    n = len(oof)
    oof.loc[0, "filename"] = "9-999999-Z-0.wav"
    oof = pd.concat([oof, oof.iloc[[1]]])
    oof.to_csv(copy / "oof" / "linear.csv", index=False)
    p = predictions.load_predictions(runs.load_run(copy), "linear", esc50.load_dataset(dev_root).meta)
    assert len(p.table) == n - 1  # the unknown clip is left out, the duplicate row counted once
    assert "not in the dataset's metadata" in p.problems[0] and "more than once" in p.problems[1]


def test_compare_heads(shipped, dev_root):
    meta = esc50.load_dataset(dev_root).meta
    run = shipped["esc50"]
    N = run.info["coverage"]["clips_present"]  # noqa: N806
    a = predictions.load_predictions(run, "attention", meta)
    b = predictions.load_predictions(run, "logreg", meta)
    cmp = predictions.compare(a, b)
    assert cmp["n"] == N
    assert cmp["acc_a"] - cmp["acc_b"] == pytest.approx(
        (cmp["mcnemar"]["b"] - cmp["mcnemar"]["c"]) / N)
    assert len(cmp["only_a"]) == cmp["mcnemar"]["b"] and len(cmp["only_b"]) == cmp["mcnemar"]["c"]
    line = predictions.verdict_line(cmp, "attention", "logreg")
    assert "McNemar p =" in line
    other = predictions.load_predictions(shipped["esc10"], "linear", meta)
    assert "different class lists" in predictions.compare(a, other)["error"]


def test_tables_the_metrics_page_shows(shipped, dev_root):
    """What the Metrics page used to build itself: disagreements, map points, references, a clip's row."""
    meta = esc50.load_dataset(dev_root).meta
    run = shipped["esc50"]
    N = run.info["coverage"]["clips_present"]  # noqa: N806
    preds = [predictions.load_predictions(run, name, meta) for name in run.model_names]
    flips = predictions.disagreements(preds)
    assert list(flips.columns) == ["filename", "true", *run.model_names]
    answers = flips[run.model_names]
    assert (answers.nunique(axis=1) > 1).all() and 0 < len(flips) < N
    same = (pd.DataFrame({q.model: q.table.set_index("filename")["pred_name"] for q in preds}).nunique(axis=1) == 1)
    assert len(flips) + int(same.sum()) == N  # every other clip gets one answer from all models
    assert predictions.disagreements(preds[:1]).empty

    p = preds[0]
    emb = predictions.load_embeddings(run)
    xy = predictions.embedding_map(emb.pooled, "pca")
    pts = predictions.map_points(p, emb, xy, color_by="right / wrong")
    assert len(pts) == N and set(pts["color"]) == {"right", "wrong"}
    assert (pts["color"] == "wrong").sum() == int((~p.table["correct"]).sum())
    dog = run.class_names.index("Dog")
    only_dogs = predictions.map_points(p, emb, xy, classes=[dog])
    assert len(only_dogs) == int((p.table["true"] == dog).sum()) and set(only_dogs["color"]) == {"Dog"}
    assert np.allclose(pts.set_index("filename").loc[only_dogs["filename"], ["x", "y"]], only_dogs[["x", "y"]])

    refs = predictions.reference_table(p)
    assert refs.iloc[-1]["what"] == f"This run ({p.model})" and refs.iloc[-1]["accuracy"] == p.summary()["accuracy"]
    assert {"Human listeners", "The seeds' published model"} <= set(refs["what"])
    name = p.table["filename"].iloc[3]
    row = predictions.clip_row(p, name)
    assert row["filename"] == name and row["true_name"] == p.table["true_name"].iloc[3]
    assert predictions.model_caption(run, run.default_model) is None


def test_balanced_accuracy_is_the_mean_recall():
    assert metrics.balanced_accuracy(Y, P) == pytest.approx(np.mean([2 / 3, 1 / 2, 2 / 3]))
    assert metrics.summary(Y, PROBS)["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(Y, PROBS.argmax(1)))


def test_references_are_comparable_only_on_the_same_protocol(shipped, dev_root):
    run = shipped["esc50"]
    p = predictions.load_predictions(run, run.default_model)
    refs = predictions.reference_table(p)
    assert not refs["comparable"].iloc[:-1].any() and "partial dataset" in refs["why"].iloc[0]
    official = runs.Run(run.path, {**run.info, "protocol": {**run.protocol, "name": "esc50-official"}})
    ok = dict(zip(predictions.reference_table(predictions.load_predictions(official, run.default_model))["what"],
                  predictions.reference_table(predictions.load_predictions(official, run.default_model))["comparable"]))
    assert ok["YAMNet embeddings + MLP (HEAR benchmark)"] and not ok["The seeds' published model"]


def test_group_accuracy_splits_the_esc10_classes_from_the_others(shipped):
    run = shipped["esc50"]
    p = predictions.load_predictions(run, run.default_model)
    g = predictions.group_accuracy(p)
    in10 = np.isin(np.asarray(run.targets)[p.table["true"]], predictions.ESC10_TARGETS)
    assert g["esc10_classes"] == pytest.approx(p.table["correct"][in10].mean())
    assert g["other_classes"] == pytest.approx(p.table["correct"][~in10].mean())
    n10 = in10.sum()
    assert n10 + (~in10).sum() == len(p.table)
    assert g["esc10_classes"] * n10 + g["other_classes"] * (~in10).sum() == pytest.approx(p.summary()["accuracy"] * len(p.table))


def test_the_result_tables_are_the_shipped_runs():
    """docs/results.md and the README's headline are `python -m soundlab report` of the shipped runs, recomputed here
    from their stored out-of-fold predictions, so they cannot drift."""
    shipped_runs, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    root = DEFAULT_ARTIFACTS_DIR.parent
    full = report.block((root / "docs" / "results.md").read_text(), "results")
    assert full is not None, "docs/results.md has no generated results block"
    assert full == report.markdown(shipped_runs)
    best = max((r for rows in report.results(shipped_runs).values() for r in rows if r["family"] != "scratch"),
               key=lambda r: r["balanced_accuracy"])
    assert f"| {best['model']} | {100 * best['accuracy']:.1f}% | {100 * best['balanced_accuracy']:.1f}% |" in full
    headline = report.block((root / "README.md").read_text(), "headline")
    assert headline == report.headline(shipped_runs), "regenerate: python -m soundlab report --update README.md"
    esc50 = next(rows for title, rows in report.results(shipped_runs).items() if title.startswith("esc50"))
    chosen = runs.preferred([r for r in shipped_runs if r.classifies_audio])  # the rule (docs/models.md)
    default = next(r for r in esc50 if r["run"] == chosen.id and r["name"] == chosen.default_model)
    assert headline.split("\n")[4].startswith(f"| {default['model']} **(default)** | {100 * default['accuracy']:.1f}% |")

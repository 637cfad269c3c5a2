"""Classification metrics from stored predictions (no model needed).

Every function takes integer labels ``y_true`` (n,), predictions ``y_pred`` (n,) and/or class
probabilities ``probs`` (n, n_classes), with classes numbered 0..n_classes-1. The standard measures come
from scikit-learn (with every class listed, so a class absent from a subset still has its row); the
expected calibration error, McNemar's test and the neighbour search are written here, each for a stated reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred)) if len(y_true) else float("nan")


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in `y_true` (what accuracy would be with balanced classes)."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    if not len(y_true):
        return float("nan")
    with warnings.catch_warnings():  # a model may predict a class no clip of the subset has: that is just a mistake
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int = 3) -> float:
    """Share of rows whose true class is among the k most probable."""
    from sklearn.metrics import top_k_accuracy_score

    probs = np.asarray(probs)
    if len(probs) == 0:
        return float("nan")
    n_classes = probs.shape[1]
    if min(k, n_classes) >= n_classes:
        return 1.0
    return float(top_k_accuracy_score(y_true, probs, k=k, labels=np.arange(n_classes)))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(y_true, int), np.asarray(y_pred, int), labels=np.arange(n_classes)).astype(np.int64)


def per_class(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> pd.DataFrame:
    """precision, recall, f1 and support per class (0/0 counts as 0: scikit-learn's zero_division=0)."""
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(y_true, int), np.asarray(y_pred, int), labels=np.arange(n_classes), zero_division=0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)})


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes that occur in `y_true` (classes with no support are left out)."""
    from sklearn.metrics import f1_score

    present = np.unique(np.asarray(y_true, int))
    if len(present) == 0:
        return float("nan")
    return float(f1_score(np.asarray(y_true, int), np.asarray(y_pred, int), labels=present, average="macro",
                          zero_division=0))


def summary(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray | None = None) -> dict:
    """accuracy, balanced accuracy, top-3, macro-F1, and per-fold accuracy with mean and std, as plain floats."""
    y_true, probs = np.asarray(y_true), np.asarray(probs)
    y_pred = probs.argmax(axis=1)
    n_classes = probs.shape[1]
    out = {
        "n": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "top3_accuracy": top_k_accuracy(y_true, probs, 3),
        "macro_f1": macro_f1(y_true, y_pred, n_classes),
    }
    if folds is not None:
        folds = np.asarray(folds)
        per_fold = {int(f): accuracy(y_true[folds == f], y_pred[folds == f]) for f in np.unique(folds)}
        values = np.array(list(per_fold.values()))
        out.update(per_fold_accuracy=per_fold, fold_mean=float(values.mean()),
                   fold_std=float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    return out


def category_confusion(cm: np.ndarray, category_index: list[int], n_categories: int) -> np.ndarray:
    """Fold a (C, C) class confusion matrix into the (K, K) matrix of the classes' categories (ESC-50: its five major
    categories; `soundlab.runs.Run.category_index` gives each label's category)."""
    cats = np.asarray(category_index, dtype=np.int64)
    out = np.zeros((n_categories, n_categories), np.int64)
    np.add.at(out, (cats[:, None].repeat(len(cats), 1), cats[None, :].repeat(len(cats), 0)), cm)
    return out


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Reliability diagram data: equal-width confidence bins over [0, 1].

    Written here rather than with scikit-learn's `calibration_curve`, which drops empty bins and returns no
    counts: the diagram and the ECE need both.

    Returns one row per bin: lower, upper, count, confidence (mean), accuracy (NaN when empty).
    """
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        rows.append({"lower": edges[b], "upper": edges[b + 1], "count": int(m.sum()),
                     "confidence": float(confidence[m].mean()) if m.any() else float("nan"),
                     "accuracy": float(correct[m].mean()) if m.any() else float("nan")})
    return pd.DataFrame(rows)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """ECE: sum over bins of (share of samples) * |accuracy - mean confidence| (equal-width bins)."""
    bins = calibration_bins(confidence, correct, n_bins)
    n = bins["count"].sum()
    if n == 0:
        return float("nan")
    used = bins[bins["count"] > 0]
    return float((used["count"] / n * (used["accuracy"] - used["confidence"]).abs()).sum())


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's test on paired right/wrong outcomes of two classifiers on the same clips.

    Neither scikit-learn nor scipy has it (statsmodels does, a large dependency for twelve lines); the
    exact and chi-square forms below are the textbook ones, checked against hand-computed values in the tests.

    b = A right and B wrong, c = A wrong and B right. Exact two-sided binomial test when b + c < 25,
    else the chi-square statistic with continuity correction, (|b - c| - 1)^2 / (b + c), 1 dof.
    """
    from scipy import stats

    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    n = b + c
    if n == 0:
        return {"b": b, "c": c, "statistic": 0.0, "p_value": 1.0, "method": "no discordant pairs"}
    if n < 25:
        p = float(stats.binomtest(b, n, 0.5, alternative="two-sided").pvalue)
        return {"b": b, "c": c, "statistic": float(min(b, c)), "p_value": min(p, 1.0), "method": "exact binomial"}
    stat = (abs(b - c) - 1) ** 2 / n
    return {"b": b, "c": c, "statistic": float(stat), "p_value": float(stats.chi2.sf(stat, 1)),
            "method": "chi-square with continuity correction"}


def nearest_neighbors(query: np.ndarray, candidates: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine distances of the k rows of `candidates` (n, d) closest to `query` (d,).

    Exact search with numpy rather than scikit-learn's NearestNeighbors: one query against a candidate set that
    changes with every selection, where building an index costs more than the search (8 ms for 2000 clips).
    """
    if len(candidates) == 0:
        return np.zeros(0, int), np.zeros(0)
    q = query / max(float(np.linalg.norm(query)), 1e-12)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    d = 1.0 - (c * q).sum(axis=1)  # elementwise, no BLAS threads (see soundlab.openset)
    k = min(k, len(d))
    idx = np.argpartition(d, k - 1)[:k]
    idx = idx[np.argsort(d[idx])]
    return idx, d[idx]

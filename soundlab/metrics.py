"""Classification metrics from stored predictions (pure numpy/pandas, no model needed).

Every function takes integer labels ``y_true`` (n,), predictions ``y_pred`` (n,) and/or class
probabilities ``probs`` (n, n_classes), with classes numbered 0..n_classes-1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int = 3) -> float:
    """Share of rows whose true class is among the k most probable."""
    probs = np.asarray(probs)
    if len(probs) == 0:
        return float("nan")
    k = min(k, probs.shape[1])
    topk = np.argpartition(-probs, kth=k - 1, axis=1)[:, :k]
    return float(np.mean((topk == np.asarray(y_true)[:, None]).any(axis=1)))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def per_class(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> pd.DataFrame:
    """precision, recall, f1 and support per class (0/0 counts as 0, as scikit-learn's zero_division=0)."""
    cm = confusion(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support})


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes that occur in `y_true` (classes with no support are left out)."""
    table = per_class(y_true, y_pred, n_classes)
    present = table["support"] > 0
    return float(table.loc[present, "f1"].mean()) if present.any() else float("nan")


def summary(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray | None = None) -> dict:
    """accuracy, top-3, macro-F1, and per-fold accuracy with mean and std, as plain floats."""
    y_true, probs = np.asarray(y_true), np.asarray(probs)
    y_pred = probs.argmax(axis=1)
    n_classes = probs.shape[1]
    out = {
        "n": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
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

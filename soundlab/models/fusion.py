"""Fused models: the fine-tuned network and a head on the frozen backbone, combined clip by clip.

Both members were trained on the same folds (`soundlab.train.fusion.fuse` checks every clip's), so the fused out-of-fold prediction of a
clip combines two predictions of models that never saw that clip: the fused run's numbers are as honest as its
members'. The combination is fixed, not learned: the geometric mean of the members' probabilities, renormalised
(the mean of log-probabilities, as a product of experts; a learned weighting would need another level of nested
folds on a few hundred clips). A clip only one member is sure of keeps most of that certainty; two members that
disagree both count.

A fused model is a model of a run on its backbone (``run.json`` ``models.fusion``), so the Classify page and the
``classify`` command serve it like a head: the head's file is the model's ``file``; the fine-tuned network's is in
its ``finetuned`` record.
"""

from __future__ import annotations

import numpy as np

KIND = "fusion"
EPS = 1e-7  # floor on a probability before the log: a member's exact 0 must not veto a class outright


def class_prior(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Each class's share of `labels` (int class indices), one clip added to each so that a class with none is not
    divided by zero: the prior `geometric_mean` divides out."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=n_classes).astype(np.float64) + 1.0
    return counts / counts.sum()


def geometric_mean(*probs: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Members' probabilities, each (..., n_classes) -> their renormalised geometric mean (..., n_classes), divided
    by `prior` (n_classes,) if given: the class frequencies the members learned from, so that a class's share of the
    training clips is not taken for how often it sounds (logit adjustment; ESC-50's dev subset has 8 to 40 clips
    per class where the dataset and the world favour none).

    >>> geometric_mean(np.array([0.9, 0.1]), np.array([0.5, 0.5])).round(3).tolist()
    [0.75, 0.25]
    >>> geometric_mean(np.array([0.75, 0.25]), prior=np.array([0.75, 0.25])).round(3).tolist()
    [0.5, 0.5]
    """
    if not probs:
        raise ValueError("geometric_mean needs at least one member's probabilities")
    logs = np.mean([np.log(np.clip(np.asarray(p, np.float64), EPS, None)) for p in probs], axis=0)
    if prior is not None:
        logs = logs - np.log(np.clip(np.asarray(prior, np.float64), EPS, None))
    logs -= logs.max(axis=-1, keepdims=True)  # stable: the largest term is exp(0)
    out = np.exp(logs)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)

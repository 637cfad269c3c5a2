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


def geometric_mean(*probs: np.ndarray) -> np.ndarray:
    """Members' probabilities, each (..., n_classes) -> their renormalised geometric mean (..., n_classes).

    >>> geometric_mean(np.array([0.9, 0.1]), np.array([0.5, 0.5])).round(3)
    array([0.75, 0.25])
    """
    if not probs:
        raise ValueError("geometric_mean needs at least one member's probabilities")
    logs = np.mean([np.log(np.clip(np.asarray(p, np.float64), EPS, None)) for p in probs], axis=0)
    logs -= logs.max(axis=-1, keepdims=True)  # stable: the largest term is exp(0)
    out = np.exp(logs)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)

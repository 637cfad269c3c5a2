"""Tag evidence: a member of a fused model that names the class whose training clips a tagger described most alike.

A tagger (EfficientAT, YAMNet) was trained on two million AudioSet clips recorded everywhere, so what it hears in a
sound ("Cattle, bovinae", "Moo") moves less with the recording than the embeddings the heads read. Each class gets a
prototype: the mean of its training clips' log tag scores (centred on all clips' mean, unit length); a sound's
probabilities are a softmax of its cosine similarity to each prototype over a temperature. On the real-world
recordings of split A (docs/models.md) it moved the fused model's top-1 more than the heads did; on ESC-50's folds
alone it is weaker (about 83% with EfficientAT's tags), so it is one member among several, never the model.

Written in numpy rather than scikit-learn: `NearestCentroid` has no cosine softmax (its probabilities assume a shared
Gaussian), and the fit is three lines.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np

from soundlab.errors import RunError
from soundlab.storage import save_npz_atomic

TAU = 0.15  # softmax temperature of the cosine similarities (0.1-0.2 alike on split A; 0.15 keeps ESC-50 CV)
FLOOR = 1e-4  # tag scores below this are one "not heard" before the log


def _log(tags: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(tags, np.float32), FLOOR, 1.0))


@dataclass(frozen=True)
class TagPrototypes:
    center: np.ndarray  # (n_tags,) mean log tag score of the training clips
    protos: np.ndarray  # (n_classes, n_tags) unit length; a class with no training clip is all zeros
    tau: float = TAU

    def predict(self, tags: np.ndarray) -> np.ndarray:
        """Tag scores (..., n_tags) -> class probabilities (..., n_classes)."""
        q = _log(tags) - self.center
        q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-8)
        s = q @ self.protos.T / self.tau
        s -= s.max(axis=-1, keepdims=True)
        e = np.exp(s)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def fit(tags: np.ndarray, labels: np.ndarray, n_classes: int, tau: float = TAU) -> TagPrototypes:
    """Prototypes from training clips' tag scores (n, n_tags) and class indices (n,)."""
    z = _log(tags)
    center = z.mean(axis=0)
    z = z - center
    labels = np.asarray(labels)
    protos = np.zeros((n_classes, z.shape[1]), np.float32)
    for c in np.unique(labels):
        m = z[labels == c].mean(axis=0)
        protos[c] = m / max(float(np.linalg.norm(m)), 1e-8)
    return TagPrototypes(center.astype(np.float32), protos, float(tau))


def out_of_fold(tags: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_classes: int,
                extra: tuple[np.ndarray, np.ndarray] | None = None, tau: float = TAU) -> np.ndarray:
    """(n, n_classes) each clip's probabilities from prototypes of the other folds' clips (and the extra training
    windows `extra`: (tags, labels), which join every fold, as the heads' do)."""
    out = np.zeros((len(tags), n_classes), np.float32)
    for k in np.unique(folds):
        train = folds != k
        t, y = tags[train], labels[train]
        if extra is not None:
            t, y = np.concatenate([t, extra[0]]), np.concatenate([y, extra[1]])
        out[folds == k] = fit(t, y, n_classes, tau).predict(tags[folds == k])
    return out


def save(path, protos: dict[str, TagPrototypes]) -> None:
    """Each tagger's prototypes, keyed by backbone ("efficientat", "yamnet"), in one .npz (written atomically)."""
    arrays = {}
    for key, p in protos.items():
        arrays |= {f"{key}.center": p.center, f"{key}.protos": p.protos, f"{key}.tau": np.float64(p.tau)}
    save_npz_atomic(path, **arrays)


def load(path) -> dict[str, TagPrototypes]:
    """The prototypes `save` wrote (RunError naming the file if it is damaged)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = sorted({k.rsplit(".", 1)[0] for k in z.files})
            return {k: TagPrototypes(z[f"{k}.center"], z[f"{k}.protos"], float(z[f"{k}.tau"])) for k in keys}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{path}: the tag evidence is damaged ({e}); fuse the run again") from None

"""The seeds' from-scratch approaches: architectures, loading and inference. Training is in `soundlab.train.scratch`.

Models (each a run of its own, `python -m soundlab train --model cnn|crnn|wavecnn|mfcc-svm|mfcc-rf`):

* ``cnn``      -- a compact CNN on log-mel spectrograms: four conv blocks (batch norm, ReLU, pooling) and
                  global average pooling; trained with random circular time shifts and SpecAugment masks.
* ``crnn``     -- three conv blocks, then a bidirectional GRU over time, on the same log-mels and
                  augmentations.
* ``wavecnn``  -- a 1-D CNN on the 8 kHz waveform (a wide strided first layer, then small kernels), with
                  random time shifts and gains.
* ``mfcc-svm`` -- a classic baseline: an RBF support vector machine on MFCC statistics (scikit-learn).
* ``mfcc-rf``  -- the other classic baseline of the ESC-50 paper: a random forest on the same MFCC statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soundlab.errors import ModelError

SCRATCH_MODELS = ("cnn", "crnn", "wavecnn", "mfcc-svm", "mfcc-rf")
NETWORKS = ("cnn", "crnn", "wavecnn")
SKLEARN_MODELS = ("mfcc-svm", "mfcc-rf")
FEATURE_OF = {"cnn": "logmel", "crnn": "logmel", "wavecnn": "wave", "mfcc-svm": "mfcc", "mfcc-rf": "mfcc"}


def build(kind: str, input_shape: tuple[int, ...], n_classes: int, *, width: int = 1, norm=None):
    """An untrained from-scratch network. `norm` is (mean, variance) of the training features."""
    import keras
    from keras import layers

    from soundlab.models.layers import RandomGain, RandomTimeRoll, SpecAugment

    inp = keras.Input(input_shape, name="features")
    mean, var = norm if norm is not None else (0.0, 1.0)
    x = layers.Normalization(axis=None, mean=mean, variance=var, name="standardize")(inp)
    w = width
    if kind in ("cnn", "crnn"):
        x = layers.Reshape((*input_shape, 1))(x)  # (freq, time, 1)
        x = RandomTimeRoll(axis=2)(x)
        x = SpecAugment()(x)
        # The first block convolves with stride 2: a quarter of the work at full resolution, which keeps a
        # five-fold run on two CPU cores within the time budget (see README, "From-scratch models").
        blocks = [(16 * w, (2, 2)), (32 * w, (2, 2)), (64 * w, (2, 2))] + ([(96 * w, None)] if kind == "cnn" else [])
        for i, (filters, pool) in enumerate(blocks):
            x = layers.Conv2D(filters, 3, strides=2 if i == 0 else 1, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            if pool:
                x = layers.MaxPooling2D(pool)(x)
        if kind == "cnn":
            x = layers.GlobalAveragePooling2D(name="embedding")(x)
        else:  # (freq', time', C) -> (time', freq' * C) -> GRU over time
            x = layers.Permute((2, 1, 3))(x)
            x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
            x = layers.Dense(64 * w, activation="relu")(x)
            x = layers.Bidirectional(layers.GRU(48 * w), name="embedding")(x)
    elif kind == "wavecnn":
        x = layers.Reshape((input_shape[0], 1))(x)
        x = RandomTimeRoll(axis=1)(x)
        x = RandomGain()(x)
        x = layers.Conv1D(16 * w, 64, strides=4, padding="same", use_bias=False)(x)
        for i, filters in enumerate([16 * w, 32 * w, 64 * w, 96 * w]):
            if i:
                x = layers.Conv1D(filters, 9, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            if i < 3:
                x = layers.MaxPooling1D(4)(x)
        x = layers.GlobalAveragePooling1D(name="embedding")(x)
    else:
        raise ModelError(f"unknown network {kind!r}; known: {', '.join(NETWORKS)}")
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(n_classes, activation="softmax", name="clip_probs")(x)
    return keras.Model(inp, out, name=f"soundlab_{kind}")


def model_file(kind: str) -> str:
    """The deployed model's file name inside a run folder."""
    return f"{kind}.joblib" if kind in SKLEARN_MODELS else f"{kind}.keras"


def save(model, kind: str, path: Path) -> None:
    """Write a trained model: Keras networks as `.keras`, scikit-learn models with joblib (compressed)."""
    if kind in SKLEARN_MODELS:
        import joblib

        tmp = Path(path).with_name(f".tmp-{Path(path).name}")
        # lzma: the ESC-50 500-tree forest is 108 MB raw, 7.1 MB with zlib level 3, 3.6 MB with lzma (22 s to write
        # once per run, loads in 0.5 s either way)
        joblib.dump(model, tmp, compress=("lzma", 6))
        tmp.replace(path)
    else:
        from soundlab.models.layers import save_model

        save_model(model, path)


def load(kind: str, path: Path):
    """Load a model written by :func:`save`. Raises ModelError."""
    if kind not in SKLEARN_MODELS:
        from soundlab.models.layers import load_model

        return load_model(path)
    if not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    import joblib

    try:
        return joblib.load(path)
    # joblib unpickles: a damaged file raises EOFError, UnpicklingError, zlib or KeyError depending on the damage
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"model file {path} is damaged ({type(e).__name__}: {e})") from None


def param_count(model, kind: str) -> int:
    """Trainable size: Keras parameters; for the SVM its support-vector coefficients; for the forest its nodes."""
    if kind == "mfcc-svm":
        svc = model.named_steps["svc"]
        return int(np.size(svc.support_vectors_) + np.size(svc.dual_coef_))
    if kind == "mfcc-rf":
        return int(sum(t.tree_.node_count for t in model.estimators_))
    return int(model.count_params())


def predict(model, kind: str, X: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, ...) features -> (n, n_classes) probabilities (classes a scikit-learn model never saw get 0)."""
    if kind in SKLEARN_MODELS:
        out = np.zeros((len(X), n_classes))
        out[:, model.classes_] = model.predict_proba(X)
        return out
    return model.predict(X, batch_size=64, verbose=0)


def embed(model, kind: str, X: np.ndarray) -> np.ndarray:
    """The model's own representation of each clip (its penultimate layer), for the Metrics map."""
    if kind in SKLEARN_MODELS:  # no learned representation: the standardised MFCC statistics
        return (X - X.mean(0)) / (X.std(0) + 1e-6)
    import keras

    inner = keras.Model(model.input, model.get_layer("embedding").output)
    return inner.predict(X, batch_size=64, verbose=0)

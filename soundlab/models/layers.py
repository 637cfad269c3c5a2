"""Every custom Keras layer of SoundLab, registered for safe-mode loading, and saving/loading `.keras` files.

Importing this module imports Keras (and TensorFlow): modules that need it import it inside functions, so that
importing `soundlab` or a page stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import ops

from soundlab.errors import ModelError

PACKAGE = "soundlab"


# ---- pooling over frames (the heads on backbone embeddings) ---------------------------------------------------

@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPooling(keras.layers.Layer):
    """Softmax-over-time weighted sum of frame features: (batch, T, d) -> (batch, d)."""

    def __init__(self, hidden: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.score_hidden = keras.layers.Dense(hidden, activation="tanh")
        self.score_out = keras.layers.Dense(1)

    def build(self, input_shape):
        self.score_hidden.build(input_shape)
        self.score_out.build((*input_shape[:-1], self.hidden))

    def call(self, h):
        weights = ops.softmax(self.score_out(self.score_hidden(h)), axis=1)  # (batch, T, 1)
        return ops.sum(weights * h, axis=1)

    def attention_weights(self, h):
        return ops.softmax(self.score_out(self.score_hidden(h)), axis=1)[..., 0]

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanOverTime(keras.layers.Layer):
    """(batch, T, d) -> (batch, d) mean over frames (a plain, serialisable GlobalAveragePooling1D)."""

    def call(self, x):
        return ops.mean(x, axis=1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanMaxOverTime(keras.layers.Layer):
    """(batch, T, d) -> (batch, 2d): mean and max over frames, concatenated."""

    def call(self, x):
        return ops.concatenate([ops.mean(x, axis=1), ops.max(x, axis=1)], axis=-1)


# ---- augmentations of the models trained from scratch (active only in training) --------------------------------

@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomTimeRoll(keras.layers.Layer):
    """Circularly shift each example along its time axis by a random amount (training only)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.seed_gen = keras.random.SeedGenerator(1)

    def call(self, x, training=None):
        if not training:
            return x
        n = ops.shape(x)[self.axis]
        shift = keras.random.randint((), 0, n, seed=self.seed_gen)
        return ops.roll(x, shift, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpecAugment(keras.layers.Layer):
    """Zero one random band of mel bins and one random span of frames per batch (training only)."""

    def __init__(self, max_freq: int = 16, max_time: int = 40, **kwargs):
        super().__init__(**kwargs)
        self.max_freq, self.max_time = max_freq, max_time
        self.seed_gen = keras.random.SeedGenerator(2)

    def call(self, x, training=None):  # x: (batch, freq, time, 1)
        if not training:
            return x
        f, t = ops.shape(x)[1], ops.shape(x)[2]
        fw = keras.random.randint((), 0, self.max_freq + 1, seed=self.seed_gen)
        f0 = keras.random.randint((), 0, ops.maximum(f - fw, 1), seed=self.seed_gen)
        tw = keras.random.randint((), 0, self.max_time + 1, seed=self.seed_gen)
        t0 = keras.random.randint((), 0, ops.maximum(t - tw, 1), seed=self.seed_gen)
        fi = ops.arange(f)[None, :, None, None]
        ti = ops.arange(t)[None, None, :, None]
        keep = ops.logical_not(ops.logical_or(ops.logical_and(fi >= f0, fi < f0 + fw),
                                              ops.logical_and(ti >= t0, ti < t0 + tw)))
        return x * ops.cast(keep, x.dtype)

    def get_config(self):
        return {**super().get_config(), "max_freq": self.max_freq, "max_time": self.max_time}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomGain(keras.layers.Layer):
    """Scale each example by a random gain of +-6 dB (training only)."""

    def __init__(self, max_db: float = 6.0, **kwargs):
        super().__init__(**kwargs)
        self.max_db = max_db
        self.seed_gen = keras.random.SeedGenerator(3)

    def call(self, x, training=None):
        if not training:
            return x
        db = keras.random.uniform((ops.shape(x)[0], 1, 1), -self.max_db, self.max_db, seed=self.seed_gen)
        return x * ops.power(10.0, db / 20.0)

    def get_config(self):
        return {**super().get_config(), "max_db": self.max_db}


# ---- files --------------------------------------------------------------------------------------------------

def save_model(model, path: Path) -> None:
    """Save architecture and weights (not the optimizer state: a third of the size), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = keras.models.clone_model(model)  # uncompiled: no optimizer variables in the file
    clean.set_weights(model.get_weights())
    tmp = path.with_name(f".tmp-{path.name}")
    clean.save(tmp)
    tmp.replace(path)


def load_model(path: Path, *, what: str = "model"):
    """Load a `.keras` file saved by :func:`save_model`, in Keras safe mode (no arbitrary code).

    Raises
    ------
    ModelError
        The file is missing or is not a usable SoundLab model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{what} file not found: {path}. Train one with `python -m soundlab train`, "
                         "or restore the shipped runs with `git checkout model_artifacts/`.")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    # A damaged .keras file raises zipfile, h5py, JSON, KeyError or Keras' own errors depending on where it is
    # broken; all of them mean "unusable file", which is what the message says.
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{what} file {path} is damaged or not a SoundLab {what} ({type(e).__name__}: {e}). "
                         "Retrain with `python -m soundlab train` or restore it with `git checkout model_artifacts/`.") from None

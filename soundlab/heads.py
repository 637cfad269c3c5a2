"""Classifier heads on YAMNet frame embeddings (Keras 3, saved as ``.keras``, loaded in safe mode).

Every head maps frames ``(batch, T, 1024)`` to class probabilities ``(batch, n_classes)``, so one
call serves a 5 s clip (T = 10), a window of a long file, or a single frame (T = 1, the timeline):

* ``mlp``       -- the seeds' MLP (Dense 256 -> 128 -> n, dropout), trained on single frames with the
                   clip's label; a clip's probabilities are the mean of its frames'.
* ``attention`` -- learned attention pooling: each frame is projected (Dense 256), scored by a small
                   network, and the softmax of those scores over time weights the sum that is
                   classified. Trained on whole clips, so it learns which frames carry the sound
                   (many ESC-50 clips are mostly silence).
* ``linear``    -- logistic regression on the mean and the max of the frames (2048 features), trained
                   on the clip and its 0.24 s-shifted view (fitted with scikit-learn, stored as Keras).
* ``ensemble``  -- the average of the attention and linear heads' probabilities (one Keras model).
* ``logreg``    -- multinomial logistic regression on the mean embedding, original view only (fitted
                   with scikit-learn's L-BFGS, then stored as one Keras Dense layer): the baseline.

Keras and TensorFlow are imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from soundlab.backbones import EMBEDDING_DIM, ModelError

HEAD_KINDS = ("attention", "mlp", "linear", "logreg", "ensemble")
ENSEMBLE_MEMBERS = ("attention", "linear")


@functools.cache
def _layers():
    """Custom layers, registered with Keras once (needed to load heads in safe mode)."""
    import keras

    @keras.saving.register_keras_serializable(package="soundlab")
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
            weights = keras.ops.softmax(self.score_out(self.score_hidden(h)), axis=1)  # (batch, T, 1)
            return keras.ops.sum(weights * h, axis=1)

        def attention_weights(self, h):
            return keras.ops.softmax(self.score_out(self.score_hidden(h)), axis=1)[..., 0]

        def get_config(self):
            return {**super().get_config(), "hidden": self.hidden}

    @keras.saving.register_keras_serializable(package="soundlab")
    class MeanOverTime(keras.layers.Layer):
        """(batch, T, d) -> (batch, d) mean over frames (a plain, serialisable GlobalAveragePooling1D)."""

        def call(self, x):
            return keras.ops.mean(x, axis=1)

    @keras.saving.register_keras_serializable(package="soundlab")
    class MeanMaxOverTime(keras.layers.Layer):
        """(batch, T, d) -> (batch, 2d): mean and max over frames, concatenated."""

        def call(self, x):
            return keras.ops.concatenate([keras.ops.mean(x, axis=1), keras.ops.max(x, axis=1)], axis=-1)

    return AttentionPooling, MeanOverTime, MeanMaxOverTime


def build(kind: str, n_classes: int, *, dropout: float = 0.5):
    """An untrained head of `kind` for `n_classes` classes."""
    import keras
    from keras import layers

    AttentionPooling, MeanOverTime, MeanMaxOverTime = _layers()
    inp = keras.Input((None, EMBEDDING_DIM), name="frames")
    if kind == "mlp":
        x = layers.Dropout(0.2)(inp)
        x = layers.Dense(256, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
        x = layers.Dense(128, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
        frame_probs = layers.Dense(n_classes, activation="softmax", name="frame_probs")(x)
        out = MeanOverTime(name="clip_probs")(frame_probs)
    elif kind == "attention":
        x = layers.Dropout(0.2)(inp)
        h = layers.Dense(256, activation="relu")(x)
        h = layers.Dropout(0.3)(h)
        pooled = AttentionPooling(name="attention")(h)
        p = layers.Dense(128, activation="relu")(pooled)
        p = layers.Dropout(dropout)(p)
        out = layers.Dense(n_classes, activation="softmax", name="clip_probs")(p)
    elif kind == "logreg":
        pooled = MeanOverTime(name="mean")(inp)
        out = layers.Dense(n_classes, activation="softmax", name="clip_probs")(pooled)
    elif kind == "linear":
        pooled = MeanMaxOverTime(name="mean_max")(inp)
        out = layers.Dense(n_classes, activation="softmax", name="clip_probs")(pooled)
    else:
        raise ValueError(f"unknown head kind {kind!r}; known: {', '.join(HEAD_KINDS)}")
    model = keras.Model(inp, out, name=f"soundlab_{kind}")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def combine(members: list, name: str = "soundlab_ensemble"):
    """One model that averages the probabilities of `members` (trained heads on the same classes)."""
    import keras

    inp = keras.Input((None, EMBEDDING_DIM), name="frames")
    out = keras.layers.Average(name="clip_probs")([m(inp) for m in members])
    return keras.Model(inp, out, name=name)


def save(model, path: Path) -> None:
    """Save the head's architecture and weights (not the optimizer state: a third of the size)."""
    import keras

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _layers()
    clean = keras.models.clone_model(model)  # uncompiled: no optimizer variables in the file
    clean.set_weights(model.get_weights())
    tmp = path.with_name(f".tmp-{path.name}")
    clean.save(tmp)
    tmp.replace(path)


def load(path: Path):
    """Load a head saved by :func:`save`, in Keras safe mode (no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"head file not found: {path}. Train one with `python -m soundlab train`, "
                         "or restore the shipped runs with `git checkout model_artifacts/`.")
    import keras

    _layers()
    from soundlab import scratch

    scratch._layers()  # the from-scratch models' augmentation layers
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # zip errors, bad config, missing weights: all mean "unusable file"
        raise ModelError(f"head file {path} is damaged or not a SoundLab head ({type(e).__name__}: {e}). "
                         "Retrain with `python -m soundlab train` or restore it with `git checkout model_artifacts/`.") from None


class Head:
    """A loaded head with a fast, thread-safe predict for (batch, T, 1024) frames."""

    def __init__(self, model, kind: str):
        import tensorflow as tf

        self.model, self.kind = model, kind
        self.n_classes = int(model.output_shape[-1])
        # one traced function per input shape; Keras' model.predict costs ~30 ms of overhead per call
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._attention = None
        if kind == "attention":
            inner = model.get_layer("attention")
            # layers: frames, Dropout, Dense(256), Dropout, attention, ...; dropouts are identities at inference
            dense = model.layers[model.layers.index(inner) - 2]
            self._attention = tf.function(lambda x: inner.attention_weights(dense(x)), reduce_retracing=True)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """(batch, T, 1024) or (T, 1024) float32 -> (batch, n_classes) or (n_classes,) probabilities."""
        x = np.asarray(frames, np.float32)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[-1] != EMBEDDING_DIM:
            raise ValueError(f"frames must have shape (batch, T, {EMBEDDING_DIM}), got {x.shape}")
        p = self._fn(x).numpy()
        return p[0] if single else p

    def frame_probs(self, frames: np.ndarray) -> np.ndarray:
        """(T, 1024) -> (T, n_classes): each frame classified on its own (for the timeline)."""
        x = np.asarray(frames, np.float32)
        return self.predict(x[:, None, :])

    def attention_weights(self, frames: np.ndarray) -> np.ndarray | None:
        """(T, 1024) -> (T,) weights of the attention head (None for other heads)."""
        if self._attention is None:
            return None
        return self._attention(np.asarray(frames, np.float32)[None]).numpy()[0]

"""Classifier heads on backbone frame embeddings (Keras 3, saved as ``.keras``, loaded in safe mode).

Words used here and elsewhere: a *head kind* is one of `HEAD_KINDS` (an architecture); a *head* is a trained
Keras model of a kind; a `HeadPredictor` wraps a loaded head for fast, thread-safe inference. (In a run folder
every trained model is a *model* of the run, whether it is a head or a network trained from scratch.)

Every head maps frames ``(batch, T, d)`` (d = the backbone's embedding size) to class probabilities
``(batch, n_classes)``, so one call serves a 5 s clip (T = 10 YAMNet frames), a window of a long file, or a
single frame (T = 1, the timeline):

* ``mlp``       -- the seeds' MLP (Dense 256 -> 128 -> n, dropout), trained on single frames with the
                   clip's label; a clip's probabilities are the mean of its frames'.
* ``attention`` -- learned attention pooling: each frame is projected (Dense 256), scored by a small
                   network, and the softmax of those scores over time weights the sum that is
                   classified. Trained on whole clips, so it learns which frames carry the sound
                   (many ESC-50 clips are mostly silence).
* ``linear``    -- logistic regression on the mean and the max of the frames (2d features), trained
                   on the clip and its half-hop-shifted view (fitted with scikit-learn, stored as Keras).
* ``ensemble``  -- the average of the attention and linear heads' probabilities (one Keras model).
* ``logreg``    -- multinomial logistic regression on the mean embedding, original view only (fitted
                   with scikit-learn's L-BFGS, then stored as one Keras Dense layer): the baseline.

Keras and TensorFlow are imported inside functions: importing this module is cheap. How heads are trained is
in `soundlab.train.heads`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soundlab.errors import ModelError

HEAD_KINDS = ("attention", "mlp", "linear", "logreg", "ensemble")
ENSEMBLE_MEMBERS = ("attention", "linear")


def build(kind: str, n_classes: int, embedding_dim: int, *, dropout: float = 0.5):
    """An untrained, compiled head of `kind` for `n_classes` classes on `embedding_dim`-d frames."""
    import keras
    from keras import layers

    from soundlab.models.layers import AttentionPooling, MeanMaxOverTime, MeanOverTime

    inp = keras.Input((None, embedding_dim), name="frames")
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
        raise ModelError(f"unknown head kind {kind!r}; known: {', '.join(HEAD_KINDS)}")
    model = keras.Model(inp, out, name=f"soundlab_{kind}")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def combine(members: list, name: str = "soundlab_ensemble"):
    """One model that averages the probabilities of `members` (trained heads on the same classes)."""
    import keras

    inp = keras.Input(members[0].input_shape[1:], name="frames")
    out = keras.layers.Average(name="clip_probs")([m(inp) for m in members])
    return keras.Model(inp, out, name=name)


def save(model, path: Path) -> None:
    """Save a head (see `soundlab.models.layers.save_model`)."""
    from soundlab.models.layers import save_model

    save_model(model, path)


def load(path: Path):
    """Load a head saved by :func:`save`, in Keras safe mode. Raises ModelError (missing or damaged file)."""
    from soundlab.models.layers import load_model

    return load_model(path, what="head")


class HeadPredictor:
    """A loaded head with a fast, thread-safe predict for (batch, T, d) frames."""

    def __init__(self, model, kind: str):
        import tensorflow as tf

        self.model, self.kind = model, kind
        self.n_classes = int(model.output_shape[-1])
        self.embedding_dim = int(model.input_shape[-1])
        # one traced function per input shape; Keras' model.predict costs ~30 ms of overhead per call
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._linear = None
        if kind in ("logreg", "linear"):
            # a pooling and one softmax Dense layer: numpy does it exactly, without TensorFlow's ~2 ms of call
            # overhead (two calls per window: the clip and the timeline); weights are read once, never mutated
            weights = model.get_layer("clip_probs").get_weights()
            self._linear = (np.asarray(weights[0], np.float32), np.asarray(weights[1], np.float32))
        self._attention = None
        if kind == "attention":
            inner = model.get_layer("attention")
            # layers: frames, Dropout, Dense(256), Dropout, attention, ...; dropouts are identities at inference
            dense = model.layers[model.layers.index(inner) - 2]
            self._attention = tf.function(lambda x: inner.attention_weights(dense(x)), reduce_retracing=True)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """(batch, T, d) or (T, d) float32 -> (batch, n_classes) or (n_classes,) probabilities."""
        x = np.asarray(frames, np.float32)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[-1] != self.embedding_dim:
            raise ModelError(f"frames must have shape (batch, T, {self.embedding_dim}), got {x.shape}")
        p = self._fn(x).numpy() if self._linear is None else self._linear_probs(x)
        return p[0] if single else p

    def _linear_probs(self, x: np.ndarray) -> np.ndarray:
        """(batch, T, d) -> (batch, n_classes) for the logreg (mean) and linear (mean and max) heads."""
        pooled = x.mean(axis=1) if self.kind == "logreg" else np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=-1)
        z = pooled @ self._linear[0] + self._linear[1]
        z -= z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def frame_probs(self, frames: np.ndarray) -> np.ndarray:
        """(T, d) -> (T, n_classes): each frame classified on its own (for the timeline)."""
        x = np.asarray(frames, np.float32)
        return self.predict(x[:, None, :])

    def attention_weights(self, frames: np.ndarray) -> np.ndarray | None:
        """(T, d) -> (T,) weights of the attention head (None for other heads)."""
        if self._attention is None:
            return None
        return self._attention(np.asarray(frames, np.float32)[None]).numpy()[0]

"""The seeds' from-scratch approaches, trained on exactly the folds the YAMNet heads use.

Models (each a run of its own, `python -m soundlab train --model cnn|crnn|wavecnn|mfcc-svm|mfcc-rf`):

* ``cnn``      -- a compact CNN on log-mel spectrograms: four conv blocks (batch norm, ReLU, pooling) and
                  global average pooling; trained with random circular time shifts and SpecAugment masks.
* ``crnn``     -- three conv blocks, then a bidirectional GRU over time, on the same log-mels and
                  augmentations.
* ``wavecnn``  -- a 1-D CNN on the 8 kHz waveform (a wide strided first layer, then small kernels), with
                  random time shifts and gains.
* ``mfcc-svm`` -- a classic baseline: an RBF support vector machine on MFCC statistics (scikit-learn).
* ``mfcc-rf``  -- the other classic baseline of the ESC-50 paper: a random forest on the same MFCC statistics.

The protocol (the same folds on the same clips) and the run folder are the same as for the YAMNet heads
(`soundlab.train`), so the Metrics page compares them clip by clip. Training differs: a fixed schedule
(`ScratchConfig`) instead of early stopping on an inner split; the deployed model is trained on every clip.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from soundlab import features, protocol, train
from soundlab.dataset import Dataset

SCRATCH_MODELS = ("cnn", "crnn", "wavecnn", "mfcc-svm", "mfcc-rf")
SKLEARN_MODELS = ("mfcc-svm", "mfcc-rf")
FEATURE_OF = {"cnn": "logmel", "crnn": "logmel", "wavecnn": "wave", "mfcc-svm": "mfcc", "mfcc-rf": "mfcc"}
Log = Callable[[str], None]


@dataclass(frozen=True)
class ScratchConfig:
    # A fixed schedule rather than early stopping: networks trained from scratch on a few hundred clips have
    # a noisy validation loss long before they stop improving (a pilot stopped at epoch 5 with 13% accuracy,
    # while 60 epochs of warm-up plus cosine decay reached 60% on the same fold). 60 epochs is what keeps a
    # five-fold run within about 20 minutes on 2 CPU cores; it is the same for every model, fold and task.
    epochs: int = 60
    learning_rate: float = 2e-3
    warmup_share: float = 0.1
    batch_size: int = 32
    seed: int = 0
    n_splits: int = 5
    width: int = 1  # channel multiplier of the networks
    svm_c: float = 10.0
    rf_trees: int = 500


@functools.cache
def _layers():
    """Augmentation layers (active only in training), registered for safe-mode loading."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="soundlab")
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

    @keras.saving.register_keras_serializable(package="soundlab")
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

    @keras.saving.register_keras_serializable(package="soundlab")
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

    return RandomTimeRoll, SpecAugment, RandomGain


def build(kind: str, input_shape: tuple[int, ...], n_classes: int, *, width: int = 1, norm=None):
    """An untrained from-scratch model. `norm` is (mean, variance) of the training features."""
    import keras
    from keras import layers

    RandomTimeRoll, SpecAugment, RandomGain = _layers()
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
        raise ValueError(f"unknown model {kind!r}; known: {', '.join(SCRATCH_MODELS[:3])}")
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(n_classes, activation="softmax", name="clip_probs")(x)
    return keras.Model(inp, out, name=f"soundlab_{kind}")


def _norm(X: np.ndarray) -> tuple[float, float]:
    return float(X.mean()), float(X.var() + 1e-6)


def fit(kind: str, X: np.ndarray, y: np.ndarray, n_classes: int, cfg: ScratchConfig, *, seed: int):
    """Train one model on (X, y): the networks for `cfg.epochs` epochs, the SVM in one go.

    Returns (model, history) with the per-epoch training loss and accuracy of the networks.
    """
    if kind == "mfcc-svm":
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        clf = make_pipeline(StandardScaler(), SVC(C=cfg.svm_c, gamma="scale", probability=True, random_state=seed))
        with warnings.catch_warnings():
            # scikit-learn 1.9 deprecates probability=True (gone in 1.11; requirements pin 1.9.1). Its suggested
            # replacement, CalibratedClassifierCV(SVC(), ensemble=False), was 7 points less accurate on ESC-50 here.
            warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)
            clf.fit(X, y)
        return clf, {}
    if kind == "mfcc-rf":
        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(cfg.rf_trees, random_state=seed, n_jobs=2).fit(X, y)
        return forest.set_params(n_jobs=1), {}  # one clip at a time is faster without the thread pool
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(seed)
    model = build(kind, X.shape[1:], n_classes, width=cfg.width, norm=_norm(X))
    steps = int(np.ceil(len(X) / cfg.batch_size)) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=cfg.learning_rate,
                                                      warmup_steps=int(steps * cfg.warmup_share))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(X, y, epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0)
    return model, {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def predict(model, kind: str, X: np.ndarray, n_classes: int) -> np.ndarray:
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


def train_scratch_run(ds: Dataset, task: str, kind: str, *, cache_dir: Path, runs_dir: Path,
                      cfg: ScratchConfig = ScratchConfig(), specs: dict[str, features.FeatureSpec] | None = None,
                      log: Log = print, progress=None) -> Path:
    """Cross-validate one from-scratch model on the protocol's folds, train it on everything, write a run."""
    import joblib

    t_start = time.monotonic()
    proto = protocol.choose(ds.meta, task, n_splits=cfg.n_splits, seed=cfg.seed)
    log(f"{kind}: {proto.description}")
    spec = (specs or features.SPECS)[FEATURE_OF[kind]]
    clips = list(zip(proto.clips["filename"], proto.clips["path"]))
    log(f"computing {spec.kind} features of {len(clips)} clips ...")
    names, X, failures = features.feature_set(clips, spec, cache_dir=cache_dir, progress=progress)
    ds, proto = train.without_failures(ds, task, failures, n_splits=cfg.n_splits, seed=cfg.seed, log=log)
    order = {n: i for i, n in enumerate(names)}
    X = X[[order[f] for f in proto.clips["filename"]]]
    y = proto.clips["label"].to_numpy()
    folds = proto.clips["fold"].to_numpy()

    probs = np.zeros((len(y), proto.n_classes), np.float32)
    histories = []
    t_cv = time.monotonic()
    for k in sorted(np.unique(folds)):
        test, trn = folds == k, folds != k
        model, hist = fit(kind, X[trn], y[trn], proto.n_classes, cfg, seed=cfg.seed + int(k))
        probs[test] = predict(model, kind, X[test], proto.n_classes)
        histories.append({"fold": int(k), **hist})
        log(f"  fold {k}: accuracy {np.mean(probs[test].argmax(1) == y[test]):.3f} "
            f"({time.monotonic() - t_cv:.0f} s so far)")
    cv_seconds = time.monotonic() - t_cv

    t0 = time.monotonic()
    model, final_hist = fit(kind, X, y, proto.n_classes, cfg, seed=cfg.seed)
    deployed_seconds = time.monotonic() - t0
    now = datetime.now(UTC)
    rid = train.run_id(proto, now, tag=kind)
    tmp = train.new_run_dir(runs_dir, rid)
    if kind in SKLEARN_MODELS:
        head_file = f"heads/{kind}.joblib"
        joblib.dump(model, tmp / head_file, compress=3)  # a 500-tree forest is 108 MB raw, 7 MB compressed
        if kind == "mfcc-svm":  # support vectors and their coefficients
            params = int(sum(np.size(a) for a in (model.named_steps["svc"].support_vectors_,
                                                    model.named_steps["svc"].dual_coef_)))
        else:  # tree nodes
            params = int(sum(t.tree_.node_count for t in model.estimators_))
    else:
        head_file = f"heads/{kind}.keras"
        from soundlab import heads

        heads.save(model, tmp / head_file)
        params = int(model.count_params())
    record = train.store_predictions(tmp, kind, proto, probs, histories, final_hist)
    t_inf = time.perf_counter()
    predict(model, kind, X, proto.n_classes)  # the deployed model on every clip's features, in batches
    infer_ms = (time.perf_counter() - t_inf) * 1000 / max(len(X), 1)
    emb = embed(model, kind, X)
    np.savez_compressed(tmp / "embeddings.npz", filenames=proto.clips["filename"].to_numpy().astype(str),
                        pooled=emb.astype(np.float16), audioset=np.zeros((len(X), 0), np.float16))
    cv = record["cv"]
    info = {
        **train.run_info(rid, now, task, proto, ds, seed=cfg.seed, n_splits=cfg.n_splits, failures=failures),
        "family": "scratch",
        "backbone": {"name": f"none: trained from scratch on {features.DESCRIPTIONS[spec.kind]}",
                     "fingerprint": f"features-{spec.key()}", "runtime": "sklearn" if kind in SKLEARN_MODELS else "keras"},
        "features": asdict(spec),
        "config": asdict(cfg), "cv_seconds": round(cv_seconds, 1),
        "heads": {kind: {"file": head_file, **record, "epochs": 0 if kind in SKLEARN_MODELS else cfg.epochs,
                         "cv_train_seconds": round(cv_seconds, 1), "deployed_seconds": round(deployed_seconds, 1),
                         "params": params, "inference_ms_per_clip": round(infer_ms, 3),
                         "wall_seconds": round(time.monotonic() - t_start, 1)}},
        "default_head": kind,
    }
    final = train.publish_run(tmp, runs_dir, info)
    log(f"  {kind}: accuracy {cv['accuracy']:.4f}, top-3 {cv['top3_accuracy']:.4f}, macro-F1 {cv['macro_f1']:.4f}; "
        f"{time.monotonic() - t_start:.0f} s in all; run written to {final}")
    return final

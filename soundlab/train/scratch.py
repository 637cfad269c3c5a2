"""Training the seeds' from-scratch models (`soundlab.models.scratch`) through the one loop of `soundlab.train`.

The protocol (the same folds on the same clips) and the run folder are those of the heads, so the Metrics page
compares them clip by clip. Training differs: a fixed schedule (`ScratchConfig`) instead of early stopping on an
inner split; the deployed model is trained on every clip.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from soundlab.models import features, scratch
from soundlab.train import CVResult, FeatureInputs, Fit, Log


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


def _norm(X: np.ndarray) -> tuple[float, float]:
    return float(X.mean()), float(X.var() + 1e-6)


def fit_model(kind: str, X: np.ndarray, y: np.ndarray, n_classes: int, cfg: ScratchConfig, *, seed: int):
    """Train one model on (X, y): the networks for `cfg.epochs` epochs; the SVM and the forest in one fit each.

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
    model = scratch.build(kind, X.shape[1:], n_classes, width=cfg.width, norm=_norm(X))
    steps = int(np.ceil(len(X) / cfg.batch_size)) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=cfg.learning_rate,
                                                      warmup_steps=int(steps * cfg.warmup_share))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(X, y, epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0)
    return model, {k: [float(v) for v in vals] for k, vals in hist.history.items()}


class ScratchTrainer(FeatureInputs):
    """One from-scratch model (`kind`) per run, on the features it was designed for."""

    family = "scratch"
    derived: dict = {}

    def __init__(self, kind: str, config: ScratchConfig = ScratchConfig(),
                 specs: dict[str, features.FeatureSpec] | None = None):
        if kind not in scratch.SCRATCH_MODELS:
            from soundlab.errors import ParameterError

            raise ParameterError(f"unknown model {kind!r}; known: {', '.join(scratch.SCRATCH_MODELS)}")
        self.kind, self.config = kind, config
        self.tag = kind
        self.names = (kind,)
        self.spec = (specs or features.SPECS)[scratch.FEATURE_OF[kind]]
        self.n_classes = 0

    def fit(self, name: str, rows: np.ndarray, y: np.ndarray, groups: np.ndarray, *, seed: int,
            epochs: int | None = None) -> Fit:
        model, history = fit_model(self.kind, self.X[rows], y, self.n_classes, self.config, seed=seed)
        return Fit(model, history)

    def predict(self, name: str, model, rows: np.ndarray) -> np.ndarray:
        return scratch.predict(model, self.kind, self.X[rows], self.n_classes)

    def deploy_epochs(self, name: str, cv: CVResult | None) -> int | None:
        return None  # the same fixed schedule as in every fold

    def combine(self, name: str, members: list):
        raise NotImplementedError("models trained from scratch have no derived models")

    def save(self, name: str, fit: Fit, writer) -> dict:
        path, rel = writer.model_file(name, suffix=Path(scratch.model_file(self.kind)).suffix)
        scratch.save(fit.model, self.kind, path)
        return {"file": rel, "epochs": 0 if self.kind in scratch.SKLEARN_MODELS else self.config.epochs,
                "params": scratch.param_count(fit.model, self.kind)}

    def finish(self, writer, proto, deployed: dict[str, Fit], log: Log, results=None) -> dict:
        model = deployed[self.kind].model
        t0 = time.perf_counter()
        scratch.predict(model, self.kind, self.X, self.n_classes)  # the deployed model on every clip, in batches
        infer_ms = (time.perf_counter() - t0) * 1000 / max(len(self.X), 1)
        writer.add_embeddings(self.filenames, scratch.embed(model, self.kind, self.X),
                              np.zeros((len(self.X), 0), np.float16))
        return {"backbone": {"name": f"none: trained from scratch on {features.DESCRIPTIONS[self.spec.kind]}",
                             "fingerprint": f"features-{self.spec.key()}",
                             "runtime": "sklearn" if self.kind in scratch.SKLEARN_MODELS else "keras"},
                "features": asdict(self.spec), "config": asdict(self.config),
                "inference_ms_per_clip": round(infer_ms, 3)}

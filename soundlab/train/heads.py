"""Training heads on a backbone's frame embeddings, through the one loop of `soundlab.train`.

Neural heads (attention, mlp) stop early on an inner validation split grouped by source recording, then are
trained again on all of their training clips for that many epochs; `linear` and `logreg` are logistic
regressions fitted with scikit-learn and stored as Keras heads. Heads train on the clip and its half-hop-shifted
view and average their predictions over the same views at test time (`TRAIN_VIEWS`, `TTA_VIEWS`). The run also
gets the open-set calibration (`soundlab.openset`) and every clip's pooled embedding and AudioSet scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from soundlab import augment, openset
from soundlab.models import embeddings, heads
from soundlab.models.backbone import Backbone, silence_index
from soundlab.train import CVResult, Fit, Log, Progress

# Per head: the views it is trained on, and the views whose predictions are averaged at test time.
TRAIN_VIEWS = {"attention": ("orig", "shift"), "mlp": ("orig", "shift"), "linear": ("orig", "shift"),
               "logreg": ("orig",)}
TTA_VIEWS = {"attention": ("orig", "shift"), "mlp": ("orig", "shift"), "linear": ("orig", "shift"),
             "logreg": ("orig",), "ensemble": ("orig", "shift")}
EARLY_STOPPED = ("attention", "mlp")


@dataclass(frozen=True)
class HeadsConfig:
    heads: tuple[str, ...] = heads.HEAD_KINDS
    max_epochs: int = 200
    patience: int = 20
    batch_size: int = 32
    frame_batch_size: int = 128
    val_share: float = 0.15  # inner validation split for early stopping, grouped by source recording
    refit: bool = True  # after early stopping, train again on all training clips for the best epoch count
    logreg_c: float = 1.0
    logreg_standardize: bool = False  # logreg/linear on standardised embeddings (the scaling folded into the weights)
    extra_weight: float = 1.0  # each extra training window (train --extra-train) counts as this many dataset clips
    seed: int = 0
    n_splits: int = 5
    real_views: tuple[str, ...] = ()  # recording-conditions views every head also trains on (augment.TRAIN_VIEWS)
    real_test: bool = False  # also score each held-out clip through augment.TEST_VIEW ("under real conditions")

    def train_views(self, kind: str) -> tuple[str, ...]:
        return TRAIN_VIEWS[kind] + self.real_views

    def views(self) -> list[str]:
        kinds = set(self.heads) | (set(heads.ENSEMBLE_MEMBERS) if "ensemble" in self.heads else set())
        used = {v for k in kinds for v in (self.train_views(k) if k in TRAIN_VIEWS else ()) + TTA_VIEWS[k]}
        if self.real_test:
            used.add(augment.TEST_VIEW)
        return [v for v in embeddings.VIEWS if v in used]

    def to_json(self) -> dict:
        return {**asdict(self), "train_views": {k: self.train_views(k) for k in self.heads if k in TRAIN_VIEWS},
                "tta_views": {k: TTA_VIEWS[k] for k in self.heads}}


def _inner_split(groups: np.ndarray, labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) of the outer training part, grouped by source recording."""
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    tr, _ = next(splitter.split(np.zeros(len(groups)), labels, groups))
    m_tr = np.zeros(len(groups), bool)
    m_tr[tr] = True
    return m_tr, ~m_tr


class HeadsTrainer:
    """Heads of `config.heads` on the embeddings of `backbone` (one run per backbone and task)."""

    def __init__(self, backbone: Backbone, config: HeadsConfig = HeadsConfig()):
        self.backbone, self.config = backbone, config
        self.family = self.tag = backbone.key
        self.names = tuple(config.heads)
        self.derived = {"ensemble": heads.ENSEMBLE_MEMBERS} if "ensemble" in config.heads else {}
        self.extra = None  # soundlab.train.extra.ExtraClips: recordings from outside the dataset, training only
        self._sets: dict[str, embeddings.EmbeddingSet] = {}
        self._extra_sets: dict[str, embeddings.EmbeddingSet] = {}
        self.X: dict[str, np.ndarray] = {}  # view -> (n, T, d) in protocol order, once aligned
        self.n_classes = 0

    # ---- inputs ----
    def prepare(self, proto, *, cache_dir: Path, progress: Progress | None, log: Log) -> list[tuple[str, str]]:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # Keras' predict() retracing notices (views of other shapes) are noise here
        self.n_classes = proto.n_classes
        clips = list(zip(proto.clips["filename"], proto.clips["path"]))
        failures: list[tuple[str, str]] = []
        for view in self.config.views():
            log(f"embedding {len(clips)} clips ({view} view) with {self.backbone.name} ...")
            es, failed = embeddings.embed_clips(clips, self.backbone, cache_dir=cache_dir, view=view, progress=progress,
                                                log=log)
            self._sets[view] = es
            failures += [f for f in failed if f not in failures]
            if self.extra is not None and view != augment.TEST_VIEW:  # extra clips are never tested
                log(f"embedding {len(self.extra)} windows of extra training recordings ({view} view) ...")
                es, failed = embeddings.embed_clips(list(zip(self.extra.filenames, self.extra.paths)), self.backbone,
                                                    cache_dir=cache_dir, view=view, log=log)
                if failed:
                    from soundlab.errors import DatasetError

                    raise DatasetError(f"extra training window {failed[0][0]} could not be embedded: {failed[0][1]}")
                self._extra_sets[view] = es
        return failures

    def align(self, filenames: list[str]) -> None:
        """Rows in protocol order, then (in the views that train) the extra training windows."""
        self.filenames = list(filenames)
        self.X = {}
        for v, es in self._sets.items():
            x = es.subset(filenames).stacked()
            if v in self._extra_sets:
                x = np.concatenate([x, self._extra_sets[v].subset(self.extra.filenames).stacked(x.shape[1])])
            self.X[v] = x

    # ---- training ----
    def _weights(self, rows: np.ndarray) -> np.ndarray | None:
        from soundlab.train.extra import sample_weights

        return sample_weights(rows, self)

    def _fit_keras(self, kind: str, X_views: list[np.ndarray], y: np.ndarray, *,
                   val: tuple[np.ndarray, np.ndarray] | None, epochs: int | None, seed: int,
                   weights: np.ndarray | None = None):
        import keras

        cfg = self.config
        keras.utils.set_random_seed(seed)
        model = heads.build(kind, self.n_classes, self.backbone.params.embedding_dim)
        if kind == "mlp":  # frame-level training: every frame a sample with its clip's label
            X = np.concatenate([x.reshape(-1, 1, x.shape[-1]) for x in X_views])
            Y = np.concatenate([np.repeat(y, x.shape[1]) for x in X_views])
            W = None if weights is None else np.concatenate([np.repeat(weights, x.shape[1]) for x in X_views])
            batch = cfg.frame_batch_size
            if val is not None:
                val = (val[0].reshape(-1, 1, val[0].shape[-1]), np.repeat(val[1], val[0].shape[1]))
        else:
            X = np.concatenate(X_views)
            Y = np.concatenate([y] * len(X_views))
            W = None if weights is None else np.concatenate([weights] * len(X_views))
            batch = cfg.batch_size
        callbacks = []
        if val is not None:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                                           restore_best_weights=True))
        hist = model.fit(X, Y, sample_weight=W, validation_data=val, epochs=epochs or cfg.max_epochs, batch_size=batch, shuffle=True,
                         callbacks=callbacks, verbose=0)
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        best = int(np.argmin(history["val_loss"])) + 1 if val is not None else len(history["loss"])
        return model, history, best

    def _fit_sklearn(self, kind: str, X_views: list[np.ndarray], y: np.ndarray,
                     weights: np.ndarray | None = None) -> Fit:
        """Logistic regression as a Keras head: `logreg` on mean embeddings, `linear` on mean + max."""
        from sklearn.linear_model import LogisticRegression

        if kind == "logreg":
            X = np.concatenate([x.mean(axis=1) for x in X_views])
        else:
            X = np.concatenate([np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=1) for x in X_views])
        Y = np.concatenate([y] * len(X_views))
        mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        if self.config.logreg_standardize:
            mean, scale = X.mean(axis=0), X.std(axis=0)
            scale[scale == 0] = 1.0
        clf = LogisticRegression(C=self.config.logreg_c, max_iter=5000)
        clf.fit((X - mean) / scale, Y, sample_weight=None if weights is None else np.concatenate([weights] * len(X_views)))
        model = heads.build(kind, self.n_classes, self.backbone.params.embedding_dim)
        coef = np.zeros((X.shape[1], self.n_classes), np.float32)
        bias = np.full(self.n_classes, -1e4, np.float32)  # a class absent from training can never win
        w = clf.coef_.T / scale[:, None]  # the standardisation folded in: w.x + b on the raw embedding
        coef[:, clf.classes_] = w
        bias[clf.classes_] = clf.intercept_ - mean @ w
        model.get_layer("clip_probs").set_weights([coef, bias])
        return Fit(model, {"n_iter": [int(np.max(clf.n_iter_))]})

    def fit(self, name: str, rows: np.ndarray, y: np.ndarray, groups: np.ndarray, *, seed: int,
            epochs: int | None = None) -> Fit:
        """With `epochs` None, neural heads stop early on an inner validation split grouped by source recording;
        with `epochs` set they train that long on every clip given."""
        views = [self.X[v][rows] for v in self.config.train_views(name)]
        w = self._weights(rows)
        if name not in EARLY_STOPPED:
            return self._fit_sklearn(name, views, y, w)
        if epochs is not None:
            model, history, _ = self._fit_keras(name, views, y, val=None, epochs=epochs, seed=seed, weights=w)
            return Fit(model, history)
        m_tr, m_va = _inner_split(groups, y, self.config.val_share, seed)
        model, history, best = self._fit_keras(name, [v[m_tr] for v in views], y[m_tr],
                                               val=(self.X["orig"][rows][m_va], y[m_va]), epochs=None, seed=seed,
                                               weights=None if w is None else w[m_tr])
        if not self.config.refit:
            return Fit(model, history, best)
        # The inner split only chose the epoch count: with a handful of clips per class, holding out 15%
        # costs more than it gives, so the head is trained again on all of its training clips.
        model, refit_history, _ = self._fit_keras(name, views, y, val=None, epochs=best, seed=seed, weights=w)
        return Fit(model, {**history, "refit_loss": refit_history["loss"]}, best)

    def predict(self, name: str, model, rows: np.ndarray) -> np.ndarray:
        """Mean over the head's test-time views of its probabilities."""
        return np.mean([model.predict(self.X[v][rows], batch_size=256, verbose=0) for v in TTA_VIEWS[name]], axis=0)

    def predict_real(self, name: str, model, rows: np.ndarray) -> np.ndarray | None:
        """Probabilities of the clips at `rows` recorded otherwise (`augment.TEST_VIEW`, never trained on); None when
        the run has no recording-conditions views."""
        if augment.TEST_VIEW not in self.X:
            return None
        return model.predict(self.X[augment.TEST_VIEW][rows], batch_size=256, verbose=0)

    def deploy_epochs(self, name: str, cv: CVResult | None) -> int | None:
        if name not in EARLY_STOPPED:
            return None
        if cv is None or not cv.best_epochs:  # a member trained only for the ensemble
            return self.config.max_epochs // 4
        return max(int(np.median(cv.best_epochs)), 1)

    def combine(self, name: str, members: list):
        return heads.combine(members)

    # ---- the run folder ----
    def save(self, name: str, fit: Fit, writer) -> dict:
        path, rel = writer.model_file(name)
        heads.save(fit.model, path)
        return {"file": rel, "tta_views": list(TTA_VIEWS[name]),
                "train_views": list(self.config.train_views(name)) if name in TRAIN_VIEWS else [],
                "members": list(self.derived.get(name, ())), "params": int(fit.model.count_params())}

    def finish(self, writer, proto, deployed: dict[str, Fit], log: Log, results: dict | None = None) -> dict:
        orig = self._sets["orig"].subset(self.filenames)
        pooled, clip_scores = orig.pooled(), orig.clip_scores()
        writer.add_embeddings(self.filenames, pooled, clip_scores,
                              sound=orig.pooled_sound(silence_index(self.backbone.tag_names)))
        extra = None
        if self.extra is not None:
            windows = self._extra_sets["orig"].subset(self.extra.filenames)
            extra = (windows.pooled(), windows.clip_scores(), self.extra.labels)
            writer.add_extra_embeddings(*extra)
        if results:
            calibrations = openset.calibrate_models(
                {name: r.oof_probs for name, r in results.items()}, pooled=pooled, tags=clip_scores,
                labels=proto.clips["label"].to_numpy(), folds=proto.clips["fold"].to_numpy(),
                n_classes=proto.n_classes, tag_names=self.backbone.tag_names, extra=extra)
            writer.add_openset(calibrations)
            shares = {n: c["oof"]["in_set"] for n, c in calibrations.items()}
            log("open-set check, clips judged in-set out of fold (nested): "
                + ", ".join(f"{n} {v:.1%}" for n, v in shares.items()))
        bb = self.backbone
        return {"backbone": {"key": bb.key, "name": bb.name, "fingerprint": bb.fingerprint, "runtime": bb.runtime},
                "config": self.config.to_json()}

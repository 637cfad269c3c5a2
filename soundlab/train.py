"""Train heads with honest cross-validation and write a run folder.

A run is one task (ESC-50 or ESC-10) on the clips present, with one protocol (see
`soundlab.protocol`), one backbone, and several heads. For each head it stores the out-of-fold
predictions of every clip, per-fold metrics, the training history, and the *deployed* head: the
same architecture trained on all present clips. The run folder holds everything the Metrics page
recomputes numbers from::

    runs/<run id>/run.json              config, protocol, coverage, backbone fingerprint, metrics
    runs/<run id>/heads/<head>.keras    deployed heads
    runs/<run id>/oof/<head>.csv        out-of-fold predictions (clip, fold, true, predicted, probabilities)
    runs/<run id>/history/<head>.json   training history per fold and of the deployed head
    runs/<run id>/embeddings.npz        mean embedding and mean AudioSet scores of every clip (open set, maps)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab import __version__, embeddings, heads, metrics, openset, protocol
from soundlab.backbones import Backbone
from soundlab.dataset import Dataset

Log = Callable[[str], None]


# Per head: the views it is trained on, and the views whose predictions are averaged at test time.
TRAIN_VIEWS = {"attention": ("orig", "shift"), "mlp": ("orig", "shift"), "linear": ("orig", "shift"),
               "logreg": ("orig",)}
TTA_VIEWS = {"attention": ("orig", "shift"), "mlp": ("orig", "shift"), "linear": ("orig", "shift"),
             "logreg": ("orig",), "ensemble": ("orig", "shift")}


@dataclass(frozen=True)
class TrainConfig:
    heads: tuple[str, ...] = heads.HEAD_KINDS
    max_epochs: int = 200
    patience: int = 20
    batch_size: int = 32
    frame_batch_size: int = 128
    val_share: float = 0.15  # inner validation split for early stopping, grouped by source recording
    refit: bool = True  # after early stopping, train again on all training clips for the best epoch count
    logreg_c: float = 1.0
    seed: int = 0
    n_splits: int = 5

    def base_heads(self) -> list[str]:
        """Heads that are trained (the ensemble is built from its members)."""
        kinds = [k for k in self.heads if k != "ensemble"]
        if "ensemble" in self.heads:
            kinds += [m for m in heads.ENSEMBLE_MEMBERS if m not in kinds]
        return kinds

    def views(self) -> list[str]:
        return sorted({v for k in self.base_heads() for v in TRAIN_VIEWS[k] + TTA_VIEWS[k]},
                      key=lambda v: list(embeddings.VIEWS).index(v))

    def to_json(self) -> dict:
        return {**asdict(self), "train_views": {k: TRAIN_VIEWS[k] for k in self.base_heads()},
                "tta_views": {k: TTA_VIEWS[k] for k in self.heads}}


@dataclass
class HeadResult:
    kind: str
    oof_probs: np.ndarray
    histories: list[dict] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _inner_split(groups: np.ndarray, labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) of the outer training part, grouped by source recording."""
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    tr, _ = next(splitter.split(np.zeros(len(groups)), labels, groups))
    m_tr = np.zeros(len(groups), bool)
    m_tr[tr] = True
    return m_tr, ~m_tr


def _fit_keras(kind: str, n_classes: int, X_views: list[np.ndarray], y: np.ndarray, cfg: TrainConfig, *,
               val: tuple[np.ndarray, np.ndarray] | None, epochs: int | None, seed: int):
    """Fit one neural head. X_views: per view (n, T, 1024). Returns (model, history dict, best epoch)."""
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # Keras' predict() retracing notices are noise here
    keras.utils.set_random_seed(seed)
    model = heads.build(kind, n_classes)
    if kind == "mlp":  # frame-level training: every frame a sample with its clip's label
        X = np.concatenate([x.reshape(-1, 1, x.shape[-1]) for x in X_views])
        Y = np.concatenate([np.repeat(y, x.shape[1]) for x in X_views])
        batch = cfg.frame_batch_size
        if val is not None:
            val = (val[0].reshape(-1, 1, val[0].shape[-1]), np.repeat(val[1], val[0].shape[1]))
    else:
        X = np.concatenate(X_views)
        Y = np.concatenate([y] * len(X_views))
        batch = cfg.batch_size
    callbacks = []
    if val is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                                       restore_best_weights=True))
    hist = model.fit(X, Y, validation_data=val, epochs=epochs or cfg.max_epochs, batch_size=batch, shuffle=True,
                     callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    best = int(np.argmin(history["val_loss"])) + 1 if val is not None else len(history["loss"])
    return model, history, best


def _fit_sklearn(kind: str, X_views: list[np.ndarray], y: np.ndarray, n_classes: int, cfg: TrainConfig):
    """Logistic regression as a Keras head: `logreg` on mean embeddings, `linear` on mean + max."""
    from sklearn.linear_model import LogisticRegression

    if kind == "logreg":
        X = np.concatenate([x.mean(axis=1) for x in X_views])
    else:
        X = np.concatenate([np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=1) for x in X_views])
    Y = np.concatenate([y] * len(X_views))
    clf = LogisticRegression(C=cfg.logreg_c, max_iter=5000)
    clf.fit(X, Y)
    model = heads.build(kind, n_classes)
    coef = np.zeros((X.shape[1], n_classes), np.float32)
    bias = np.full(n_classes, -1e4, np.float32)  # a class absent from training can never win
    coef[:, clf.classes_] = clf.coef_.T
    bias[clf.classes_] = clf.intercept_
    model.get_layer("clip_probs").set_weights([coef, bias])
    return model, {"n_iter": [int(np.max(clf.n_iter_))]}, 0


def fit_head(kind: str, n_classes: int, X: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray,
             cfg: TrainConfig, *, seed: int, epochs: int | None = None):
    """Train one base head on the given clips. With `epochs` None, neural heads stop early on an inner
    validation split grouped by source recording; with `epochs` set they train that long on everything."""
    views = [X[v] for v in TRAIN_VIEWS[kind]]
    if kind in ("logreg", "linear"):
        return _fit_sklearn(kind, views, y, n_classes, cfg)
    if epochs is not None:
        return _fit_keras(kind, n_classes, views, y, cfg, val=None, epochs=epochs, seed=seed)
    m_tr, m_va = _inner_split(groups, y, cfg.val_share, seed)
    model, history, best = _fit_keras(kind, n_classes, [v[m_tr] for v in views], y[m_tr], cfg,
                                      val=(X["orig"][m_va], y[m_va]), epochs=None, seed=seed)
    if not cfg.refit:
        return model, history, best
    # The inner split only chose the epoch count: with a handful of clips per class, holding out 15%
    # costs more than it gives, so the head is trained again on all of its training clips.
    model, refit_history, _ = _fit_keras(kind, n_classes, views, y, cfg, val=None, epochs=best, seed=seed)
    return model, {**history, "refit_loss": refit_history["loss"]}, best


def predict_views(model, X: dict[str, np.ndarray], views: tuple[str, ...]) -> np.ndarray:
    """Mean over `views` of the model's probabilities (test-time augmentation)."""
    return np.mean([model.predict(X[v], batch_size=256, verbose=0) for v in views], axis=0)


def cross_validate(proto: protocol.Protocol, X: dict[str, np.ndarray], cfg: TrainConfig,
                   log: Log = print) -> dict[str, HeadResult]:
    """Out-of-fold probabilities of every head of `cfg` over the protocol's folds."""
    y = proto.clips["label"].to_numpy()
    folds = proto.clips["fold"].to_numpy()
    groups = proto.clips["src_file"].to_numpy()
    results = {k: HeadResult(k, np.zeros((len(y), proto.n_classes), np.float32)) for k in cfg.heads}
    base = cfg.base_heads()
    for k in sorted(np.unique(folds)):
        test, train = folds == k, folds != k
        Xtr = {v: x[train] for v, x in X.items()}
        Xte = {v: x[test] for v, x in X.items()}
        fold_probs = {}
        for kind in base:
            t0 = time.monotonic()
            model, hist, best = fit_head(kind, proto.n_classes, Xtr, y[train], groups[train], cfg,
                                         seed=cfg.seed + int(k))
            fold_probs[kind] = predict_views(model, Xte, TTA_VIEWS[kind])
            if kind in results:
                r = results[kind]
                r.oof_probs[test] = fold_probs[kind]
                r.histories.append({"fold": int(k), **hist})
                r.best_epochs.append(best)
                r.seconds += time.monotonic() - t0
        if "ensemble" in results:
            results["ensemble"].oof_probs[test] = np.mean([fold_probs[m] for m in heads.ENSEMBLE_MEMBERS], axis=0)
        log(f"  fold {k}: " + ", ".join(f"{kind} {metrics.accuracy(y[test], results[kind].oof_probs[test].argmax(1)):.3f}"
                                        for kind in cfg.heads))
    return results


def oof_table(proto: protocol.Protocol, probs: np.ndarray) -> pd.DataFrame:
    """The stored out-of-fold predictions: one row per clip, one probability column per class."""
    pred = probs.argmax(axis=1)
    clips = proto.clips
    table = pd.DataFrame({
        "filename": clips["filename"].to_numpy(),
        "fold": clips["fold"].to_numpy(),
        "src_file": clips["src_file"].to_numpy(),
        "true": clips["label"].to_numpy(),
        "true_class": clips["category"].to_numpy(),
        "pred": pred,
        "pred_class": np.asarray(proto.classes)[pred],
        "confidence": probs.max(axis=1),
    })
    probs_df = pd.DataFrame(np.round(probs, 6), columns=[f"p_{c}" for c in proto.classes])
    return pd.concat([table, probs_df], axis=1)


def run_id(proto: protocol.Protocol, now: datetime, tag: str = "") -> str:
    return f"{proto.name}-{len(proto.clips)}clips{'-' + tag if tag else ''}-{now.strftime('%Y%m%d-%H%M%S')}"


def new_run_dir(runs_dir: Path, rid: str) -> Path:
    """A fresh staging folder for a run; published atomically by :func:`publish_run`."""
    tmp = Path(runs_dir) / f".tmp-{rid}"
    if tmp.exists():
        shutil.rmtree(tmp)
    for sub in ("heads", "oof", "history"):
        (tmp / sub).mkdir(parents=True)
    return tmp


def store_predictions(tmp: Path, kind: str, proto: protocol.Protocol, probs: np.ndarray, histories: list[dict],
                      final_history: dict) -> dict:
    """Write a head's out-of-fold predictions and history; return its record for run.json."""
    oof_table(proto, probs).to_csv(tmp / "oof" / f"{kind}.csv", index=False, float_format="%.6g")
    (tmp / "history" / f"{kind}.json").write_text(json.dumps({"folds": histories, "deployed": final_history}))
    cv = metrics.summary(proto.clips["label"].to_numpy(), probs, proto.clips["fold"].to_numpy())
    return {"oof": f"oof/{kind}.csv", "history": f"history/{kind}.json", "cv": cv}


def without_failures(ds: Dataset, task: str, failures: list[tuple[str, str]], *, n_splits: int, seed: int,
                     log: Log) -> tuple[Dataset, protocol.Protocol]:
    """The dataset and protocol once the clips that could not be decoded are left out (said in the log)."""
    if failures:
        bad = {f for f, _ in failures}
        log(f"{len(bad)} clips could not be decoded and are left out: " + "; ".join(m for _, m in failures[:3]))
        ds = Dataset(ds.root, ds.kind, ds.meta.assign(present=ds.meta["present"] & ~ds.meta["filename"].isin(bad)))
    return ds, protocol.choose(ds.meta, task, n_splits=n_splits, seed=seed)


def run_info(rid: str, now: datetime, task: str, proto: protocol.Protocol, ds: Dataset, *, seed: int, n_splits: int,
             failures: list[tuple[str, str]]) -> dict:
    """What every run.json says about where its numbers come from; the trainer adds its model's part."""
    return {
        "id": rid,
        "created": now.isoformat(timespec="seconds"),
        "soundlab_version": __version__,
        "task": task,
        "protocol": {"name": proto.name, "description": proto.description, "seed": seed, "n_splits": n_splits},
        "coverage": proto.coverage(ds.meta),
        "dataset": {"root": str(ds.root), "kind": ds.kind},
        "classes": proto.classes,
        "class_names": proto.class_names,
        "targets": proto.targets,
        "failures": [{"filename": f, "error": m} for f, m in failures],
    }


def publish_run(tmp: Path, runs_dir: Path, info: dict) -> Path:
    """Write run.json and move the staged folder into place (readers never see half a run)."""
    (tmp / "run.json").write_text(json.dumps(info, indent=1))
    final = Path(runs_dir) / info["id"]
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def train_run(ds: Dataset, task: str, backbone: Backbone, *, cache_dir: Path, runs_dir: Path,
              cfg: TrainConfig = TrainConfig(), log: Log = print, progress=None, run_name: str | None = None) -> Path:
    """Cross-validate every head of `cfg`, train the deployed heads, calibrate the open-set check and
    write the run folder. Returns its path."""
    proto = protocol.choose(ds.meta, task, n_splits=cfg.n_splits, seed=cfg.seed)
    log(f"{proto.description}")
    clips = list(zip(proto.clips["filename"], proto.clips["path"]))
    views = {}
    failures: list[tuple[str, str]] = []
    for view in cfg.views():
        log(f"embedding {len(clips)} clips ({view} view) with {backbone.name} ...")
        es, failed = embeddings.embed_clips(clips, backbone, cache_dir=cache_dir, view=view, progress=progress)
        views[view] = es
        failures += [f for f in failed if f not in failures]
    ds, proto = without_failures(ds, task, failures, n_splits=cfg.n_splits, seed=cfg.seed, log=log)
    names = list(proto.clips["filename"])
    X = {v: es.subset(names).stacked() for v, es in views.items()}
    orig = views["orig"].subset(names)

    now = datetime.now(UTC)
    rid = run_name or run_id(proto, now)
    tmp = new_run_dir(runs_dir, rid)

    y = proto.clips["label"].to_numpy()
    folds = proto.clips["fold"].to_numpy()
    groups = proto.clips["src_file"].to_numpy()
    log(f"cross-validating {', '.join(cfg.heads)} ...")
    t_cv = time.monotonic()
    results = cross_validate(proto, X, cfg, log=log)
    cv_seconds = time.monotonic() - t_cv

    deployed = {}
    head_info = {}
    for kind in cfg.base_heads():
        r = results.get(kind)
        epochs = int(np.median(r.best_epochs)) if r is not None and kind in ("attention", "mlp") else None
        if kind in ("attention", "mlp") and epochs is None:  # a member trained only for the ensemble
            epochs = cfg.max_epochs // 4
        t0 = time.monotonic()
        model, final_hist, _ = fit_head(kind, proto.n_classes, X, y, groups, cfg, seed=cfg.seed,
                                        epochs=max(epochs, 1) if epochs is not None else None)
        deployed[kind] = (model, final_hist, epochs, time.monotonic() - t0)
    if "ensemble" in cfg.heads:
        members = [deployed[m][0] for m in heads.ENSEMBLE_MEMBERS]
        deployed["ensemble"] = (heads.combine(members), {"members": list(heads.ENSEMBLE_MEMBERS)}, None, 0.0)
    for kind in cfg.heads:
        model, final_hist, epochs, seconds = deployed[kind]
        r = results[kind]
        heads.save(model, tmp / "heads" / f"{kind}.keras")
        record = store_predictions(tmp, kind, proto, r.oof_probs, r.histories, final_hist)
        cv = record["cv"]
        head_info[kind] = {
            "file": f"heads/{kind}.keras", **record,
            "tta_views": list(TTA_VIEWS[kind]), "train_views": list(TRAIN_VIEWS.get(kind, ())),
            "members": list(heads.ENSEMBLE_MEMBERS) if kind == "ensemble" else [],
            "best_epochs": r.best_epochs, "deployed_epochs": epochs,
            "cv_train_seconds": round(r.seconds, 1), "deployed_seconds": round(seconds, 1),
            "params": int(model.count_params()),
        }
        log(f"  {kind:9s}: accuracy {cv['accuracy']:.4f}, top-3 {cv['top3_accuracy']:.4f}, "
            f"macro-F1 {cv['macro_f1']:.4f}, fold mean {cv['fold_mean']:.4f} +- {cv['fold_std']:.4f}")

    pooled = orig.pooled()
    clip_scores = orig.clip_scores()
    osm = openset.calibrate(pooled, folds, clip_scores)
    log(f"open-set check: {osm.oof_in_set_share:.1%} of clips judged ESC-50 out of fold")
    np.savez_compressed(tmp / "embeddings.npz", filenames=np.asarray(names, dtype=str),
                        pooled=pooled.astype(np.float16), audioset=clip_scores.astype(np.float16))
    best = max(head_info, key=lambda k: head_info[k]["cv"]["accuracy"])
    info = {
        **run_info(rid, now, task, proto, ds, seed=cfg.seed, n_splits=cfg.n_splits, failures=failures),
        "backbone": {"name": backbone.name, "fingerprint": backbone.fingerprint,
                     "runtime": getattr(backbone, "runtime", "")},
        "config": cfg.to_json(),
        "cv_seconds": round(cv_seconds, 1),
        "heads": head_info,
        "default_head": best,
        "openset": osm.to_json(),
        "family": "yamnet",
    }
    final = publish_run(tmp, runs_dir, info)
    log(f"run written to {final} (default head: {best})")
    return final

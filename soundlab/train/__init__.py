"""Training: one cross-validation loop for every model family, and the families' trainers.

`train_run` chooses the protocol (`soundlab.data.protocol`: never a random split), asks the trainer for its
inputs, cross-validates every model on the protocol's folds, trains the deployed models on every clip, and
writes the run folder (`soundlab.runs.RunWriter`). A family plugs in through the small `Trainer` interface:

* `soundlab.train.heads.HeadsTrainer`     -- heads on a backbone's frame embeddings (attention, mlp, linear, ...)
* `soundlab.train.scratch.ScratchTrainer` -- networks and scikit-learn baselines trained from scratch on features

Inference (`soundlab.classify`, `soundlab.live`) never imports this package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from soundlab import runs
from soundlab.data import protocol
from soundlab.data.esc50 import Dataset
from soundlab.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd

Log = Callable[[str], None]
Progress = Callable[[int, int], None]


@dataclass
class Fit:
    """One trained model and how its training went."""

    model: object
    history: dict = field(default_factory=dict)
    best_epoch: int | None = None  # chosen by early stopping, if the family does that
    seconds: float = 0.0


@dataclass
class CVResult:
    """Out-of-fold probabilities of one model, with each fold's history."""

    name: str
    oof_probs: np.ndarray  # (n_clips, n_classes)
    real_probs: np.ndarray | None = None  # the same clips recorded otherwise, when the trainer can say (predict_real)
    histories: list[dict] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def add_real(self, rows: np.ndarray, probs: np.ndarray | None) -> None:
        if probs is not None:
            if self.real_probs is None:
                self.real_probs = np.zeros_like(self.oof_probs)
            self.real_probs[rows] = probs


class Trainer(Protocol):
    """What the loop needs from a model family. A trainer holds its inputs once `prepare` has run."""

    family: str  # run.json "family": the backbone key for heads, "scratch" for models trained from scratch
    tag: str  # part of the run id ("" or the model's name)
    names: tuple[str, ...]  # the models of the run, in order
    derived: dict[str, tuple[str, ...]]  # models that average the probabilities of others (the ensemble)
    config: object  # a frozen dataclass with at least `seed` and `n_splits`

    def prepare(self, proto: protocol.Protocol, *, cache_dir: Path, progress: Progress | None,
                log: Log) -> list[tuple[str, str]]:
        """Compute (or read from cache) the inputs of the protocol's clips; return the clips that failed."""

    def align(self, filenames: list[str]) -> None:
        """Order the inputs as `filenames` (the protocol's clips once failures are left out)."""

    def fit(self, name: str, rows: np.ndarray, y: np.ndarray, groups: np.ndarray, *, seed: int,
            epochs: int | None = None) -> Fit:
        """Train model `name` on the clips at `rows`; with `epochs` set, for exactly that many epochs."""

    def predict(self, name: str, model, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_classes) probabilities of the clips at `rows`."""

    # optional: predict_real(name, model, rows) -> probabilities of the clips at `rows` as other recordings
    # (soundlab.augment.TEST_VIEW), or None: "ESC-50 under real conditions", scored out of fold like the rest

    def deploy_epochs(self, name: str, cv: CVResult | None) -> int | None:
        """Epochs for the deployed model (trained on every clip), from the cross-validation; None: the default."""

    def combine(self, name: str, members: list) -> object:
        """The deployed model of a derived model, from its members' deployed models."""

    def save(self, name: str, fit: Fit, writer: runs.RunWriter) -> dict:
        """Write the deployed model into the run; return its run.json record (at least "file")."""

    def finish(self, writer: runs.RunWriter, proto: protocol.Protocol, deployed: dict[str, Fit], log: Log,
               results: dict[str, CVResult]) -> dict:
        """Write the run's other files (embeddings.npz, openset.json ...); return the family's part of run.json."""


class FeatureInputs:
    """`prepare` and `align` of a Trainer that learns from cached features of the clips (`self.spec`, a
    `soundlab.models.features.FeatureSpec`): the models trained from scratch and the fine-tuned network."""

    spec = None
    feature_dtype = np.float32
    n_classes = 0

    def prepare(self, proto, *, cache_dir: Path, progress: Progress | None, log: Log) -> list[tuple[str, str]]:
        from soundlab.models import features

        self.n_classes = proto.n_classes
        clips = list(zip(proto.clips["filename"], proto.clips["path"]))
        log(f"computing {self.spec.kind} features of {len(clips)} clips ...")
        self._names, self._X, failures = features.feature_set(clips, self.spec, cache_dir=cache_dir,
                                                               progress=progress, dtype=self.feature_dtype, log=log)
        return failures

    def align(self, filenames: list[str]) -> None:
        order = {n: i for i, n in enumerate(self._names)}
        self.filenames = list(filenames)
        self.X = self._X[[order[f] for f in filenames]]


def without_failures(ds: Dataset, task: str, failures: list[tuple[str, str]], *, n_splits: int, seed: int,
                     log: Log) -> tuple[Dataset, protocol.Protocol]:
    """The dataset and protocol once the clips that could not be decoded are left out (said in the log)."""
    if failures:
        bad = {f for f, _ in failures}
        log(f"{len(bad)} clips could not be decoded and are left out: " + "; ".join(m for _, m in failures[:3]))
        ds = ds.without(bad)
    return ds, protocol.for_dataset(ds, task, n_splits=n_splits, seed=seed)


def _base_names(trainer: Trainer) -> list[str]:
    """The models that are trained (derived ones are built from their members, trained or not)."""
    names = [n for n in trainer.names if n not in trainer.derived]
    for members in (trainer.derived[n] for n in trainer.names if n in trainer.derived):
        names += [m for m in members if m not in names]
    return names


def _with_extra(proto: protocol.Protocol, extra) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, groups) of the trainer's rows: the protocol's clips, then any extra training windows; and the extra
    rows' indices (empty without extra clips)."""
    y = proto.clips["label"].to_numpy()
    groups = proto.clips["src_file"].to_numpy().astype(object)
    if extra is None or not len(extra):
        return y, groups, np.zeros(0, np.int64)
    return (np.concatenate([y, extra.labels]), np.concatenate([groups, extra.groups.astype(object)]),
            np.arange(len(y), len(y) + len(extra)))


def cross_validate(trainer: Trainer, proto: protocol.Protocol, *, seed: int, log: Log = print) -> dict[str, CVResult]:
    """Out-of-fold probabilities of every model of `trainer` over the protocol's folds. A trainer's extra training
    windows (`trainer.extra`) join every training fold and are never tested."""
    folds = proto.clips["fold"].to_numpy()
    y_all, groups, extra_rows = _with_extra(proto, getattr(trainer, "extra", None))
    y = y_all[: len(folds)]
    results = {n: CVResult(n, np.zeros((len(y), proto.n_classes), np.float32)) for n in trainer.names}
    predict_real = getattr(trainer, "predict_real", None)
    for k in sorted(np.unique(folds)):
        test, train = np.flatnonzero(folds == k), np.concatenate([np.flatnonzero(folds != k), extra_rows])
        fold_probs, real_probs = {}, {}
        for name in _base_names(trainer):
            t0 = time.monotonic()
            fit = trainer.fit(name, train, y_all[train], groups[train], seed=seed + int(k))
            fold_probs[name] = trainer.predict(name, fit.model, test)
            real_probs[name] = predict_real(name, fit.model, test) if predict_real else None
            if name in results:
                r = results[name]
                r.oof_probs[test] = fold_probs[name]
                r.add_real(test, real_probs[name])
                r.histories.append({"fold": int(k), **fit.history})
                if fit.best_epoch is not None:
                    r.best_epochs.append(fit.best_epoch)
                r.seconds += time.monotonic() - t0
        for name in trainer.names:
            if name in trainer.derived:
                members = trainer.derived[name]
                results[name].oof_probs[test] = np.mean([fold_probs[m] for m in members], axis=0)
                if all(real_probs[m] is not None for m in members):
                    results[name].add_real(test, np.mean([real_probs[m] for m in members], axis=0))
        log(f"  fold {k}: " + ", ".join(f"{n} {np.mean(results[n].oof_probs[test].argmax(1) == y[test]):.3f}"
                                        for n in trainer.names))
    return results


def train_run(ds: Dataset, task: str, trainer: Trainer, *, cache_dir: Path, runs_dir: Path, log: Log = print,
              progress: Progress | None = None, run_name: str | None = None,
              labels: tuple[pd.DataFrame, str] | None = None,
              extra_train: tuple[str, tuple[str, ...]] | None = None) -> Path:
    """Cross-validate every model of `trainer` on `task`, train the deployed models, write the run. Returns its path.

    `labels`: (table from `protocol.read_labels`, its file name) to train and test on corrected labels, same folds.
    `extra_train`: (a labelled CSV or folder, the CSV's splits to keep or ()): recordings from outside the dataset
    that join every training fold and the deployed models (`soundlab.train.extra`); heads and fine-tuning.

    Raises
    ------
    DatasetError
        Too few clips or source recordings present for the protocol.
    """
    t_start = time.monotonic()
    cfg = trainer.config

    def corrected(p: protocol.Protocol) -> protocol.Protocol:
        return protocol.relabel(p, *labels) if labels is not None else p

    proto = corrected(protocol.for_dataset(ds, task, n_splits=cfg.n_splits, seed=cfg.seed))
    log(f"{trainer.family}{' ' + trainer.tag if trainer.tag not in ('', trainer.family) else ''}: {proto.description}")
    if extra_train is not None:
        from soundlab.train import extra

        if not hasattr(trainer, "extra"):
            raise DatasetError(f"extra training recordings work with heads on a backbone or fine-tuning, not "
                               f"{trainer.family}")
        trainer.extra = extra.prepare(extra_train[0], proto.classes, proto.class_names, cache_dir=cache_dir,
                                      splits=extra_train[1], log=log)
        log(f"also training on {len(trainer.extra.recordings)} recordings from {extra_train[0]} "
            f"({len(trainer.extra)} windows; never tested)")
    failures = trainer.prepare(proto, cache_dir=cache_dir, progress=progress, log=log)
    ds, proto = without_failures(ds, task, failures, n_splits=cfg.n_splits, seed=cfg.seed, log=log)
    proto = corrected(proto)
    trainer.align(list(proto.clips["filename"]))
    y, groups, _ = _with_extra(proto, getattr(trainer, "extra", None))

    log(f"cross-validating {', '.join(trainer.names)} ...")
    t_cv = time.monotonic()
    results = cross_validate(trainer, proto, seed=cfg.seed, log=log)
    cv_seconds = time.monotonic() - t_cv

    deployed: dict[str, Fit] = {}
    deployed_epochs: dict[str, int | None] = {}
    every = np.arange(len(y))
    for name in _base_names(trainer):
        t0 = time.monotonic()
        deployed_epochs[name] = trainer.deploy_epochs(name, results.get(name))
        fit = trainer.fit(name, every, y, groups, seed=cfg.seed, epochs=deployed_epochs[name])
        fit.seconds = time.monotonic() - t0
        deployed[name] = fit
    for name in trainer.names:
        if name in trainer.derived:
            members = trainer.derived[name]
            deployed[name] = Fit(trainer.combine(name, [deployed[m].model for m in members]),
                                 {"members": list(members)})

    now = datetime.now(UTC)
    rid = run_name or runs.run_id(proto.name, len(proto.clips), now, trainer.tag)
    with runs.RunWriter(runs_dir, rid) as writer:
        models = {}
        for name in trainer.names:
            r, d = results[name], deployed[name]
            record = writer.add_predictions(name, proto, r.oof_probs, r.histories, d.history)
            if r.real_probs is not None:
                record["real_conditions"] = writer.add_real_conditions(name, proto, r.real_probs)
            models[name] = {**trainer.save(name, d, writer), **record, "best_epochs": r.best_epochs,
                            "deployed_epochs": deployed_epochs.get(name),
                            "cv_train_seconds": round(r.seconds, 1), "deployed_seconds": round(d.seconds, 1)}
            cv = record["cv"]
            log(f"  {name:9s}: accuracy {cv['accuracy']:.4f}, top-3 {cv['top3_accuracy']:.4f}, "
                f"macro-F1 {cv['macro_f1']:.4f}, fold mean {cv['fold_mean']:.4f} +- {cv['fold_std']:.4f}"
                + (f"; under real conditions {record['real_conditions']['cv']['accuracy']:.4f}"
                   if "real_conditions" in record else ""))
        extra = trainer.finish(writer, proto, deployed, log, results)
        # the default model: the best by balanced accuracy (every class counts the same on a partial dataset)
        best = max(models, key=lambda n: (models[n]["cv"]["balanced_accuracy"], models[n]["cv"]["accuracy"]))
        info = {
            **runs.base_info(rid, now, task, proto, ds, seed=cfg.seed, n_splits=cfg.n_splits, failures=failures),
            "family": trainer.family,
            **extra,
            "cv_seconds": round(cv_seconds, 1),
            "wall_seconds": round(time.monotonic() - t_start, 1),
            "models": models,
            "default_model": best,
        }
        if getattr(trainer, "extra", None) is not None:
            info["extra_training"] = {**trainer.extra.to_json(), "weight": float(trainer.config.extra_weight)}
        final = writer.publish(info)
    log(f"run written to {final} (default model: {best}; {time.monotonic() - t_start:.0f} s in all)")
    return final

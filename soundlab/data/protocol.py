"""Evaluation protocols: which clips, which classes, which folds. Never a random split.

Chosen from the data and written beside every number:

* ``esc50-official`` -- all 2000 clips present: the official 5 folds.
* ``esc50-grouped``  -- otherwise: 5 folds over the present clips, grouped by source recording
  (``src_file``, so takes of one recording never sit on both sides) and stratified by class
  where the groups allow (scikit-learn's StratifiedGroupKFold, fixed seed).
* ``esc10-official`` -- the ESC-10 subset (10 classes) on its official folds, when all 400 of its
  clips are present; ``esc10-grouped`` otherwise.
* Other datasets (`for_dataset`): ``urbansound8k-official`` (its 10 folds), ``<key>-own-folds`` (a CSV's folds),
  ``<key>-grouped`` (folds grouped by the dataset's group column) or ``<key>-stratified`` (no group column: said).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab.data.dataset import Dataset
from soundlab.data.esc50 import N_CLIPS, N_FOLDS
from soundlab.errors import DatasetError, ParameterError

ESC10_CLIPS = 400
SEED = 0


@dataclass(frozen=True)
class Protocol:
    """The clips of one task with their folds and the class list of the head."""

    name: str  # esc50-official | esc50-grouped | esc10-official | esc10-grouped
    task: str  # esc50 | esc10
    description: str  # one sentence, shown beside every number
    clips: pd.DataFrame  # present clips of the task: filename, target, label (0..n-1), fold, src_file, ...
    classes: list[str]  # class keys (csv "category") in label order
    class_names: list[str]  # readable names in label order
    targets: list[int]  # ESC-50 target of each label
    labels: dict | None = None  # set when the labels are not the official ones: see `relabel`

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def coverage(self, meta: pd.DataFrame) -> dict:
        """How much of the task's data is present: clips, classes, per fold."""
        listed = meta[meta["esc10"]] if self.task == "esc10" else meta
        return {
            "clips_present": int(len(self.clips)),
            "clips_listed": int(len(listed)),
            "classes_present": int(self.clips["target"].nunique()),
            "classes_listed": int(listed["target"].nunique()),
            "clips_per_fold": {int(k): int(v) for k, v in self.clips.groupby("fold").size().items()},
        }


def grouped_folds(targets: np.ndarray, groups: np.ndarray, *, n_splits: int = N_FOLDS, seed: int = SEED) -> np.ndarray:
    """Fold number (1..n_splits) per clip: clips of one group share a fold; classes spread across folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = np.zeros(len(targets), np.int64)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    try:
        for i, (_, test) in enumerate(splitter.split(np.zeros(len(targets)), targets, groups)):
            folds[test] = i + 1
    except ValueError as e:  # e.g. every class has fewer clips than folds (the shipped sample)
        most = int(np.max(np.unique(targets, return_counts=True)[1])) if len(targets) else 0
        raise DatasetError(f"{n_splits}-fold cross-validation needs more clips per class than are present (at most "
                           f"{most} per class here; {e}); point SOUNDLAB_ESC50_ROOT at a bigger dataset") from None
    return folds


def sources_split_across_folds(clips: pd.DataFrame) -> list[str]:
    """Source recordings whose clips sit in more than one fold: the one leak check of the project.

    Empty for grouped folds. The official csv has four (131943, 134049, 209698, 234879): each gave clips of two
    different classes, placed in different folds.
    """
    n = clips.groupby("src_file")["fold"].nunique()
    return sorted(n[n > 1].index)


def choose(meta: pd.DataFrame, task: str = "esc50", *, n_splits: int = N_FOLDS, seed: int = SEED) -> Protocol:
    """The protocol for `task` ("esc50" or "esc10") on the clips present in `meta`."""
    if task not in ("esc50", "esc10"):
        raise ParameterError(f"task must be esc50 or esc10, got {task!r}")
    present = meta[meta["present"]] if "present" in meta else meta
    clips = present if task == "esc50" else present[present["esc10"]]
    clips = clips.sort_values("filename").reset_index(drop=True).copy()
    if len(clips) == 0:
        raise DatasetError(f"no clips of task {task} are present")
    classes_df = clips[["target", "category", "class_name"]].drop_duplicates("target").sort_values("target")
    label_of = {t: i for i, t in enumerate(classes_df["target"])}
    clips["label"] = clips["target"].map(label_of).astype(np.int64)
    complete = len(clips) == (N_CLIPS if task == "esc50" else ESC10_CLIPS)
    if complete:
        name = f"{task}-official"
        description = (f"{'ESC-50' if task == 'esc50' else 'ESC-10'} official 5-fold cross-validation "
                       f"({len(clips)} clips, {len(classes_df)} classes)")
    else:
        if clips["src_file"].nunique() < n_splits:
            raise DatasetError(f"{task}: {clips['src_file'].nunique()} source recordings present; "
                             f"{n_splits}-fold grouped cross-validation needs at least {n_splits}")
        clips["fold"] = grouped_folds(clips["target"].to_numpy(), clips["src_file"].to_numpy(),
                                      n_splits=n_splits, seed=seed)
        name = f"{task}-grouped"
        if sources_split_across_folds(clips):  # StratifiedGroupKFold guarantees this; a run must never rely on luck
            raise AssertionError("grouped folds leak a source recording")
        total = N_CLIPS if task == "esc50" else ESC10_CLIPS
        description = (f"{n_splits}-fold cross-validation over the {len(clips)} of {total} "
                       f"{'ESC-50' if task == 'esc50' else 'ESC-10'} clips present, {len(classes_df)} classes; "
                       f"folds grouped by source recording, stratified by class (seed {seed})")
    return Protocol(name=name, task=task, description=description, clips=clips,
                    classes=list(classes_df["category"]), class_names=list(classes_df["class_name"]),
                    targets=[int(t) for t in classes_df["target"]])


def for_dataset(ds: Dataset, task: str | None = None, *, n_splits: int = N_FOLDS, seed: int = SEED) -> Protocol:
    """The protocol of a dataset (`soundlab.data.dataset`): ESC-50's as `choose` makes it; for any other, the
    dataset's own folds when it defines them, every listed clip is present and no group spans two folds
    (``<key>-official`` for UrbanSound8K, ``<key>-own-folds`` otherwise), else `n_splits` folds stratified by class and
    grouped by the dataset's group (``<key>-grouped``), or, for a dataset without groups, stratified only
    (``<key>-stratified``, whose description says that leakage cannot be ruled out). Never a random split."""
    if ds.desc.is_esc50:
        return choose(ds.meta, task or "esc50", n_splits=n_splits, seed=seed)
    key, title = ds.desc.key, ds.title
    if task not in (None, key, "both"):
        raise ParameterError(f"the dataset in use is {title}; its task is {key}, not {task!r} (leave --task out)")
    clips = ds.present.sort_values("filename").reset_index(drop=True).copy()
    if len(clips) == 0:
        raise DatasetError(f"no clip of {title} is on disk")
    classes_df = clips[["target", "category", "class_name"]].drop_duplicates("target").sort_values("target")
    clips["label"] = clips["target"].map({t: i for i, t in enumerate(classes_df["target"])}).astype(np.int64)
    n, c = len(clips), len(classes_df)
    d = ds.desc
    if d.n_folds >= 2 and not d.folds_leak and ds.kind == "full" and bool((clips["fold"] > 0).all()):
        official = key == "urbansound8k"
        name = f"{key}-official" if official else f"{key}-own-folds"
        description = (f"{title} {'official' if official else 'own'} {d.n_folds}-fold cross-validation "
                       f"({n} clips, {c} classes)")
        n_splits = d.n_folds
    else:
        why = ("it defines no folds" if not d.n_folds else
               "its folds share groups" if d.folds_leak else
               f"its own folds need every listed clip ({n} of {len(ds.meta)} usable)")
        n_groups = clips["src_file"].nunique()
        if n_groups < n_splits:
            raise DatasetError(f"{title}: {n_groups} {'groups' if d.grouped else 'clips'} usable; {n_splits}-fold "
                               f"cross-validation needs at least {n_splits}")
        clips["fold"] = grouped_folds(clips["label"].to_numpy(), clips["src_file"].to_numpy(), n_splits=n_splits,
                                      seed=seed)
        if sources_split_across_folds(clips):  # StratifiedGroupKFold guarantees this; a run must never rely on luck
            raise AssertionError("grouped folds leak a group")
        if d.grouped:
            name = f"{key}-grouped"
            description = (f"{n_splits}-fold cross-validation over the {n} {title} clips present, {c} classes; folds "
                           f"grouped by {d.group}, stratified by class (seed {seed}; {why})")
        else:
            name = f"{key}-stratified"
            description = (f"{n_splits}-fold cross-validation over the {n} {title} clips present, {c} classes; folds "
                           f"stratified by class (seed {seed}; {why}). The dataset has no group column: clips cut "
                           "from one recording may sit in training and test folds, so leakage cannot be ruled out")
    return Protocol(name=name, task=key, description=description, clips=clips,
                    classes=list(classes_df["category"]), class_names=list(classes_df["class_name"]),
                    targets=[int(t) for t in classes_df["target"]])


LABEL_COLUMNS = ("filename", "target", "category")


def read_labels(path: Path | str, meta: pd.DataFrame) -> pd.DataFrame:
    """A corrected metadata csv (the layout of ESC-50's ``esc50.csv``, as the Data issues page exports it): one row
    per clip with `filename`, `target` and `category`. Checked against the ESC-50 metadata: every clip known, every
    target a class of ESC-50 and named by its own category.

    Raises
    ------
    DatasetError
        Unreadable file, a missing column, an unknown clip or class, a target that does not match its category.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read the labels file {path}: {e}") from None
    missing = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{path.name} lacks the column(s) {', '.join(missing)} of ESC-50's metadata layout")
    unknown = sorted(set(table["filename"]) - set(meta["filename"]))
    if unknown:
        raise DatasetError(f"{path.name} names {len(unknown)} clips that are not in ESC-50 (e.g. {unknown[0]!r})")
    if table["filename"].duplicated().any():
        raise DatasetError(f"{path.name} lists {table['filename'][table['filename'].duplicated()].iloc[0]!r} twice")
    category_of = dict(zip(meta["target"], meta["category"], strict=False))
    targets = pd.to_numeric(table["target"], errors="coerce")
    bad = ~targets.isin(list(category_of))
    if bad.any():
        raise DatasetError(f"{path.name}: target {table['target'][bad].iloc[0]!r} of {table['filename'][bad].iloc[0]} "
                           "is not an ESC-50 class (0-49)")
    wrong = targets.map(category_of) != table["category"]
    if wrong.any():
        i = int(np.flatnonzero(wrong.to_numpy())[0])
        raise DatasetError(f"{path.name}: {table['filename'].iloc[i]} has target {int(targets.iloc[i])} "
                           f"({category_of[int(targets.iloc[i])]}) but category {table['category'].iloc[i]!r}")
    return table.assign(target=targets.astype(np.int64))[["filename", "target", "category"]]


def relabel(proto: Protocol, labels: pd.DataFrame, source: str) -> Protocol:
    """The protocol with the labels of `labels` (from `read_labels`) in place of the official ones. The folds stay
    exactly as they are, so a run on corrected labels is compared with the official one clip for clip. A clip of
    ESC-10 corrected to a class outside ESC-10 leaves the ESC-10 task. The protocol's name gets ``-relabelled`` (it is
    not an official protocol any more) and `labels` records what changed, for run.json and every page."""
    new = dict(zip(labels["filename"], labels["target"], strict=False))
    clips = proto.clips.copy()
    old = clips["target"].to_numpy()
    wanted = clips["filename"].map(new).fillna(clips["target"]).astype(np.int64).to_numpy()
    changed = np.flatnonzero(wanted != old)
    label_of = {t: i for i, t in enumerate(proto.targets)}
    left = [i for i in changed if wanted[i] not in label_of]
    changes = [{"filename": str(clips["filename"].iloc[i]), "from": proto.classes[label_of[old[i]]],
                "to": str(labels.set_index("filename").loc[clips["filename"].iloc[i], "category"]),
                "left_task": bool(wanted[i] not in label_of)} for i in changed]
    keep = [i for i in changed if wanted[i] in label_of]
    class_of = dict(zip(proto.targets, zip(proto.classes, proto.class_names, strict=True), strict=True))
    for i in keep:
        t = int(wanted[i])
        clips.iloc[i, clips.columns.get_loc("target")] = t
        clips.iloc[i, clips.columns.get_loc("label")] = label_of[t]
        clips.iloc[i, clips.columns.get_loc("category")] = class_of[t][0]
        if "class_name" in clips:
            clips.iloc[i, clips.columns.get_loc("class_name")] = class_of[t][1]
    if left:
        clips = clips.drop(index=clips.index[left]).reset_index(drop=True)
    info = {"source": str(source), "changed": len(keep), "left_task": len(left), "changes": changes}
    what = (f"; labels of {len(keep)} clips corrected by review ({Path(source).name}), not the official labels"
            + (f", {len(left)} clips moved out of the task" if left else "") + "; same folds")
    return replace(proto, name=f"{proto.name}-relabelled", description=proto.description + what, clips=clips,
                   labels=info)

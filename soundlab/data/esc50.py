"""The ESC-50 data layer: metadata, categories, which clips are on disk, safe clip paths.

Official layout (https://github.com/karolpiczak/ESC-50)::

    ROOT/meta/esc50.csv       filename,fold,target,category,esc10,src_file,take
    ROOT/audio/{fold}-{src_file}-{take}-{target}.wav

In the csv, ``category`` is the *class* (e.g. ``dog``). The five major categories are not in the
csv: targets 0-9 are animals, 10-19 natural soundscapes & water sounds, 20-29 human non-speech
sounds, 30-39 interior/domestic sounds, 40-49 exterior/urban noises. This module adds them as
``supercategory`` and a readable class name as ``class_name``.

A partial dataset is normal: every table carries a ``present`` column, and everything downstream
works on the present clips and says how many that is. The shipped sample (one clip per class, FLAC)
has the same layout with ``.flac`` files.
"""

from __future__ import annotations

import functools

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from soundlab.errors import DatasetError

N_CLIPS = 2000
N_CLASSES = 50
N_FOLDS = 5
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
SUPERCATEGORIES = (
    "Animals",
    "Natural soundscapes & water sounds",
    "Human, non-speech sounds",
    "Interior/domestic sounds",
    "Exterior/urban noises",
)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
FILENAME_RE = re.compile(r"^(?P<fold>[1-5])-(?P<src>[0-9]{1,7})-(?P<take>[A-Z])-(?P<target>[0-9]{1,2})\.wav$")

DatasetKind = Literal["full", "partial", "sample"]


def supercategory_of(target: int) -> str:
    """Major category of an ESC-50 target (0-49)."""
    if not 0 <= int(target) < N_CLASSES:
        raise DatasetError(f"ESC-50 targets are 0-49, got {target}")
    return SUPERCATEGORIES[int(target) // 10]


def class_name_of(category: str) -> str:
    """'crying_baby' -> 'Crying baby'."""
    return category.replace("_", " ").strip().capitalize()


def read_metadata(csv_path: Path, *, expect_rows: int | None = N_CLIPS) -> pd.DataFrame:
    """Read and validate ``meta/esc50.csv``.

    Returns
    -------
    meta : pd.DataFrame
        One row per clip, sorted by filename, with the official columns (typed: ``fold``,
        ``target`` int; ``esc10`` bool; ``src_file``, ``take``, ``category`` str) plus
        ``class_name`` and ``supercategory``.

    Raises
    ------
    DatasetError
        The file is missing, empty or not a csv, or the checks in :func:`check_metadata` fail;
        the message lists every problem found.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"metadata file not found: {csv_path}")
    if csv_path.stat().st_size == 0:
        raise DatasetError(f"{csv_path.name} is empty (0 bytes); expected the ESC-50 metadata csv.")
    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DatasetError(f"{csv_path.name} is not a readable csv file: {e}") from None
    problems = check_metadata(raw, expect_rows=expect_rows)
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise DatasetError(f"{csv_path} is not valid ESC-50 metadata: {shown}.")
    meta = pd.DataFrame(
        {
            "filename": raw["filename"].str.strip(),
            "fold": raw["fold"].astype(int),
            "target": raw["target"].astype(int),
            "category": raw["category"].str.strip(),
            "esc10": raw["esc10"].str.strip().str.lower().eq("true"),
            "src_file": raw["src_file"].str.strip(),
            "take": raw["take"].str.strip(),
        }
    )
    meta["class_name"] = meta["category"].map(class_name_of)
    meta["supercategory"] = pd.Categorical(
        meta["target"].map(supercategory_of), categories=list(SUPERCATEGORIES), ordered=True
    )
    return meta.sort_values("filename", ignore_index=True)


def check_metadata(raw: pd.DataFrame, *, expect_rows: int | None = N_CLIPS) -> list[str]:
    """Every problem with a raw (all-string) metadata table, in words; empty if it is valid."""
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        return [f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(expected {', '.join(COLUMNS)})"]
    problems: list[str] = []
    if len(raw) == 0:
        return ["it has a header but no rows"]
    if expect_rows is not None and len(raw) != expect_rows:
        problems.append(f"it has {len(raw)} rows, the official file has {expect_rows}")

    def bad_rows(mask: pd.Series) -> str:
        rows = [str(i + 2) for i in np.flatnonzero(mask.to_numpy())[:5]]  # +2: header and 1-based
        return ", ".join(rows) + (" ..." if mask.sum() > 5 else "")

    fold_ok = raw["fold"].str.fullmatch(r"[1-5]")
    if not fold_ok.all():
        problems.append(f"fold must be 1-5 (line {bad_rows(~fold_ok)})")
    target_ok = raw["target"].str.fullmatch(r"[0-9]{1,2}") & (pd.to_numeric(raw["target"], errors="coerce") < N_CLASSES)
    if not target_ok.all():
        problems.append(f"target must be 0-49 (line {bad_rows(~target_ok)})")
    esc_ok = raw["esc10"].str.strip().str.lower().isin(["true", "false"])
    if not esc_ok.all():
        problems.append(f"esc10 must be True or False (line {bad_rows(~esc_ok)})")
    name_ok = raw["filename"].str.fullmatch(FILENAME_RE.pattern)
    if not name_ok.all():
        problems.append(f"filename must look like 1-100032-A-0.wav (line {bad_rows(~name_ok)})")
    dup = raw["filename"].duplicated()
    if dup.any():
        problems.append(f"duplicate filenames (line {bad_rows(dup)})")
    if problems:
        return problems
    parts = raw["filename"].str.extract(FILENAME_RE)
    mismatch = (parts["fold"] != raw["fold"]) | (parts["target"].astype(int) != raw["target"].astype(int)) \
        | (parts["src"] != raw["src_file"].str.strip()) | (parts["take"] != raw["take"].str.strip())
    if mismatch.any():
        problems.append(f"filename disagrees with its fold/src_file/take/target (line {bad_rows(mismatch)})")
    pairs = raw.assign(t=raw["target"].astype(int)).groupby("t")["category"].unique()
    for target, cats in pairs.items():
        if len(cats) > 1:
            problems.append(f"target {target} maps to several classes: {', '.join(sorted(cats))}")
    per_cat = raw.assign(t=raw["target"].astype(int)).groupby("category")["t"].unique()
    for cat, targets in per_cat.items():
        if len(targets) > 1:
            problems.append(f"class {cat} has several targets: {', '.join(map(str, sorted(targets)))}")
    return problems


def scan_audio(audio_dir: Path) -> dict[str, Path]:
    """Map official wav name -> actual file for every audio file in `audio_dir` (one listing)."""
    found: dict[str, Path] = {}
    try:
        entries = os.scandir(audio_dir)
    except (FileNotFoundError, NotADirectoryError):
        return found
    with entries:
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() in AUDIO_EXTENSIONS and entry.is_file():
                key = stem + ".wav"
                # prefer the wav if a clip exists in several formats
                if key not in found or ext.lower() == ".wav":
                    found[key] = Path(entry.path)
    return found


@dataclass(frozen=True)
class Dataset:
    """An ESC-50 folder: its metadata with a ``present`` column and where each present clip is."""

    root: Path
    kind: DatasetKind
    meta: pd.DataFrame  # read_metadata() columns + present (bool) + path (str, "" if absent)

    # computed once per Dataset (the app shares one between sessions: selecting the present rows of 2,000 took 90 ms
    # per page view); the frames are read-only
    @functools.cached_property
    def n_present(self) -> int:
        return int(self.meta["present"].sum())

    @functools.cached_property
    def present(self) -> pd.DataFrame:
        return self.meta[self.meta["present"]]

    def describe(self) -> str:
        """One line for people: what this is and how much of it is on disk."""
        what = {"full": "full ESC-50 dataset", "partial": "partial ESC-50 dataset",
                "sample": "shipped sample (one clip per class)"}[self.kind]
        return f"{what}: {self.n_present} of {len(self.meta)} clips on disk ({self.root})"

    def clip(self, filename: str) -> pd.Series:
        """The metadata row of `filename`; only names listed in the csv are accepted."""
        check_clip_name(filename)
        rows = self.meta.index[self.meta["filename"] == filename]
        if len(rows) == 0:
            raise DatasetError(f"unknown clip {filename!r}: it is not listed in the ESC-50 metadata.")
        return self.meta.loc[rows[0]]

    def require_present(self, filename: str) -> None:
        """Raise DatasetError unless `filename` is a listed clip whose audio is on disk (checks a link's clip name
        before a page uses it)."""
        if not self.clip(filename)["present"]:
            raise DatasetError(f"{filename} is listed in the ESC-50 metadata but its audio is not on disk here.")

    def clip_path(self, filename: str) -> Path:
        """Path of a present clip: the only way pages and the core open a dataset clip.

        Never leaves ``root/audio``, whatever `filename` holds, and says so when the file was removed after
        the folder was scanned.

        Raises
        ------
        DatasetError
            Not an ESC-50 clip name, not listed, not on disk, gone since the scan, or resolving outside the folder.
        """
        row = self.clip(filename)
        if not row["present"]:
            raise DatasetError(f"clip {filename} is listed in the metadata but its audio is not on disk "
                               f"in {self.root / 'audio'}.")
        path = Path(row["path"]).resolve()
        audio_dir = (self.root / "audio").resolve()
        if path.parent != audio_dir:  # e.g. a symlink pointing elsewhere
            raise DatasetError(f"clip {filename} resolves outside the dataset folder; refusing to open it.")
        if not path.is_file():
            raise DatasetError(f"clip {filename} was on disk when {self.root} was scanned but is gone now "
                               "(deleted or moved); reload the page to rescan the folder.")
        return path

    def siblings(self, filename: str) -> pd.DataFrame:
        """All takes of the same source recording (including the clip itself)."""
        row = self.clip(filename)
        return self.meta[self.meta["src_file"] == row["src_file"]].sort_values("take")


def check_clip_name(filename: str) -> str:
    """Reject anything that is not an official ESC-50 file name (paths, '..', other extensions)."""
    if not isinstance(filename, str) or not FILENAME_RE.fullmatch(filename):
        shown = filename if isinstance(filename, str) and len(filename) < 80 else f"{str(filename)[:77]}..."
        raise DatasetError(
            f"{shown!r} is not an ESC-50 clip name (expected the form 1-100032-A-0.wav, no folders)."
        )
    return filename


def load_dataset(root: Path, *, kind: DatasetKind | None = None, expect_rows: int | None = N_CLIPS) -> Dataset:
    """Read ``root/meta/esc50.csv`` and scan ``root/audio`` once.

    `kind` defaults to "full" when every clip is present, else "partial".

    Raises
    ------
    DatasetError
        No metadata file or an invalid one.
    """
    root = Path(root)
    meta = read_metadata(root / "meta" / "esc50.csv", expect_rows=expect_rows)
    found = scan_audio(root / "audio")
    meta["path"] = meta["filename"].map(lambda f: str(found[f]) if f in found else "")
    meta["present"] = meta["path"] != ""
    if kind is None:
        kind = "full" if bool(meta["present"].all()) else "partial"
    return Dataset(root=root, kind=kind, meta=meta)


@dataclass(frozen=True)
class DatasetStatus:
    """Which dataset the app uses and why (the Home page shows this)."""

    dataset: Dataset | None
    esc50_root: Path
    problem: str | None  # why the configured ESC-50 root is not used, if it is not


def resolve_dataset(esc50_root: Path, sample_root: Path) -> DatasetStatus:
    """The ESC-50 folder if it has metadata and at least one clip, else the shipped sample."""
    problem = None
    if (esc50_root / "meta" / "esc50.csv").is_file():
        try:
            ds = load_dataset(esc50_root)
            if ds.n_present:
                return DatasetStatus(ds, esc50_root, None)
            problem = f"{esc50_root} has the metadata but none of the audio files."
        except DatasetError as e:
            problem = str(e)
    else:
        problem = f"no ESC-50 dataset at {esc50_root} (meta/esc50.csv not found)."
    try:
        return DatasetStatus(load_dataset(sample_root, kind="sample"), esc50_root, problem)
    except DatasetError as e:
        return DatasetStatus(None, esc50_root, f"{problem} The shipped sample is unusable too: {e}")


def filter_clips(meta: pd.DataFrame, *, supercategories: Iterable[str] = (), classes: Iterable[str] = (),
                 folds: Iterable[int] = (), esc10_only: bool = False, src_file: str = "",
                 present_only: bool = False) -> pd.DataFrame:
    """Rows of `meta` matching every given filter; an empty selection means "any"."""
    mask = pd.Series(True, index=meta.index)
    supercategories, classes, folds = list(supercategories), list(classes), [int(f) for f in folds]
    if supercategories:
        mask &= meta["supercategory"].isin(supercategories)
    if classes:
        mask &= meta["category"].isin(classes)
    if folds:
        mask &= meta["fold"].isin(folds)
    if esc10_only:
        mask &= meta["esc10"]
    if src_file.strip():
        mask &= meta["src_file"].str.startswith(src_file.strip())
    if present_only and "present" in meta:
        mask &= meta["present"]
    return meta[mask]


def class_table(meta: pd.DataFrame) -> pd.DataFrame:
    """One row per class: target, class, supercategory, clips listed, clips present, per fold present."""
    present = meta["present"] if "present" in meta else pd.Series(True, index=meta.index)
    m = meta.assign(present=present)
    base = m.groupby(["target", "category", "class_name", "supercategory"], observed=True).agg(
        listed=("filename", "size"), present=("present", "sum")
    )
    per_fold = m[m["present"]].pivot_table(index="target", columns="fold", values="filename",
                                           aggfunc="count", fill_value=0)
    per_fold = per_fold.reindex(columns=range(1, N_FOLDS + 1), fill_value=0)
    per_fold.columns = [f"fold {c}" for c in per_fold.columns]
    out = base.reset_index().merge(per_fold, left_on="target", right_index=True, how="left")
    return out.fillna(0).astype({c: int for c in per_fold.columns}).sort_values("target", ignore_index=True)


def classes(meta: pd.DataFrame) -> pd.DataFrame:
    """target, category, class_name, supercategory: the 50 classes in target order."""
    return (meta[["target", "category", "class_name", "supercategory"]]
            .drop_duplicates("target").sort_values("target", ignore_index=True))

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

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab.data import dataset
from soundlab.data.dataset import (  # noqa: F401  (the generic parts, importable from here as before)
    ESC50,
    ESC50_CATEGORIES,
    ESC50_NAME_PATTERN,
    Dataset,
    DatasetKind,
    DatasetStatus,
    class_name_of,
    classes,
    filter_clips,
)
from soundlab.errors import DatasetError

N_CLIPS = 2000
N_CLASSES = 50
N_FOLDS = 5
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
SUPERCATEGORIES = ESC50_CATEGORIES
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
FILENAME_RE = re.compile(f"^{ESC50_NAME_PATTERN}$")


def supercategory_of(target: int) -> str:
    """Major category of an ESC-50 target (0-49)."""
    if not 0 <= int(target) < N_CLASSES:
        raise DatasetError(f"ESC-50 targets are 0-49, got {target}")
    return SUPERCATEGORIES[int(target) // 10]


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


def class_table(meta: pd.DataFrame) -> pd.DataFrame:
    """One row per class: target, class, supercategory, clips listed, clips present, present per official fold."""
    return dataset.class_table(meta, folds=range(1, N_FOLDS + 1))

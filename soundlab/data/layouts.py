"""Datasets beyond ESC-50: UrbanSound8K, a CSV of labelled files, a folder per class; and choosing one by setting.

``SOUNDLAB_DATASET`` chooses (README, "Other datasets"):

* ``esc50`` (default) -- `soundlab.data.esc50`, unchanged.
* ``urbansound8k`` or ``urbansound8k:PATH`` -- the official layout, ``PATH/metadata/UrbanSound8K.csv`` and
  ``PATH/audio/fold1..fold10``; `fsID` (the Freesound recording a slice was cut from) is the group and its ten
  folds are the protocol. PATH defaults to ``SOUNDLAB_URBANSOUND8K_ROOT`` (``data/UrbanSound8K``).
* ``csv:FILE`` -- a CSV with ``filename,label`` and optionally ``fold``, ``group`` and ``category`` (the class's
  category), any other column kept as an extra; filenames are relative to the CSV's folder.
* ``folder:PATH`` -- a folder per class (``PATH/dog/*.wav``, subfolders allowed). The group of a file is its name's
  stem before the first ``SOUNDLAB_GROUP_SEPARATOR`` (default ``-``): ``rec12-a.wav`` and ``rec12-b.wav`` are cut
  from one recording and never land on both sides of a split. A stem without the separator is its own group.

Every adapter validates what it reads: missing columns, labels with one clip, folds that share a group, paths that
escape the dataset folder and files that cannot be read are reported in one line each (`Description.notes`); such
files are listed and left out, never a crash. A listing problem that leaves nothing usable is a `DatasetError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab import audio
from soundlab.config import AudioLimits
from soundlab.data import esc50
from soundlab.data.dataset import Dataset, DatasetStatus, Description, class_name_of, is_safe_relative
from soundlab.errors import AudioError, DatasetError
from soundlab.storage import file_stamp

US8K_CSV = ("metadata", "UrbanSound8K.csv")
US8K_COLUMNS = ("slice_file_name", "fsID", "fold", "classID", "class")
CSV_COLUMNS = ("filename", "label")
KINDS = ("esc50", "urbansound8k", "folder", "csv")
SHOWN = 3  # examples named in a message


def _examples(items: list[str]) -> str:
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DatasetError(f"{path.name} is not a readable csv file: {e}") from None
    table.columns = [str(c).strip() for c in table.columns]
    if len(table) == 0:
        raise DatasetError(f"{path.name} has a header but no rows")
    return table


def _bad_lines(mask: pd.Series) -> str:
    rows = [str(i + 2) for i in np.flatnonzero(mask.to_numpy())[:SHOWN]]  # +2: header and 1-based
    return ", ".join(rows) + (" ..." if mask.sum() > SHOWN else "")


def _whole_numbers(col: pd.Series, name: str, file: str, *, low: int = 1) -> pd.Series:
    values = pd.to_numeric(col.str.strip(), errors="coerce")
    bad = values.isna() | (values != values.round()) | (values < low)
    if bad.any():
        raise DatasetError(f"{file}: {name} must be a whole number from {low} up (line {_bad_lines(bad)})")
    return values.astype(np.int64)


def _readable(path: Path) -> str | None:
    """None if the file's header can be read as audio, else why not (the header only: 50 us a file; formats only
    FFmpeg reads are decoded once, as `audio.probe` does)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:  # noqa: BLE001 -- libsndfile raises several types for a bad file; each is a reason
        if path.suffix.lower() in audio.FFMPEG_SUFFIXES:
            try:
                audio.probe(path, limits=AudioLimits(max_duration_s=float("inf")))
                return None
            except AudioError as bad:
                return str(bad).removeprefix(f"{path.name}: ")
        return f"not readable as audio ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    if info.frames <= 0:
        return "holds no audio (0 frames)"
    return None


def build(table: pd.DataFrame, root: Path, desc: Description, *, file: str) -> Dataset:
    """The dataset from a listing with ``filename`` (relative to the audio folder), ``label`` and optionally
    ``target``, ``fold``, ``group``, ``category`` and extra columns: validated, checked on disk, described."""
    table = table.copy()
    table["filename"] = table["filename"].astype(str).str.strip()
    table["label"] = table["label"].astype(str).str.strip()
    empty = table["label"] == ""
    if empty.any():
        raise DatasetError(f"{file}: {int(empty.sum())} rows have no label (line {_bad_lines(empty)})")
    dup = table["filename"].duplicated()
    if dup.any():
        raise DatasetError(f"{file}: {int(dup.sum())} files are listed twice, e.g. {table['filename'][dup].iloc[0]!r}")
    notes: list[str] = []
    left_out: list[tuple[str, str]] = []
    audio_dir = (root / desc.audio_dir).resolve()

    # classes: the dataset's own numbering (UrbanSound8K's classID) or sorted order; one name per class
    labels = sorted(table["label"].unique())
    if "target" in table:
        pairs = table.groupby("label")["target"].nunique()
        clash = list(pairs[pairs > 1].index) + [t for t, n in table.groupby("target")["label"].nunique().items() if n > 1]
        if clash:
            raise DatasetError(f"{file}: class ids and class names disagree ({_examples([str(c) for c in clash])})")
    else:
        table["target"] = table["label"].map({c: i for i, c in enumerate(labels)}).astype(np.int64)
    counts = table.groupby("label").size()
    single = sorted(counts[counts == 1].index)
    if single:
        notes.append(f"{len(single)} class{'es have' if len(single) > 1 else ' has'} one clip only "
                     f"({_examples(single)}): it is in a test fold once and never learned from there.")

    # categories of classes (optional)
    if "category" in table and (table["category"].str.strip() != "").any():
        per_class = table.groupby("label")["category"].nunique()
        if (per_class > 1).any():
            raise DatasetError(f"{file}: a class must have one category; "
                               f"{_examples(list(per_class[per_class > 1].index))} have several")
        categories = tuple(sorted(table["category"].str.strip().unique()))
        supercategory = table["category"].str.strip()
    else:
        categories = ()
        supercategory = pd.Series(desc.title, index=table.index)

    # folds (optional) and groups (optional)
    fold = table["fold"] if "fold" in table else pd.Series(0, index=table.index, dtype=np.int64)
    if "group" in table:
        group = table["group"].astype(str).str.strip()
        group = group.where(group != "", table["filename"])
    else:
        group = table["filename"]
    n_folds = int(fold[fold > 0].nunique())

    # the files: inside the folder, on disk, readable
    paths, missing = [], []
    for name in table["filename"]:
        p, ok = audio_dir / name, False
        if not is_safe_relative(name):
            why = "its path leaves the dataset folder"
        elif not (real := p.resolve()).is_relative_to(audio_dir):
            why = "it resolves outside the dataset folder (a link?)"
        elif not real.is_file():
            why = None
            missing.append(name)
        else:
            why = _readable(real)
            ok = why is None
        if why:
            left_out.append((name, why))
        paths.append(str(p) if ok else "")
    present = [bool(p) for p in paths]
    if missing:
        notes.append(f"{len(missing)} listed files are not on disk (e.g. {missing[0]}).")
    if left_out:
        notes.append(f"{len(left_out)} files are left out: " + "; ".join(f"{n}: {w}" for n, w in left_out[:SHOWN])
                     + (f"; and {len(left_out) - SHOWN} more" if len(left_out) > SHOWN else "") + ".")

    meta = pd.DataFrame({
        "filename": table["filename"],
        "fold": fold.astype(np.int64),
        "target": table["target"].astype(np.int64),
        "category": table["label"],
        "class_name": table["label"].map(class_name_of),
        "supercategory": pd.Categorical(supercategory, categories=list(categories) or [desc.title], ordered=True),
        "src_file": group.astype(str),
        "take": "",
        "esc10": False,
        "present": present,
        "path": paths,
    })
    extras = [c for c in table.columns if c not in ("filename", "label", "target", "fold", "group", "category")]
    for c in extras:
        meta[c] = table[c].to_numpy()

    grouped, folds_leak = bool(desc.group), False
    if n_folds and grouped:
        spans = meta.groupby("src_file")["fold"].nunique()
        leaking = sorted(spans[spans > 1].index)
        if leaking:
            notes.append(f"the dataset's folds share {len(leaking)} {desc.group}s ({_examples(leaking)}): "
                         "SoundLab makes its own grouped folds instead.")
            folds_leak = True
    if not grouped:
        notes.append("the dataset has no group column: clips cut from one recording may sit in training and test "
                     "folds at once, so leakage between folds cannot be ruled out.")
    if not any(present):
        raise DatasetError(f"{file}: none of the {len(meta)} listed files can be used"
                           + (f" ({left_out[0][0]}: {left_out[0][1]})" if left_out else
                              f" (none is on disk under {audio_dir})"))
    meta = meta.sort_values("filename", ignore_index=True)
    kind = "full" if all(present) else "partial"
    desc = Description(**{**desc.__dict__, "n_folds": n_folds, "folds_leak": folds_leak, "categories": categories, "notes": tuple(notes),
                          "left_out": tuple(left_out)})
    return Dataset(root=root, kind=kind, meta=meta, desc=desc)


def load_urbansound8k(root: Path) -> Dataset:
    """UrbanSound8K in its official layout (``metadata/UrbanSound8K.csv``, ``audio/foldN/``)."""
    root = Path(root)
    csv = root.joinpath(*US8K_CSV)
    table = _read_csv(csv, "UrbanSound8K metadata")
    missing = [c for c in US8K_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{csv.name} lacks the column(s) {', '.join(missing)} (expected {', '.join(US8K_COLUMNS)})")
    fold = _whole_numbers(table["fold"], "fold", csv.name)
    target = _whole_numbers(table["classID"], "classID", csv.name, low=0)
    listing = pd.DataFrame({
        "filename": "fold" + fold.astype(str) + "/" + table["slice_file_name"].str.strip(),
        "label": table["class"],
        "target": target,
        "fold": fold,
        "group": table["fsID"],
    })
    for c in table.columns:
        if c not in (*US8K_COLUMNS,):
            listing[c] = table[c]
    desc = Description(key="urbansound8k", title="UrbanSound8K", audio_dir="audio", group="Freesound recording (fsID)",
                       categories=(), tasks=("urbansound8k",), name_pattern="", name_example="fold1/100032-3-0-0.wav")
    return build(listing, root, desc, file=csv.name)


def load_csv(path: Path) -> Dataset:
    """A CSV of ``filename,label[,fold][,group][,category]`` (any other column kept); files relative to its folder."""
    path = Path(path)
    table = _read_csv(path, "dataset csv")
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{path.name} lacks the column(s) {', '.join(missing)} (expected filename,label and "
                           "optionally fold, group, category)")
    if "fold" in table:
        if (table["fold"].str.strip() == "").all():
            table = table.drop(columns=["fold"])
        else:
            table["fold"] = _whole_numbers(table["fold"], "fold", path.name)
    desc = Description(key="csv", title=path.parent.name or path.stem, source=f"{path.parent.name}/{path.name}",
                       audio_dir="", group="group" if "group" in table else "", categories=(), tasks=("csv",),
                       name_pattern="", name_example="dog/rec12-a.wav")
    return build(table, path.parent, desc, file=path.name)


def load_folder(root: Path, *, separator: str = "-") -> Dataset:
    """A folder per class: every audio file under ``root/<class>/`` (subfolders included) is a clip of that class;
    its group is its stem before the first `separator` (the whole stem if it has none)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    rows, loose = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root)
        for f in sorted(filenames):
            if f.startswith(".") or os.path.splitext(f)[1].lower() not in audio.AUDIO_SUFFIXES:
                continue
            if rel == Path("."):
                loose += 1
                continue
            stem = os.path.splitext(f)[0]
            rows.append({"filename": (rel / f).as_posix(), "label": rel.parts[0],
                         "group": stem.split(separator, 1)[0] if separator else stem})
    if not rows:
        raise DatasetError(f"{root} holds no class folders with audio files ({audio.SUPPORTED_FORMATS})")
    desc = Description(key="folder", title=root.name, source=root.name, audio_dir="",
                       group=f"recording (file name before {separator!r})", categories=(), tasks=("folder",),
                       name_pattern="", name_example="dog/rec12-a.wav")
    ds = build(pd.DataFrame(rows), root, desc, file=root.name)
    if loose:
        notes = (*ds.desc.notes, f"{loose} audio files directly in {root.name}/ belong to no class folder and are "
                 "ignored.")
        ds = Dataset(ds.root, ds.kind, ds.meta, Description(**{**ds.desc.__dict__, "notes": notes}))
    return ds


def load(kind: str, where: Path, *, separator: str = "-") -> Dataset:
    """The dataset `kind` (urbansound8k, csv, folder) at `where`. Raises DatasetError."""
    if kind == "urbansound8k":
        return load_urbansound8k(where)
    if kind == "csv":
        return load_csv(where)
    if kind == "folder":
        return load_folder(where, separator=separator)
    raise DatasetError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")


def stamp(kind: str, where: Path | None) -> tuple:
    """File stamps that change when the dataset's listing or files change (for caches of the loaded dataset)."""
    if kind == "esc50" or where is None:
        return ()
    where = Path(where)
    if kind == "csv":
        return (file_stamp(where), file_stamp(where.parent))
    top = where / "audio" if kind == "urbansound8k" else where
    try:
        subdirs = sorted(e.path for e in os.scandir(top) if e.is_dir())
    except OSError:
        subdirs = []
    csv = (file_stamp(where.joinpath(*US8K_CSV)),) if kind == "urbansound8k" else ()
    return (*csv, file_stamp(top), *(file_stamp(d) for d in subdirs))


def resolve(kind: str, where: Path | None, esc50_root: Path, sample_root: Path, *, separator: str = "-",
            setting: str = "") -> DatasetStatus:
    """The dataset chosen by ``SOUNDLAB_DATASET``; if it cannot be used, ESC-50 (or its sample) with the reason."""
    if kind == "esc50" or where is None:
        return esc50.resolve_dataset(esc50_root, sample_root)
    try:
        return DatasetStatus(load(kind, where, separator=separator), esc50_root, None)
    except DatasetError as e:
        unusable = f"SOUNDLAB_DATASET={setting or kind} cannot be used: {str(e).rstrip('.')}."
    fallback = esc50.resolve_dataset(esc50_root, sample_root)
    return DatasetStatus(fallback.dataset, esc50_root, f"{unusable} Showing ESC-50 instead."
                         + (f" {fallback.problem}" if fallback.problem else ""), unusable=unusable)


def from_settings(settings) -> DatasetStatus:
    """`resolve` with the dataset the settings (`soundlab.config.Settings`) choose."""
    kind, where = settings.dataset
    return resolve(kind, where, settings.esc50_root, settings.sample_root, separator=settings.group_separator,
                   setting=settings.dataset_setting)


def dataset_id(settings) -> str:
    """The id (`Description.id`) of the dataset the settings choose, without reading it: runs are matched on it."""
    kind, where = settings.dataset
    if kind in ("esc50", "urbansound8k") or where is None:
        return kind
    return f"{kind}:{where.name}" if kind == "folder" else f"{kind}:{where.parent.name}/{where.name}"

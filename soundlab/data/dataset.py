"""A labelled sound collection, whatever its layout: the description every page, `train` and `classify` work from.

A dataset is a table of clips and a `Description` of the collection. Every adapter (ESC-50 in `esc50`, UrbanSound8K,
a CSV or a folder per class in `layouts`) produces the same table, one row per listed clip::

    filename       the clip's path relative to the audio folder, with "/" (ESC-50: 1-100032-A-0.wav;
                   UrbanSound8K: fold1/100032-3-0-0.wav; a folder per class: dog/rec1-a.wav)
    fold           the dataset's own fold (1..n), 0 when it defines none
    target         class index: ESC-50's target, UrbanSound8K's classID, else the class's place in sorted order
    category       the class key (ESC-50's csv calls the class "category")
    class_name     the class for people ("crying_baby" -> "Crying baby")
    supercategory  the class's category (ESC-50's five major categories), one value when the dataset has none
    src_file       the group: clips of one group never sit on both sides of a split (ESC-50: the source
                   recording; UrbanSound8K: fsID); the clip's own name when the dataset has no groups
    take, esc10    ESC-50 only ("" and False elsewhere)
    present, path  whether the audio is on disk and readable, and where
    ...            any extra columns of the dataset (UrbanSound8K: start, end, salience)

The `Description` says what the collection is: its name, its class categories, whether it defines folds and how many,
what its group column means (or that it has none), and what validation found (files left out and why, classes with
one clip, folds that share a group). `soundlab.data.protocol.for_dataset` chooses the evaluation folds from it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd

from soundlab.errors import DatasetError

DatasetKind = Literal["full", "partial", "sample"]
# the universal columns, in the order tables show them; anything else in `meta` is the dataset's own
COLUMNS = ("filename", "fold", "target", "category", "class_name", "supercategory", "src_file", "take", "esc10",
           "present", "path")
MAX_NAME = 400
ESC50_NAME_PATTERN = r"(?P<fold>[1-5])-(?P<src>[0-9]{1,7})-(?P<take>[A-Z])-(?P<target>[0-9]{1,2})\.wav"
ESC50_CATEGORIES = (
    "Animals",
    "Natural soundscapes & water sounds",
    "Human, non-speech sounds",
    "Interior/domestic sounds",
    "Exterior/urban noises",
)


def class_name_of(category: str) -> str:
    """'crying_baby' -> 'Crying baby'."""
    return str(category).replace("_", " ").strip().capitalize()


# What each ESC-50 class sounds like, as a phrase a listener says ("A dog barking"): for the verdict people read first
ESC50_SOUNDS = {
    "dog": "A dog barking", "rooster": "A rooster crowing", "pig": "A pig grunting", "cow": "A cow mooing",
    "frog": "A frog croaking", "cat": "A cat meowing", "hen": "A hen clucking", "insects": "Insects buzzing",
    "sheep": "A sheep bleating", "crow": "A crow cawing", "rain": "Rain", "sea_waves": "Sea waves",
    "crackling_fire": "A crackling fire", "crickets": "Crickets chirping", "chirping_birds": "Birds chirping",
    "water_drops": "Water dripping", "wind": "Wind", "pouring_water": "Water being poured",
    "toilet_flush": "A toilet flushing", "thunderstorm": "A thunderstorm", "crying_baby": "A baby crying",
    "sneezing": "Someone sneezing", "clapping": "Hands clapping", "breathing": "Someone breathing",
    "coughing": "Someone coughing", "footsteps": "Footsteps", "laughing": "Someone laughing",
    "brushing_teeth": "Teeth being brushed", "snoring": "Someone snoring", "drinking_sipping": "Someone drinking",
    "door_wood_knock": "A knock on a wooden door", "mouse_click": "A mouse clicking",
    "keyboard_typing": "Typing on a keyboard", "door_wood_creaks": "A wooden door creaking",
    "can_opening": "A can being opened", "washing_machine": "A washing machine", "vacuum_cleaner": "A vacuum cleaner",
    "clock_alarm": "An alarm clock ringing", "clock_tick": "A clock ticking", "glass_breaking": "Glass breaking",
    "helicopter": "A helicopter", "chainsaw": "A chainsaw", "siren": "A siren", "car_horn": "A car horn",
    "engine": "An engine running", "train": "A train", "church_bells": "Church bells ringing",
    "airplane": "An airplane", "fireworks": "Fireworks", "hand_saw": "A hand saw",
}


def sound_of(category: str) -> str:
    """The class as a listener would say it: "A dog barking" for ESC-50's dog; other datasets' classes by name."""
    return ESC50_SOUNDS.get(str(category), class_name_of(category))


@dataclass(frozen=True)
class Description:
    """What a collection is and how it is evaluated. The defaults describe ESC-50."""

    key: str = "esc50"  # esc50 | urbansound8k | folder | csv
    title: str = "ESC-50"
    source: str = ""  # for folder and csv: the folder's or file's name (tells two such datasets apart)
    audio_dir: str = "audio"  # where the clips are, relative to the root ("" = the root itself)
    n_folds: int = 5  # folds the dataset defines; 0 = none (SoundLab makes grouped folds)
    folds_leak: bool = False  # its folds put clips of one group on both sides (SoundLab makes its own folds)
    group: str = "source recording"  # what `src_file` means; "" = the dataset has no group column
    categories: tuple[str, ...] = ESC50_CATEGORIES  # the class categories in order; () = none
    tasks: tuple[str, ...] = ("esc50", "esc10")
    name_pattern: str = ESC50_NAME_PATTERN  # a regex every clip name matches; "" = any relative path inside
    name_example: str = "1-100032-A-0.wav"
    notes: tuple[str, ...] = ()  # what validation found, for people (files left out, classes with one clip, ...)
    left_out: tuple[tuple[str, str], ...] = field(default=())  # (name, why) of listed clips that cannot be used

    @property
    def id(self) -> str:
        """The dataset's identity in run.json: runs are listed for the dataset they were trained on."""
        return f"{self.key}:{self.source}" if self.source else self.key

    @property
    def grouped(self) -> bool:
        return bool(self.group)

    @property
    def is_esc50(self) -> bool:
        return self.key == "esc50"


ESC50 = Description()


@dataclass(frozen=True)
class Dataset:
    """A collection on disk: its clip table (with ``present`` and ``path``) and its description."""

    root: Path
    kind: DatasetKind
    meta: pd.DataFrame  # the columns of COLUMNS (see the module docstring) + the dataset's own
    desc: Description = ESC50

    # computed once per Dataset (the app shares one between sessions); the frames are read-only
    @functools.cached_property
    def n_present(self) -> int:
        return int(self.meta["present"].sum())

    @functools.cached_property
    def present(self) -> pd.DataFrame:
        return self.meta[self.meta["present"]]

    @functools.cached_property
    def n_classes(self) -> int:
        return int(self.meta["target"].nunique())

    @property
    def title(self) -> str:
        return self.desc.title

    @property
    def extra_columns(self) -> list[str]:
        return [c for c in self.meta.columns if c not in COLUMNS]

    def describe(self) -> str:
        """One line for people: what this is and how much of it is on disk."""
        if self.desc.is_esc50:
            what = {"full": "full ESC-50 dataset", "partial": "partial ESC-50 dataset",
                    "sample": "shipped sample (one clip per class)"}[self.kind]
        else:
            what = f"{self.title} dataset"
        return f"{what}: {self.n_present} of {len(self.meta)} clips on disk ({self.root})"

    def check_name(self, filename: str) -> str:
        """Reject anything that cannot be a clip name of this dataset (a path out of it, another form), before it is
        looked up or opened. Returns the name."""
        ok = isinstance(filename, str) and 0 < len(filename) <= MAX_NAME
        if ok and self.desc.name_pattern:
            ok = re.fullmatch(self.desc.name_pattern, filename) is not None
        elif ok:
            ok = is_safe_relative(filename)
        if not ok:
            shown = filename if isinstance(filename, str) and len(filename) < 80 else f"{str(filename)[:77]}..."
            article = "an" if self.title[:1] in "AEFHILMNORSUX" else "a"  # as read aloud: an ESC-50, a UrbanSound8K
            raise DatasetError(f"{shown!r} is not {article} {self.title} clip name (expected the form {self.desc.name_example}"
                               f"{', no folders' if self.desc.name_pattern else ', a path inside the dataset'}).")
        return filename

    def clip(self, filename: str) -> pd.Series:
        """The row of `filename`; only names listed in the dataset are accepted."""
        self.check_name(filename)
        rows = self.meta.index[self.meta["filename"] == filename]
        if len(rows) == 0:
            raise DatasetError(f"unknown clip {filename!r}: it is not listed in the {self.title} metadata.")
        return self.meta.loc[rows[0]]

    def require_present(self, filename: str) -> None:
        """Raise DatasetError unless `filename` is a listed clip whose audio is on disk (checks a link's clip name
        before a page uses it)."""
        if not self.clip(filename)["present"]:
            raise DatasetError(f"{filename} is listed in the {self.title} metadata but its audio is not on disk here.")

    def clip_path(self, filename: str) -> Path:
        """Path of a present clip: the only way pages and the core open a dataset clip.

        Never leaves the dataset's audio folder, whatever `filename` holds, and says so when the file was removed
        after the folder was scanned.

        Raises
        ------
        DatasetError
            Not a clip name, not listed, not on disk, gone since the scan, or resolving outside the folder.
        """
        row = self.clip(filename)
        audio_dir = (self.root / self.desc.audio_dir).resolve()
        if not row["present"]:
            raise DatasetError(f"clip {filename} is listed in the metadata but its audio is not on disk "
                               f"in {audio_dir}.")
        path = Path(row["path"]).resolve()
        inside = path.parent == audio_dir if self.desc.name_pattern else path.is_relative_to(audio_dir)
        if not inside:  # e.g. a symlink pointing elsewhere
            raise DatasetError(f"clip {filename} resolves outside the dataset folder; refusing to open it.")
        if not path.is_file():
            raise DatasetError(f"clip {filename} was on disk when {self.root} was scanned but is gone now "
                               "(deleted or moved); reload the page to rescan the folder.")
        return path

    def siblings(self, filename: str) -> pd.DataFrame:
        """All clips of the same group (the takes of one source recording; just the clip without groups)."""
        row = self.clip(filename)
        return self.meta[self.meta["src_file"] == row["src_file"]].sort_values(["take", "filename"])

    def clip_fields(self, row: pd.Series) -> dict[str, str]:
        """A clip's metadata for people, field -> value: ESC-50's fields, or the dataset's own (its class id, category,
        fold and group where it has them, and its extra columns)."""
        if self.desc.is_esc50:
            return {"class": row["class_name"], "category": str(row["supercategory"]), "target": str(row["target"]),
                    "fold": str(row["fold"]), "ESC-10": "yes" if row["esc10"] else "no",
                    "source recording": f"{row['src_file']} (freesound.org/s/{row['src_file']})", "take": row["take"]}
        fields = {"class": row["class_name"], "class id": str(row["target"])}
        if self.desc.categories:
            fields["category"] = str(row["supercategory"])
        if int(row["fold"]):
            fields["fold"] = str(row["fold"])
        if self.desc.grouped:
            fields[self.desc.group] = str(row["src_file"])
        return {**fields, **{c: str(row[c]) for c in self.extra_columns}}

    def clip_summary(self, row: pd.Series) -> str:
        """One line for a clip in a list: class, fold and group (only what the dataset has)."""
        if self.desc.is_esc50:
            return f"{row['class_name']} · fold {row['fold']} · source {row['src_file']}"
        return " · ".join([row["class_name"]] + ([f"fold {row['fold']}"] if int(row["fold"]) else [])
                          + ([f"{self.desc.group} {row['src_file']}"] if self.desc.grouped else []))

    def without(self, names: Iterable[str]) -> Dataset:
        """The dataset with the clips `names` marked as not present (clips that could not be decoded)."""
        bad = set(names)
        return Dataset(self.root, self.kind, self.meta.assign(present=self.meta["present"] & ~self.meta["filename"]
                                                              .isin(bad)), self.desc)


def is_safe_relative(name: str) -> bool:
    """A relative path with "/" that stays inside its folder: no absolute path, drive, "..", backslash or NUL."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name.split("/")[0]:
        return False
    parts = PurePosixPath(name).parts
    return all(p not in ("", ".", "..") for p in parts)


@dataclass(frozen=True)
class DatasetStatus:
    """Which dataset the app uses and why (the Home page shows this)."""

    dataset: Dataset | None
    esc50_root: Path
    problem: str | None  # why the configured dataset is not used, if it is not
    unusable: str | None = None  # SOUNDLAB_DATASET names a dataset that cannot be used: why (the app shows ESC-50)


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
        mask &= meta["src_file"].astype(str).str.startswith(src_file.strip())
    if present_only and "present" in meta:
        mask &= meta["present"]
    return meta[mask]


def folds_of(meta: pd.DataFrame) -> list[int]:
    """The dataset's own folds (empty when it defines none)."""
    return sorted(int(f) for f in meta["fold"].unique() if int(f) > 0)


def class_table(meta: pd.DataFrame, folds: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per class: target, class, supercategory, clips listed, clips present, present per fold (the dataset's
    own folds; none when it has none)."""
    present = meta["present"] if "present" in meta else pd.Series(True, index=meta.index)
    m = meta.assign(present=present)
    base = m.groupby(["target", "category", "class_name", "supercategory"], observed=True).agg(
        listed=("filename", "size"), present=("present", "sum")
    )
    folds = folds_of(meta) if folds is None else list(folds)
    out = base.reset_index()
    if folds:
        per_fold = m[m["present"]].pivot_table(index="target", columns="fold", values="filename",
                                               aggfunc="count", fill_value=0)
        per_fold = per_fold.reindex(columns=folds, fill_value=0)
        per_fold.columns = [f"fold {c}" for c in per_fold.columns]
        out = out.merge(per_fold, left_on="target", right_index=True, how="left")
        out = out.fillna(0).astype({c: int for c in per_fold.columns})
    return out.sort_values("target", ignore_index=True)


def classes(meta: pd.DataFrame) -> pd.DataFrame:
    """target, category, class_name, supercategory: the classes in target order."""
    return (meta[["target", "category", "class_name", "supercategory"]]
            .drop_duplicates("target").sort_values("target", ignore_index=True))

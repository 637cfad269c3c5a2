"""Extra training recordings from outside the dataset (`train --extra-train`), only ever in training folds.

Each recording is cut into the 5 s windows Classify hears (at most `MAX_WINDOWS`, evenly spread, quiet ones left
out; a recording shorter than a window is repeated to fill one, so its mean embedding is that of its own frames,
not of padding). The windows are written once as wav files under the cache, so the embedding cache and its views
treat them like dataset clips. Cross-validation still tests dataset clips only: the extra windows join every
training fold and the deployed model, never a test fold, and all windows of a recording share its group.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundlab import audio, external
from soundlab.classify import HOP_S, WINDOW_S
from soundlab.dsp import level_dbfs
from soundlab.errors import AudioError, DatasetError
from soundlab.storage import write_bytes_atomic

MAX_WINDOWS = 4  # a long ambience should not outweigh a short recording of another class
SAMPLE_RATE = 44100  # ESC-50's rate; every backbone resamples from it as it does for dataset clips
QUIET_DB = -60.0  # windows quieter than this (RMS, dBFS) are left out, unless all are


@dataclass(frozen=True)
class ExtraClips:
    source: str  # the CSV or folder given
    filenames: list[str]  # one per window: the cache key
    paths: list[str]  # the window's wav file under the cache
    labels: np.ndarray  # class index of each window
    groups: np.ndarray  # the recording each window comes from
    recordings: list[dict]  # {"file", "label", "sha256", "windows"} per recording used
    splits: tuple[str, ...] = ()  # the CSV's `split` values kept (empty: all)
    problems: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.filenames)

    def to_json(self) -> dict:
        return {"source": self.source, "splits": list(self.splits), "recordings": len(self.recordings),
                "windows": len(self.filenames), "classes": len(set(self.labels.tolist())),
                "files": self.recordings}


def sample_weights(rows: np.ndarray, trainer) -> np.ndarray | None:
    """Sample weights of a trainer's `rows` (heads or fine-tuning): its extra training windows (`trainer.extra`,
    the rows after its dataset clips, `trainer.filenames`) weigh `trainer.config.extra_weight`; None when every row
    weighs 1."""
    if trainer.extra is None or trainer.config.extra_weight == 1.0:
        return None
    return np.where(np.asarray(rows) >= len(trainer.filenames), trainer.config.extra_weight, 1.0)


def _windows(y: np.ndarray, sr: int) -> list[np.ndarray]:
    win, hop = int(WINDOW_S * sr), int(HOP_S * sr)
    if len(y) < win:
        return [np.tile(y, int(np.ceil(win / max(len(y), 1))))[:win]]
    starts = sorted(set(list(range(0, len(y) - win + 1, hop)) + [len(y) - win]))
    wins = [y[s:s + win] for s in starts]
    loud = [w for w in wins if level_dbfs(w) > QUIET_DB] or wins
    pick = np.unique(np.linspace(0, len(loud) - 1, min(MAX_WINDOWS, len(loud))).round().astype(int))
    return [loud[i] for i in pick]


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _kept_by_split(path: Path, splits: tuple[str, ...]) -> set[str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or "split" not in rows[0]:
        raise DatasetError(f"{path}: --extra-split needs a CSV with a split column")
    return {str((path.parent / r["filename"]).resolve()) for r in rows if (r["split"] or "").strip() in splits}


def _rel(file: Path, root: Path) -> str:
    """How a run's record names a recording: its path under the CSV's folder, else its file name."""
    return str(file.relative_to(root)) if file.is_relative_to(root) else file.name


def prepare(path: str | Path, classes: list[str], class_names: list[str], *, cache_dir: Path,
            splits: tuple[str, ...] = (), log: Callable[[str], None] = print) -> ExtraClips:
    """The windows of the labelled recordings at `path` (a CSV filename,label[,split] or a folder per class;
    `foreign` rows are not training data and are skipped).

    Raises
    ------
    DatasetError
        Nothing usable: no such path, no recording of the run's classes, or none in `splits`.
    """
    labelled = external.read_labelled(path, classes, class_names)
    items = [(f, lab) for f, lab in labelled.items if lab != external.FOREIGN]
    if splits:
        keep = _kept_by_split(Path(path), splits)
        items = [(f, lab) for f, lab in items if str(f.resolve()) in keep]
    problems = list(labelled.problems)
    index = {c: i for i, c in enumerate(classes)}
    out_dir = Path(cache_dir) / "extra-train"
    names, paths, labels, groups, recordings = [], [], [], [], []
    for file, label in items:
        rel = _rel(file, labelled.root)
        try:
            with open(file, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            y = audio.load(file, sr=SAMPLE_RATE).y
        except (OSError, AudioError) as e:
            problems.append(f"{rel}: {e}; left out")
            continue
        wins = _windows(y, SAMPLE_RATE)
        for i, w in enumerate(wins):
            wav = out_dir / f"{digest[:20]}-{i}.wav"
            if not wav.exists():
                write_bytes_atomic(wav, _wav_bytes(w, SAMPLE_RATE))
            names.append(f"extra:{digest[:20]}-{i}")
            paths.append(str(wav))
            labels.append(index[label])
            groups.append(f"extra:{rel}")
        recordings.append({"file": rel, "label": label, "sha256": digest, "windows": len(wins)})
    for p in problems:
        log(f"extra training clips: {p}")
    if not recordings:
        raise DatasetError(f"{path}: no recording of the run's classes to train on"
                           + (f" in split(s) {', '.join(splits)}" if splits else ""))
    return ExtraClips(str(path), names, paths, np.array(labels, np.int64), np.array(groups), recordings,
                      tuple(splits), tuple(problems))


def outside_recordings(extra_training: dict, classes: list[str], class_names: list[str]
                       ) -> tuple[list[Path], list[dict]]:
    """The recordings a foreign score learns from (`fuse --learn-foreign`): the paths of the genuine recordings a run of
    heads learned from (its `extra_training` record), and the `foreign` rows of the same CSV and splits ({"path",
    "file", "sha256"} each).

    Raises
    ------
    DatasetError
        The CSV is gone or has changed since the heads were trained, or it holds no foreign row in their splits.
    """
    source, splits = Path(extra_training["source"]), tuple(extra_training.get("splits") or ())
    if not source.is_file():
        raise DatasetError(f"{source}: the heads' extra training CSV is not there any more; --learn-foreign reads its "
                           "foreign rows (run from where the heads were trained)")
    labelled = external.read_labelled(source, classes, class_names)
    paths = {_rel(f, labelled.root): f for f, _ in labelled.items}
    genuine = []
    for rec in extra_training.get("files", []):
        path = paths.get(rec["file"], labelled.root / rec["file"])
        try:
            with open(path, "rb") as f:
                same = hashlib.file_digest(f, "sha256").hexdigest() == rec["sha256"]
        except OSError:
            same = False
        if not same:
            raise DatasetError(f"{path}: missing or changed since the heads learned from it; retrain them")
        genuine.append(path)
    items = [f for f, lab in labelled.items if lab == external.FOREIGN]
    if splits:
        keep = _kept_by_split(source, splits)
        items = [f for f in items if str(f.resolve()) in keep]
    if not items:
        raise DatasetError(f"{source}: no `foreign` row" + (f" in split(s) {', '.join(splits)}" if splits else "")
                           + " to learn what is none of the classes from")
    foreign = []
    for f in items:
        with open(f, "rb") as fh:
            foreign.append({"path": f, "file": _rel(f, labelled.root),
                            "sha256": hashlib.file_digest(fh, "sha256").hexdigest()})
    return genuine, foreign

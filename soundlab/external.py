"""How does a model do on recordings made elsewhere? An external evaluation of a run's model on a labelled folder.

Cross-validation on ESC-50 measures a model on ESC-50's own recordings; a demo meets a phone, a sound library, a game,
a field recording. This module judges every clip of a labelled collection with a classifier, exactly as the Classify
page would (`soundlab.classify.classify_audio`, verdict included), and sums it up in the figures that matter outside:

* **named right and accepted**: the right class on top *and* judged one of the classes (what a user sees as right);
* **right class on top** (top-1) and in the top 3, and balanced over the classes present;
* **genuine sounds judged foreign or unsure** (the open-set check refusing a real sound of a class);
* **foreign sounds flagged** (judged not one of the classes, unsure or silence).

A collection is a folder with a subfolder per class (named by the class's key, ``chirping_birds``, or its name,
``Chirping birds``; ``foreign`` for sounds that are none of the classes), or a CSV ``filename,label`` (paths relative to
the CSV). Labels that are not the run's classes, files that cannot be read, a folder without audio: one line each, and
the rest is evaluated. Evaluations are stored in the run folder (``external/<set>--<model>.json``, atomic), where the
Metrics page reads them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab import audio
from soundlab.config import PROJ_ROOT
from soundlab.errors import DatasetError, RunError, SoundLabError
from soundlab.runs import EXTERNAL_DIR
from soundlab.storage import write_json_atomic

FOREIGN = "foreign"
VERSION = 1


def _norm(label: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(label).strip().lower())


@dataclass(frozen=True)
class LabelledSet:
    """Audio files with their labels (a class key of the run, or `FOREIGN`), and what could not be used."""

    name: str
    root: Path
    items: tuple[tuple[Path, str], ...]
    problems: tuple[str, ...] = ()


def read_labelled(path: str | Path, classes: list[str], class_names: list[str] | None = None) -> LabelledSet:
    """A labelled collection: a folder of class folders, or a CSV ``filename,label``. Labels are matched to the run's
    `classes` (keys) or `class_names`, ignoring case, spaces, ``_`` and ``-``; ``foreign`` marks sounds of none.

    Raises
    ------
    DatasetError
        The path is missing, the CSV lacks its columns, or there is no audio file with a usable label.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such folder or file")
    known = {_norm(c): c for c in classes}
    known.update({_norm(n): c for n, c in zip(class_names or [], classes, strict=False)})
    known[_norm(FOREIGN)] = FOREIGN
    problems: list[str] = []
    raw: list[tuple[Path, str]] = []
    if path.is_file():
        root = path.parent
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" starts with a BOM
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise DatasetError(f"{path}: cannot be read as a CSV ({e})") from None
        if not rows or not {"filename", "label"} <= set(rows[0]):
            raise DatasetError(f"{path}: a CSV needs the columns filename,label")
        for r in rows:  # a short row's missing cells are None
            raw.append((root / (r["filename"] or ""), (r["label"] or "").strip()))
    else:
        root = path
        for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(f for f in sub.rglob("*") if f.suffix.lower() in audio.AUDIO_SUFFIXES)
            raw += [(f, sub.name) for f in files]
    items = []
    unknown: dict[str, int] = {}
    for file, label in raw:
        key = known.get(_norm(label))
        if key is None:
            unknown[label] = unknown.get(label, 0) + 1
            continue
        if not file.is_file():
            problems.append(f"{file}: not found; left out")
            continue
        items.append((file, key))
    for label, n in sorted(unknown.items()):
        problems.append(f"label {label!r} ({n} clip{'s' if n != 1 else ''}) is not one of the run's classes nor "
                        f"'{FOREIGN}'; left out")
    if not items:
        raise DatasetError(f"{path}: no audio file with a usable label ("
                           + ("; ".join(problems[:3]) if problems else
                              f"a folder per class with audio files ({audio.SUPPORTED_FORMATS}), or a CSV filename,label")
                           + ")")
    return LabelledSet(path.name, root, tuple(items), tuple(problems))


@dataclass
class ClipResult:
    """One clip of an external evaluation, as the Classify page would have answered it."""

    filename: str  # relative to the set's root
    label: str  # a class key, or FOREIGN
    predicted: str = ""  # the top class's key
    confidence: float = float("nan")
    top3: list[str] = field(default_factory=list)
    outcome: str = ""  # in-set | foreign | unsure | silence ("" when the run has no open-set check)
    hears: str = ""
    reasons: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def accepted(self) -> bool:
        """Judged one of the classes (a run without an open-set check accepts everything)."""
        return self.outcome in ("in-set", "")

    @property
    def right(self) -> bool:
        return self.predicted == self.label


@dataclass
class ExternalEvaluation:
    """A run's model on a labelled collection: every clip's answer, and the figures of `summary`."""

    set_name: str
    root: str  # the collection's folder, relative to the repository when inside it
    run_id: str
    model: str
    classes: list[str]
    class_names: list[str]
    clips: list[ClipResult]
    problems: list[str] = field(default_factory=list)
    created: str = ""
    seconds: float = 0.0
    # set when the clips were judged by the same recipe trained without them (a run that learned from some of the
    # set's recordings): {"run": the run that judged them, "why": in words}
    measured_with: dict = field(default_factory=dict)

    def in_set(self) -> list[ClipResult]:
        return [c for c in self.clips if c.label != FOREIGN and not c.error]

    def foreign(self) -> list[ClipResult]:
        return [c for c in self.clips if c.label == FOREIGN and not c.error]

    def summary(self) -> dict:
        """The figures: shares of the in-set and foreign clips (NaN where a kind is absent), and their counts."""
        ins, out = self.in_set(), self.foreign()

        def share(rows, test) -> float:
            return float(np.mean([test(c) for c in rows])) if rows else float("nan")

        recalls = [np.mean([c.right for c in ins if c.label == k]) for k in sorted({c.label for c in ins})]
        return {"n_in_set": len(ins), "n_foreign": len(out), "n_errors": sum(1 for c in self.clips if c.error),
                "classes_present": len({c.label for c in ins}),
                "named_right_and_accepted": share(ins, lambda c: c.right and c.accepted),
                "accuracy": share(ins, lambda c: c.right),
                "balanced_accuracy": float(np.mean(recalls)) if recalls else float("nan"),
                "top3_accuracy": share(ins, lambda c: c.label in c.top3),
                "genuine_judged_foreign_or_unsure": share(ins, lambda c: not c.accepted),
                "foreign_flagged": share(out, lambda c: not c.accepted)}

    def table(self) -> pd.DataFrame:
        """One row per clip: file, label, answer, whether it is right and accepted, the verdict and its reasons."""
        names = dict(zip(self.classes, self.class_names, strict=True))
        rows = []
        for c in self.clips:
            rows.append({"filename": c.filename, "label": names.get(c.label, c.label),
                         "predicted": names.get(c.predicted, c.predicted), "confidence": c.confidence,
                         "verdict": c.outcome or ("error" if c.error else "in-set"),
                         "right": bool(c.right) if c.label != FOREIGN and not c.error else None,
                         "ok": _ok(c), "hears": c.hears, "why": "; ".join(c.reasons) or c.error})
        return pd.DataFrame(rows)

    def confusion(self) -> pd.DataFrame:
        """True label (rows) against the top class (columns) of the in-set clips, names for people."""
        names = dict(zip(self.classes, self.class_names, strict=True))
        ins = self.in_set()
        return pd.crosstab(pd.Series([names[c.label] for c in ins], name="true"),
                           pd.Series([names.get(c.predicted, c.predicted) for c in ins], name="predicted"))

    def to_json(self) -> dict:
        """Strict JSON (jq, JavaScript): a figure or confidence that does not exist is null, not NaN."""
        return _no_nan({"version": VERSION, **{k: v for k, v in asdict(self).items() if k != "clips"},
                        "clips": [asdict(c) for c in self.clips], "summary": self.summary()})

    @classmethod
    def from_json(cls, d: dict) -> ExternalEvaluation:
        if d.get("version") != VERSION:
            raise ValueError("an external evaluation of another version")
        clips = [ClipResult(**{**c, "confidence": float("nan") if c.get("confidence") is None else c["confidence"]})
                 for c in d["clips"]]
        keys = ("set_name", "root", "run_id", "model", "classes", "class_names", "problems", "created", "seconds")
        return cls(clips=clips, measured_with=dict(d.get("measured_with") or {}), **{k: d[k] for k in keys})

    def root_path(self) -> Path:
        root = Path(self.root)
        return root if root.is_absolute() else PROJ_ROOT / root


def _no_nan(x):
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x


def _ok(c: ClipResult) -> bool | None:
    """Whether a person would call the answer right: the right class accepted, or a foreign sound flagged."""
    if c.error:
        return None
    return (not c.accepted) if c.label == FOREIGN else (c.right and c.accepted)


def without_training_clips(labelled: LabelledSet, run) -> LabelledSet:
    """`labelled` without the recordings `run` also learned from (`train --extra-train`, and the foreign ones of `fuse
    --learn-foreign`; matched by content): a model judged on its own training clips would look better than it is.
    Each left-out clip is counted in one line."""
    trained = {f["sha256"] for key in ("extra_training", "foreign_training")
               for f in (run.info.get(key) or {}).get("files", [])}
    if not trained:
        return labelled
    keep, dropped = [], 0
    for path, label in labelled.items:
        try:
            with open(path, "rb") as f:
                seen = hashlib.file_digest(f, "sha256").hexdigest() in trained
        except OSError:
            seen = False  # evaluate() reports the unreadable file
        dropped += seen
        if not seen:
            keep.append((path, label))
    if not dropped:
        return labelled
    why = (f"{dropped} clip{'s' if dropped != 1 else ''} left out: {run.id} was trained on "
           f"{'them' if dropped != 1 else 'it'} (an evaluation on its own training clips would not be honest)")
    if not keep:
        raise DatasetError(f"{labelled.name}: every clip was in the training data of {run.id}; evaluate it on "
                           "recordings it never heard")
    return LabelledSet(labelled.name, labelled.root, tuple(keep), (*labelled.problems, why))


def evaluate(clf, labelled: LabelledSet, *, limits=None, progress: Callable[[int, int], None] | None = None,
             name: str | None = None, screened: bool = False) -> ExternalEvaluation:
    """Judge every clip of `labelled` with `clf` (a `soundlab.classify.Classifier`), as the Classify page does,
    leaving out the recordings its run learned from (`screened`: the caller did, with `without_training_clips`; every
    file is read to hash it, so not twice). A clip that cannot be read is kept with its error (one line) and left out
    of the figures."""
    from soundlab.classify import classify_audio

    if not screened:
        labelled = without_training_clips(labelled, clf.run)
    t0 = time.monotonic()
    names = clf.class_names
    clips = []
    for i, (path, label) in enumerate(labelled.items):
        rel = str(path.relative_to(labelled.root)) if path.is_relative_to(labelled.root) else str(path)
        try:
            res = classify_audio(clf, path, limits=limits)
        except SoundLabError as e:
            clips.append(ClipResult(rel, label, error=str(e)))
        else:
            order = np.argsort(-res.probs)[:3]
            v = res.verdict
            clips.append(ClipResult(rel, label, predicted=clf.classes[int(order[0])],
                                    confidence=round(float(res.probs[order[0]]), 4),
                                    top3=[clf.classes[int(k)] for k in order], outcome=v.outcome if v else "",
                                    hears=v.hears if v else "", reasons=[r.text for r in v.reasons] if v else []))
        if progress:
            progress(i + 1, len(labelled.items))
    root = labelled.root.resolve()
    shown = str(root.relative_to(PROJ_ROOT)) if root.is_relative_to(PROJ_ROOT) else str(root)
    return ExternalEvaluation(name or labelled.name, shown, clf.run.id, clf.kind, list(clf.classes), list(names),
                              clips, list(labelled.problems), datetime.now(UTC).isoformat(timespec="seconds"),
                              round(time.monotonic() - t0, 1))


def save(run, evaluation: ExternalEvaluation) -> Path:
    """Store an evaluation in its run's folder (atomic: readers see the old file or the new one)."""
    path = run.external_file(evaluation.set_name, evaluation.model)
    write_json_atomic(path, evaluation.to_json(), indent=None)
    return path


def stored(run, model: str | None = None) -> tuple[list[ExternalEvaluation], list[str]]:
    """The external evaluations stored with a run (of one model, if given), and a message per unusable file."""
    found, problems = [], []
    for path in sorted((run.path / EXTERNAL_DIR).glob("*.json")):
        try:
            ev = ExternalEvaluation.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"{run.id}/{EXTERNAL_DIR}/{path.name}: unusable ({type(e).__name__}: {e})")
            continue
        if model is None or ev.model == model:
            found.append(ev)
    return found, problems


def require_stored(run, model: str, set_name: str) -> ExternalEvaluation:
    for ev in stored(run, model)[0]:
        if ev.set_name == set_name:
            return ev
    raise RunError(f"{run.id} has no stored evaluation of {model} on {set_name!r}")

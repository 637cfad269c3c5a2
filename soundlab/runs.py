"""Read run folders written by `soundlab.train` (see there for the layout), defensively.

A run with a missing or malformed file is reported with what is wrong, never crashed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab.backbones import ModelError
from soundlab.openset import OpenSetModel

RUNS_DIR = "runs"
OOF_COLUMNS = ("filename", "fold", "true", "pred", "confidence")


class RunError(ModelError):
    """A run folder that cannot be used as it is; the message says which file and why."""


@dataclass(frozen=True)
class Run:
    path: Path
    info: dict

    @property
    def id(self) -> str:
        return self.info["id"]

    @property
    def task(self) -> str:
        return self.info["task"]

    @property
    def protocol(self) -> dict:
        return self.info["protocol"]

    @property
    def family(self) -> str:
        """"yamnet" (heads on YAMNet embeddings, usable by Classify) or "scratch" (trained from scratch)."""
        return self.info.get("family", "yamnet")

    @property
    def official(self) -> bool:
        return self.protocol["name"].endswith("official")

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]

    @property
    def class_names(self) -> list[str]:
        return self.info["class_names"]

    @property
    def targets(self) -> list[int]:
        return self.info["targets"]

    @property
    def head_kinds(self) -> list[str]:
        return list(self.info["heads"])

    @property
    def default_head(self) -> str:
        return self.info.get("default_head") or self.head_kinds[0]

    @property
    def fingerprint(self) -> str:
        return self.info["backbone"]["fingerprint"]

    def head(self, kind: str) -> dict:
        if kind not in self.info["heads"]:
            raise RunError(f"run {self.id} has no head {kind!r}; it has {', '.join(self.head_kinds)}")
        return self.info["heads"][kind]

    def head_path(self, kind: str) -> Path:
        return self.path / self.head(kind)["file"]

    def label(self) -> str:
        cov = self.info["coverage"]
        return f"{self.id} · {self.task.upper()} · {cov['clips_present']} clips · {self.protocol['name']}"

    def openset(self) -> OpenSetModel | None:
        try:
            return OpenSetModel.from_json(self.info["openset"])
        except (KeyError, TypeError, ValueError):
            return None


REQUIRED = ("id", "created", "task", "protocol", "coverage", "backbone", "classes", "class_names", "heads")


def load_run(path: Path) -> Run:
    """Read ``path/run.json`` and check it names what a run must have."""
    path = Path(path)
    meta = path / "run.json"
    if not meta.is_file():
        raise RunError(f"{path.name}: no run.json in {path}")
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{path.name}: run.json is not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise RunError(f"{path.name}: run.json does not hold an object")
    missing = [k for k in REQUIRED if k not in info]
    if missing:
        raise RunError(f"{path.name}: run.json lacks {', '.join(missing)}")
    if not info["heads"]:
        raise RunError(f"{path.name}: run.json lists no heads")
    if len(info["classes"]) != len(info["class_names"]):
        raise RunError(f"{path.name}: run.json has {len(info['classes'])} classes but {len(info['class_names'])} names")
    return Run(path, info)


def list_runs(artifacts_dir: Path) -> tuple[list[Run], list[str]]:
    """Every usable run under ``artifacts_dir/runs`` (newest first), and a message per unusable one."""
    root = Path(artifacts_dir) / RUNS_DIR
    runs, problems = [], []
    if not root.is_dir():
        return runs, problems
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith("."):
            continue
        try:
            runs.append(load_run(p))
        except RunError as e:
            problems.append(str(e))
    runs.sort(key=lambda r: r.info["created"], reverse=True)
    return runs, problems


def preferred(runs: list[Run], task: str | None = None) -> Run | None:
    """The run the app opens with: 50 classes first, then the official protocol, then the newest."""
    pool = [r for r in runs if task is None or r.task == task]
    if not pool:
        return None
    return max(pool, key=lambda r: (r.family == "yamnet", r.task == "esc50", r.official, r.info["created"]))


def find(runs: list[Run], run_id: str) -> Run:
    for r in runs:
        if r.id == run_id:
            return r
    raise RunError(f"unknown run {run_id!r}; available: {', '.join(r.id for r in runs) or 'none'}")


def read_oof(run: Run, kind: str) -> pd.DataFrame:
    """The out-of-fold predictions of one head, checked (columns, one probability per class, values)."""
    path = run.path / run.head(kind)["oof"]
    if not path.is_file():
        raise RunError(f"{run.id}: the out-of-fold predictions of {kind} ({path.name}) are missing")
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise RunError(f"{run.id}: {path.name} cannot be read ({e})") from None
    prob_cols = [f"p_{c}" for c in run.classes]
    missing = [c for c in (*OOF_COLUMNS, *prob_cols) if c not in df.columns]
    if missing:
        raise RunError(f"{run.id}: {path.name} lacks column(s) {', '.join(missing[:5])}"
                       + (" (the file may be truncated)" if len(df.columns) < len(OOF_COLUMNS) + len(prob_cols) else ""))
    bad = df[prob_cols].isna().any(axis=1) | ~df["true"].between(0, len(run.classes) - 1)
    if bad.any():
        raise RunError(f"{run.id}: {path.name} has {int(bad.sum())} incomplete or invalid rows "
                       f"(first at line {int(np.flatnonzero(bad.to_numpy())[0]) + 2}); the file may be truncated")
    return df


def read_embeddings(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(filenames, pooled embeddings (n, 1024) float32, mean AudioSet scores (n, 521) float32) of the run's clips."""
    path = run.path / "embeddings.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["filenames"], z["pooled"].astype(np.float32), z["audioset"].astype(np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise RunError(f"{run.id}: embeddings.npz is missing or damaged ({e})") from None

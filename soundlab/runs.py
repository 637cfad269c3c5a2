"""Run folders: the one module that writes, reads and lists them.

A run is one task (ESC-50 or ESC-10) on the clips present, with one protocol (`soundlab.data.protocol`), one
model family and one or more trained models. It holds everything the Metrics page recomputes numbers from::

    runs/<run id>/run.json              config, protocol, coverage, backbone or features, per-model metrics
    runs/<run id>/models/<name>.keras   deployed models (trained on every clip; .joblib for scikit-learn)
    runs/<run id>/oof/<name>.csv        out-of-fold predictions (clip, fold, true, predicted, probabilities)
    runs/<run id>/history/<name>.json   training history per fold and of the deployed model
    runs/<run id>/embeddings.npz        a pooled embedding and mean AudioSet scores of every clip (maps, open set)
    runs/<run id>/extra_embeddings.npz  the same of the extra training windows, if any (open set; train --extra-train)
    runs/<run id>/second_tags.npz       a fused model's second backbone's AudioSet scores of them (open set)

A run is staged in ``runs/.tmp-<id>/`` and renamed into place only when complete, so a reader never sees half a
run; `run.json` is written last. Reading is defensive: a folder without a usable `run.json` is reported with what
is wrong and never crashed on.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab import __version__, metrics
from soundlab.data.dataset import ESC50_CATEGORIES
from soundlab.errors import RunError
from soundlab.models.backbone import REGISTRY as BACKBONES
from soundlab.openset import OpenSetModel
from soundlab.storage import save_npz_atomic, write_json_atomic, write_text_atomic

# How people read a model's name ("EfficientAT + logistic regression"): pickers, captions, tables
BACKBONE_TITLES = {"yamnet": "YAMNet", "efficientat": "EfficientAT"}
MODEL_TITLES = {"attention": "attention head", "mlp": "MLP head", "linear": "linear head", "logreg": "logistic regression",
                "ensemble": "ensemble of heads", "cnn": "CNN", "crnn": "CRNN", "wavecnn": "waveform CNN",
                "mfcc-svm": "MFCC + SVM", "mfcc-rf": "MFCC + random forest"}
RUNS_DIR = "runs"
STAGING_PREFIX = ".tmp-"
OPENSET_FILE = "openset.json"
EXTRA_EMBEDDINGS_FILE = "extra_embeddings.npz"
SECOND_TAGS_FILE = "second_tags.npz"
OUTSIDE_EMBEDDINGS_FILE = "outside_embeddings.npz"  # what a fused model's foreign score learned from (`fuse --learn-foreign`)
OOF_COLUMNS = ("filename", "fold", "true", "pred", "confidence")
REQUIRED = ("id", "created", "task", "protocol", "coverage", "backbone", "classes", "class_names", "models")
EXTERNAL_DIR = "external"  # stored external evaluations (soundlab.external)

# The default model is chosen by what holds up outside the training data (docs/models.md, "Which model is the
# default"): among the models within CV_MARGIN of the best cross-validated balanced accuracy, the best balanced
# accuracy on the stored evaluation HOLDS_UP_SET; without such an evaluation, cross-validation alone decides.
CV_MARGIN = 0.02
HOLDS_UP_SET = "realworld-A"


@dataclass(frozen=True)
class Run:
    path: Path
    info: dict
    holds_up: dict = field(default_factory=dict)  # {model: balanced accuracy on HOLDS_UP_SET}, where stored

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
        """The backbone the run's heads sit on ("yamnet", "efficientat"), "scratch" (models trained from scratch) or
        "finetune" (EfficientAT trained end to end)."""
        return self.info.get("family", "yamnet")

    @property
    def dataset_id(self) -> str:
        """The dataset the run was trained on (`soundlab.data.dataset.Description.id`; runs before 0.6: ESC-50)."""
        return str(self.info.get("dataset", {}).get("id", "esc50"))

    @property
    def dataset_title(self) -> str:
        return str(self.info.get("dataset", {}).get("title", "ESC-50"))

    @property
    def task_title(self) -> str:
        """Whose classes the run's models name, for people: "ESC-10" for ESC-10's ten classes, else the dataset's
        title."""
        return "ESC-10" if self.task == "esc10" else self.dataset_title

    @property
    def categories(self) -> list[str]:
        """The category of each class, in label order: as run.json records it, else ESC-50's (target // 10)."""
        if "categories" in self.info:
            return list(self.info["categories"])
        if self.dataset_id == "esc50":
            return [ESC50_CATEGORIES[int(t) // 10] for t in self.targets]
        return [self.dataset_title] * len(self.classes)

    @property
    def category_names(self) -> list[str]:
        """The categories in order (ESC-50: its five, always; other datasets: those of the classes, sorted)."""
        return list(ESC50_CATEGORIES) if self.dataset_id == "esc50" else sorted(set(self.categories))

    @property
    def category_index(self) -> list[int]:
        """The place in `category_names` of each class's category, in label order."""
        order = {c: i for i, c in enumerate(self.category_names)}
        return [order[c] for c in self.categories]

    @property
    def classifies_audio(self) -> bool:
        """Whether the Classify page and `classify` can serve it (heads on a backbone)."""
        return self.family in BACKBONES

    def balanced_accuracy(self, name: str | None = None) -> float:
        """Cross-validated balanced accuracy of a model (default: the run's default model), as run.json records it."""
        cv = self.model(name or self.default_model)["cv"]
        return float(cv.get("balanced_accuracy", cv["accuracy"]))

    @property
    def backbone_key(self) -> str | None:
        """Registry name of the backbone the run was trained on (None for models trained from scratch)."""
        return self.info["backbone"].get("key", self.family) if self.classifies_audio else None

    @property
    def backbones(self) -> list[str]:
        """Every backbone the default model hears through: the run's, and a fused model's second (YAMNet)."""
        second = self.model(self.default_model).get("second", {}).get("backbone") if self.classifies_audio else None
        return [k for k in (self.backbone_key, second) if k]

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
    def model_names(self) -> list[str]:
        return list(self.info["models"])

    @property
    def default_model(self) -> str:
        """The model the run is used with: by `choose` among its models when some have a stored real-world
        evaluation, else the one training chose (the best cross-validated balanced accuracy)."""
        if self.holds_up:
            return choose([(self, n) for n in self.model_names])[1]
        return self.info.get("default_model") or self.model_names[0]

    def external_file(self, set_name: str, model: str) -> Path:
        """Where an external evaluation of `model` on the set `set_name` is stored."""
        return external_file(self.path, set_name, model)

    def stored_summary(self, model: str, set_name: str) -> dict | None:
        """The figures of the stored external evaluation of `model` on `set_name` (`soundlab.external`), or None."""
        return stored_summary(self.path, model, set_name)


    @property
    def fingerprint(self) -> str:
        return self.info["backbone"]["fingerprint"]

    def model_title(self, name: str | None = None) -> str:
        """A model's name for people ("EfficientAT + logistic regression"; "EfficientAT fine-tuned + logistic
        regression, fused"); run.json may give its own ("title")."""
        name = name or self.default_model
        spec = self.model(name)
        if spec.get("title"):
            return str(spec["title"])
        outside = (f", also trained on {self.extra_training['recordings']} outside recordings"
                   if self.extra_training else "")
        if self.foreign_training:  # `fuse --learn-foreign`: what its open-set check was shown as none of the classes
            outside += f" and shown {self.foreign_training['recordings']} foreign ones"
        if "finetuned" in spec:
            head = spec.get("head", {}).get("kind", "")
            real = ""
            if spec["head"].get("real_views"):  # the fine-tuned network too (`train --model finetune --real-conditions`)
                real = (" (also on other recording conditions)" if spec["finetuned"].get("real_views")
                        else " (its head also on other recording conditions)")
            second = spec.get("second", {})
            fused = f"fused with {BACKBONE_TITLES.get(second['backbone'], second['backbone'])}" if second else "fused"
            fused += " and tag evidence" if spec.get("tag_evidence") else ""
            fused += ", classes weighed alike" if spec.get("class_prior") else ""
            return f"EfficientAT fine-tuned + {MODEL_TITLES.get(head, head)}, {fused}{real}{outside}"
        if self.family in BACKBONE_TITLES:
            real = ", also on other recording conditions" if self.trained_on_real_conditions else ""
            return f"{BACKBONE_TITLES[self.family]} + {MODEL_TITLES.get(name, name)}{real}{outside}"
        if self.family == "finetune":
            real = ", also on other recording conditions" if self.trained_on_real_conditions else ""
            return f"EfficientAT fine-tuned end to end{real}"
        return f"{MODEL_TITLES.get(name, name)} from scratch" if self.family == "scratch" else name

    @property
    def foreign_training(self) -> dict:
        """The foreign recordings a fused model's open-set check learned from (`fuse --learn-foreign`; run.json
        "foreign_training": source, splits, recordings, files), or {}."""
        return dict(self.info.get("foreign_training") or {})

    @property
    def extra_training(self) -> dict:
        """The recordings from outside the dataset the run also learned from (`train --extra-train`; run.json
        "extra_training": source, splits, recordings, windows, classes, files), or {}."""
        return dict(self.info.get("extra_training") or {})

    @property
    def real_views(self) -> list[str]:
        """The recording-conditions views its models also trained on (`train --real-conditions train`), or []."""
        return list(self.info.get("config", {}).get("real_views", []))

    @property
    def trained_on_real_conditions(self) -> bool:
        """Whether its models also trained on recording-conditions views of the clips (`train --real-conditions`)."""
        return bool(self.real_views)

    @property
    def title(self) -> str:
        """The run for people: its task and what its models are ("ESC-50 · heads on YAMNet")."""
        if self.is_fused():
            spec = self.model(self.default_model)
            what = "fused, augmented head" if spec.get("head", {}).get("real_views") else "fine-tuned + head, fused"
            if spec.get("second"):
                what = ("fused with YAMNet" + (" and tag evidence" if spec.get("tag_evidence") else "")
                        + (", also on outside recordings" if self.extra_training else ""))
        elif len(self.model_names) == 1:
            what = self.model_title()
        else:
            what = f"heads on {BACKBONE_TITLES.get(self.family, self.family)}"
        return f"{self.task_title} · {what}"

    def model(self, name: str) -> dict:
        """The run.json record of one trained model: files, cross-validated metrics, timings."""
        if name not in self.info["models"]:
            raise RunError(f"run {self.id} has no model {name!r}; it has {', '.join(self.model_names)}")
        return self.info["models"][name]

    def is_fused(self, name: str | None = None) -> bool:
        """Whether a model (default: the run's default) is a fused one: a fine-tuned network beside a head
        (`soundlab.models.fusion`)."""
        return "finetuned" in self.model(name or self.default_model)

    def model_path(self, name: str) -> Path:
        return self.path / self.model(name)["file"]

    def openset(self, name: str | None = None) -> OpenSetModel | None:
        """The open-set calibration of a model (default: the run's default model), from ``openset.json``; None if
        the run has none (or only one of an older version: `python -m soundlab calibrate` makes it)."""
        try:
            data = json.loads((self.path / OPENSET_FILE).read_text())
            models = data["models"]
            return OpenSetModel.from_json(models.get(name or self.default_model) or models[self.default_model])
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def labels_of(self, filenames) -> np.ndarray:
        """The labels of the run's clips named `filenames`, from its out-of-fold table (RunError if unreadable)."""
        oof = read_oof(self, self.default_model)
        return oof.set_index("filename").loc[list(filenames), "true"].to_numpy(dtype=np.int64)


# ---- reading ----------------------------------------------------------------------------------------------

def _upgrade(info: dict) -> dict:
    """Run folders written before the models were called models (0.1.0) said "heads" and "default_head"."""
    if "models" not in info and "heads" in info:
        info["models"] = info.pop("heads")
        if "default_head" in info:
            info["default_model"] = info.pop("default_head")
    return info


def load_run(path: Path) -> Run:
    """Read ``path/run.json`` and check it names what a run must have.

    Raises
    ------
    RunError
        No run.json (a folder being written or left half-written), invalid JSON, or missing fields.
    """
    path = Path(path)
    meta = path / "run.json"
    if not meta.is_file():
        raise RunError(f"{path.name}: no run.json in {path} (an incomplete or half-written run folder)")
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{path.name}: run.json is not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise RunError(f"{path.name}: run.json does not hold an object")
    info = _upgrade(info)
    missing = [k for k in REQUIRED if k not in info]
    if missing:
        raise RunError(f"{path.name}: run.json lacks {', '.join(missing)}")
    if not info["models"]:
        raise RunError(f"{path.name}: run.json lists no models")
    if len(info["classes"]) != len(info["class_names"]):
        raise RunError(f"{path.name}: run.json has {len(info['classes'])} classes but {len(info['class_names'])} names")
    return Run(path, info, _read_holds_up(path, list(info["models"])))


def list_runs(artifacts_dir: Path) -> tuple[list[Run], list[str]]:
    """Every usable run under ``artifacts_dir/runs`` (newest first), and a message per unusable run folder.

    Folders being staged by a training that is still running (``.tmp-*``) are not runs yet and are skipped.
    """
    root = Path(artifacts_dir) / RUNS_DIR
    runs, problems = [], []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return runs, problems
    for p in entries:
        if not p.is_dir() or p.name.startswith("."):
            continue
        try:
            runs.append(load_run(p))
        except RunError as e:
            problems.append(str(e))
    runs.sort(key=lambda r: r.info["created"], reverse=True)
    return runs, problems


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "set"


def external_file(run_path: Path, set_name: str, model: str) -> Path:
    return Path(run_path) / EXTERNAL_DIR / f"{_slug(set_name)}--{_slug(model)}.json"


def stored_summary(run_path: Path, model: str, set_name: str) -> dict | None:
    """The "summary" of a stored external evaluation; None when there is none or it cannot be read."""
    try:
        summary = json.loads(external_file(run_path, set_name, model).read_text())["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return summary if isinstance(summary, dict) else None


def _read_holds_up(path: Path, models: list[str]) -> dict[str, float]:
    """Balanced accuracies of the run's models on `HOLDS_UP_SET`, from their stored evaluations (unreadable: none)."""
    out = {}
    for name in models:
        value = (stored_summary(path, name, HOLDS_UP_SET) or {}).get("balanced_accuracy")
        if isinstance(value, int | float) and np.isfinite(value):
            out[name] = float(value)
    return out


def choose(candidates: list[tuple[Run, str]]) -> tuple[Run, str]:
    """The model that holds up: among (run, model) pairs within `CV_MARGIN` of the best cross-validated balanced
    accuracy, the best balanced accuracy on `HOLDS_UP_SET`; pairs without that evaluation come after those with it,
    then cross-validation decides."""
    best = max(r.balanced_accuracy(m) for r, m in candidates)
    near = [(r, m) for r, m in candidates if r.balanced_accuracy(m) >= best - CV_MARGIN - 1e-9]

    def key(pair: tuple[Run, str]) -> tuple:
        run, model = pair
        real = run.holds_up.get(model)
        return real is not None, real or 0.0, run.balanced_accuracy(model)

    return max(near, key=key)


def preferred(runs: list[Run], task: str | None = None) -> Run | None:
    """The run the app opens with: one Classify can serve, the most classes (ESC-50 over ESC-10), the official
    protocol, then among those the run whose default model `choose` picks (newest first on a tie)."""
    pool = [r for r in runs if task is None or r.task == task]
    if not pool:
        return None
    top = max((r.classifies_audio, len(r.classes), r.official) for r in pool)
    pool = sorted([r for r in pool if (r.classifies_audio, len(r.classes), r.official) == top],
                  key=lambda r: r.info["created"], reverse=True)
    return choose([(r, r.default_model) for r in pool])[0]


def best_first(runs: list[Run]) -> list[Run]:
    """Runs in the order people should meet them: the preferred task first (most classes, official protocol), then
    the best default model by cross-validated balanced accuracy."""
    return sorted(runs, key=lambda r: (-len(r.classes), not r.official, -round(r.balanced_accuracy(), 4), r.id))


def counterpart(runs: list[Run], run: Run, model: str) -> Run:
    """The run to compare a model with by default: its own run when that holds other models, else the preferred other
    run of the same task (a fused model's run holds one model; comparing it with itself says nothing)."""
    if any(k != model for k in run.model_names):
        return run
    return preferred([r for r in runs if r.task == run.task and r.id != run.id]) or run


def of_dataset(runs: list[Run], dataset_id: str) -> list[Run]:
    """The runs trained on the dataset `dataset_id` (the app lists only those of the dataset in use)."""
    return [r for r in runs if r.dataset_id == dataset_id]


def find(runs: list[Run], run_id: str) -> Run:
    for r in runs:
        if r.id == run_id:
            return r
    raise RunError(f"unknown run {run_id!r}; available: {', '.join(r.id for r in runs) or 'none'}")


def read_oof(run: Run, name: str) -> pd.DataFrame:
    """The out-of-fold predictions of one model, checked (columns, one probability per class, values)."""
    path = run.path / run.model(name)["oof"]
    if not path.is_file():
        raise RunError(f"{run.id}: the out-of-fold predictions of {name} ({path.name}) are missing")
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


def oof_probs(run: Run, oof: pd.DataFrame) -> np.ndarray:
    """(n, n_classes) probabilities of an out-of-fold table."""
    return oof[[f"p_{c}" for c in run.classes]].to_numpy(dtype=np.float64)


def read_embeddings(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(filenames, pooled embeddings (n, d) float32, mean AudioSet scores (n, n_tags) float32) of the run's clips."""
    path = run.path / "embeddings.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["filenames"], z["pooled"].astype(np.float32), z["audioset"].astype(np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{run.id}: embeddings.npz is missing or damaged ({e})") from None


def read_extra_embeddings(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(pooled (m, d), AudioSet scores (m, n_tags), labels (m,)) of the windows of the extra recordings the run also
    learned from (`train --extra-train`): the open-set check's reference includes them. None when the run has none."""
    path = run.path / EXTRA_EMBEDDINGS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["pooled"].astype(np.float32), z["audioset"].astype(np.float32), z["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{run.id}: {EXTRA_EMBEDDINGS_FILE} is damaged ({e})") from None


def read_outside_embeddings(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean embeddings of the genuine outside recordings, of the foreign ones) a fused model's open-set check learned
    its foreign score from (`fuse --learn-foreign`, `soundlab.openset.ForeignScore`); None when it learned none."""
    path = run.path / OUTSIDE_EMBEDDINGS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["genuine"].astype(np.float32), z["foreign"].astype(np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{run.id}: {OUTSIDE_EMBEDDINGS_FILE} is damaged ({e})") from None


def read_second_tags(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(filenames, AudioSet scores (n, n_tags), the extra training windows' scores or None) of a fused model's second
    backbone (YAMNet), for its open-set check; None when the run has none."""
    path = run.path / SECOND_TAGS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            extra = z["extra_audioset"].astype(np.float32) if "extra_audioset" in z.files else None
            return z["filenames"], z["audioset"].astype(np.float32), extra
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{run.id}: {SECOND_TAGS_FILE} is damaged ({e})") from None


def read_sound_embeddings(run: Run) -> tuple[np.ndarray, np.ndarray, str]:
    """(filenames, embeddings (n, d) float32, which) for comparing sounds: the mean over the frames that are not
    silence where the run stored it (runs of heads on a backbone), else the plain pooled embedding (a model's own
    features). `which` is "sound" or "pooled"."""
    path = run.path / "embeddings.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            which = "sound" if "sound" in z.files else "pooled"
            return z["filenames"], z[which].astype(np.float32), which
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{run.id}: embeddings.npz is missing or damaged ({e})") from None


# ---- writing ----------------------------------------------------------------------------------------------

def write_embeddings(path: Path, filenames, pooled: np.ndarray, audioset: np.ndarray, *,
                     sound: np.ndarray | None = None) -> None:
    """A run's embeddings.npz, written atomically (compressed: shipped runs are in git)."""
    arrays = {"filenames": np.asarray(filenames, dtype=str), "pooled": np.asarray(pooled).astype(np.float16),
              "audioset": np.asarray(audioset).astype(np.float16)}
    if sound is not None:
        arrays["sound"] = np.asarray(sound).astype(np.float16)
    save_npz_atomic(path, compressed=True, **arrays)


def run_id(protocol_name: str, n_clips: int, now: datetime, tag: str = "") -> str:
    return f"{protocol_name}-{n_clips}clips{'-' + tag if tag else ''}-{now.strftime('%Y%m%d-%H%M%S')}"


def oof_table(clips: pd.DataFrame, classes: list[str], probs: np.ndarray) -> pd.DataFrame:
    """The stored out-of-fold predictions: one row per clip (of a protocol's `clips`), one probability per class."""
    pred = probs.argmax(axis=1)
    table = pd.DataFrame({
        "filename": clips["filename"].to_numpy(),
        "fold": clips["fold"].to_numpy(),
        "src_file": clips["src_file"].to_numpy(),
        "true": clips["label"].to_numpy(),
        "true_class": clips["category"].to_numpy(),
        "pred": pred,
        "pred_class": np.asarray(classes)[pred],
        "confidence": probs.max(axis=1),
    })
    probs_df = pd.DataFrame(np.round(probs, 6), columns=[f"p_{c}" for c in classes])
    return pd.concat([table, probs_df], axis=1)


def base_info(rid: str, now: datetime, task: str, proto, dataset, *, seed: int, n_splits: int,
              failures: list[tuple[str, str]]) -> dict:
    """What every run.json says about where its numbers come from; the trainer adds its model's part."""
    by_target = dict(zip(dataset.meta["target"], dataset.meta["supercategory"].astype(str), strict=False))
    return {
        "id": rid,
        "created": now.isoformat(timespec="seconds"),
        "soundlab_version": __version__,
        "task": task,
        "protocol": {"name": proto.name, "description": proto.description, "seed": seed, "n_splits": n_splits,
                     **({"labels": proto.labels} if getattr(proto, "labels", None) else {})},
        "coverage": proto.coverage(dataset.meta),
        "dataset": {"id": dataset.desc.id, "key": dataset.desc.key, "title": dataset.title, "root": str(dataset.root),
                    "kind": dataset.kind},
        "classes": proto.classes,
        "categories": [str(by_target.get(t, dataset.title)) for t in proto.targets],
        "class_names": proto.class_names,
        "targets": proto.targets,
        "failures": [{"filename": f, "error": m} for f, m in failures],
    }


class RunWriter:
    """Stages a run in ``runs/.tmp-<id>/`` and publishes it with one rename.

    Use as a context manager: if anything fails (an error, a full disk, Ctrl-C) before :meth:`publish`, the
    staging folder is removed and no run appears.
    """

    def __init__(self, runs_dir: Path, rid: str):
        self.runs_dir = Path(runs_dir)
        self.id = rid
        self.folder = self.runs_dir / f"{STAGING_PREFIX}{rid}"
        if self.folder.exists():
            shutil.rmtree(self.folder)
        for sub in ("models", "oof", "history"):
            (self.folder / sub).mkdir(parents=True)
        self.published: Path | None = None

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.published is None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def model_file(self, name: str, suffix: str = ".keras") -> tuple[Path, str]:
        """(absolute staging path, path relative to the run) for a deployed model's file."""
        rel = f"models/{name}{suffix}"
        return self.folder / rel, rel

    def add_predictions(self, name: str, proto, probs: np.ndarray, histories: list[dict], final_history: dict) -> dict:
        """Write a model's out-of-fold predictions and history; return its record for run.json."""
        return self.add_oof(name, proto.clips, proto.classes, probs, {"folds": histories, "deployed": final_history})

    def add_oof(self, name: str, clips: pd.DataFrame, classes: list[str], probs: np.ndarray, history: dict) -> dict:
        """Write out-of-fold predictions (`clips`: filename, fold, src_file, label, category per row of `probs`) and
        a history record; return the model's record for run.json, with its cross-validated metrics."""
        table = oof_table(clips, classes, probs)
        write_text_atomic(self.folder / "oof" / f"{name}.csv", table.to_csv(index=False, float_format="%.6g"))
        write_json_atomic(self.folder / "history" / f"{name}.json", history, indent=None)
        cv = metrics.summary(clips["label"].to_numpy(), probs, clips["fold"].to_numpy())
        return {"oof": f"oof/{name}.csv", "history": f"history/{name}.json", "cv": cv}

    def add_real_conditions(self, name: str, proto, probs: np.ndarray) -> dict:
        """Out-of-fold predictions of the protocol's clips as other recordings (`soundlab.augment.TEST_VIEW`): the
        model's "ESC-50 under real conditions" record for run.json."""
        rel = f"oof/{name}.real-conditions.csv"
        table = oof_table(proto.clips, proto.classes, probs)
        write_text_atomic(self.folder / rel, table.to_csv(index=False, float_format="%.6g"))
        return {"oof": rel, "cv": metrics.summary(proto.clips["label"].to_numpy(), probs, proto.clips["fold"].to_numpy())}

    def add_embeddings(self, filenames, pooled: np.ndarray, audioset: np.ndarray, *,
                       sound: np.ndarray | None = None) -> None:
        """A pooled embedding (n, d) and mean AudioSet scores (n, n_tags; n_tags may be 0) of every clip; `sound`: the
        mean over the frames that are not silence (`backbone.sound_pooled`), for sound search and near-duplicates."""
        write_embeddings(self.folder / "embeddings.npz", filenames, pooled, audioset, sound=sound)

    def add_extra_embeddings(self, pooled: np.ndarray, audioset: np.ndarray, labels: np.ndarray) -> None:
        """Pooled embeddings, AudioSet scores and labels of the extra training windows (`read_extra_embeddings`)."""
        save_npz_atomic(self.folder / EXTRA_EMBEDDINGS_FILE, compressed=True,
                        pooled=np.asarray(pooled).astype(np.float16), audioset=np.asarray(audioset).astype(np.float16),
                        labels=np.asarray(labels, np.int64))

    def add_second_tags(self, filenames, audioset: np.ndarray, extra_audioset: np.ndarray | None) -> None:
        """A fused model's second backbone's AudioSet scores of every clip and extra window (`read_second_tags`)."""
        arrays = {"filenames": np.asarray(filenames, dtype=str), "audioset": np.asarray(audioset).astype(np.float16)}
        if extra_audioset is not None:
            arrays["extra_audioset"] = np.asarray(extra_audioset).astype(np.float16)
        save_npz_atomic(self.folder / SECOND_TAGS_FILE, compressed=True, **arrays)

    def add_outside_embeddings(self, genuine: np.ndarray, foreign: np.ndarray) -> None:
        """The outside recordings' mean embeddings a fused model's foreign score learns from (`read_outside_embeddings`)."""
        save_npz_atomic(self.folder / OUTSIDE_EMBEDDINGS_FILE, compressed=True,
                        genuine=np.asarray(genuine, np.float32), foreign=np.asarray(foreign, np.float32))

    def add_openset(self, calibrations: dict) -> None:
        """The open-set calibration of each model: {model name: OpenSetModel.to_json()}."""
        write_json_atomic(self.folder / OPENSET_FILE, {"version": 2, "models": calibrations}, indent=None)

    def publish(self, info: dict) -> Path:
        """Write run.json and move the staged folder into place (readers never see half a run)."""
        if info.get("id") != self.id:
            raise RunError(f"run.json names run {info.get('id')!r}, the folder is for {self.id!r}")
        write_json_atomic(self.folder / "run.json", info)
        final = self.runs_dir / self.id
        if final.exists():
            shutil.rmtree(final)
        os.replace(self.folder, final)
        self.published = final
        return final


def write_openset(run: Run, calibrations: dict) -> Path:
    """Replace a published run's open-set calibration (atomic: readers see the old file or the new one)."""
    path = run.path / OPENSET_FILE
    write_json_atomic(path, {"version": 2, "models": calibrations}, indent=None)
    return path

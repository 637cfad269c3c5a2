"""What may be wrong with the data, not the model: label issues, near-duplicates, outliers, under-performing groups.

cleanlab's `Datalab` does the finding, on a run's stored out-of-fold probabilities and the backbone embeddings of
its clips (nothing is recomputed from audio). SoundLab adds what ESC-50 needs:

* near-duplicates are expected among the takes of one source recording (they share a fold); a near-duplicate pair
  *across folds* is a leak (a test clip with a copy in training) and is listed first;
* a label issue that the runs of both backbones find ranks above one that only one finds;
* every row carries its fold and source recording.

Results are cached per run on disk (``SOUNDLAB_CACHE_DIR/issues/``), keyed by the stamps of the files they come
from, so a rerun is a file read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab import runs
from soundlab.errors import RunError
from soundlab.storage import file_stamp, write_text_atomic

KINDS = ("label", "near_duplicate", "outlier", "underperforming_group")
KIND_NAMES = {"label": "label issues", "near_duplicate": "near-duplicates", "outlier": "outliers",
              "underperforming_group": "under-performing groups"}
VERSION = 1


@dataclass
class DataIssues:
    """The issues of one run's clips; every table is ranked, most serious first."""

    run_id: str
    model: str
    labels: pd.DataFrame  # filename, fold, src_file, given, suggested, score, found_by, rank
    duplicates: pd.DataFrame  # a, b, distance, fold_a, fold_b, src_a, src_b, same_source, cross_fold, rank
    outliers: pd.DataFrame  # filename, fold, src_file, label, score, rank
    groups: pd.DataFrame  # group, clips, accuracy, overall_accuracy, classes, score, rank
    other_runs: list[str] = field(default_factory=list)  # runs of the other backbone whose label issues were compared

    def counts(self) -> dict[str, int]:
        return {"label": len(self.labels), "near_duplicate": len(self.duplicates), "outlier": len(self.outliers),
                "underperforming_group": len(self.groups)}

    def table(self, kind: str) -> pd.DataFrame:
        return {"label": self.labels, "near_duplicate": self.duplicates, "outlier": self.outliers,
                "underperforming_group": self.groups}[kind]


def other_runs(all_runs: list[runs.Run], run: runs.Run) -> list[runs.Run]:
    """The runs a run's label issues are compared with: for each other backbone, its preferred run of the same task
    (a label issue both backbones find ranks first)."""
    out = []
    for key in sorted({r.backbone_key for r in all_runs if r.classifies_audio} - {run.backbone_key}):
        other = runs.preferred([r for r in all_runs if r.backbone_key == key and r.task == run.task])
        if other is not None:
            out.append(other)
    return out


def with_backbone_names(table: pd.DataFrame, run: runs.Run, others: list[runs.Run]) -> pd.DataFrame:
    """A label-issue table whose `found_by` names backbones ("EfficientAT, YAMNet") instead of run ids."""
    if "found_by" not in table:
        return table
    names = {o.id: runs.BACKBONE_TITLES.get(o.backbone_key, o.backbone_key) for o in others}
    names["this run"] = runs.BACKBONE_TITLES.get(run.backbone_key, run.backbone_key)
    return table.assign(found_by=[", ".join(names.get(x, x) for x in f.split(", ")) for f in table["found_by"]])


@dataclass(frozen=True)
class ClipData:
    """What the issues are found on: per clip its name, embedding, out-of-fold probabilities, label, fold, source."""

    names: np.ndarray
    pooled: np.ndarray
    probs: np.ndarray
    labels: np.ndarray
    folds: np.ndarray
    sources: np.ndarray


def _run_data(run: runs.Run, model: str) -> ClipData:
    names, pooled, _ = runs.read_sound_embeddings(run)
    oof = runs.read_oof(run, model).set_index("filename")
    missing = [n for n in names if n not in oof.index]
    if missing:
        raise RunError(f"{run.id}: embeddings.npz lists {len(missing)} clips that {model}'s predictions lack")
    oof = oof.loc[list(names)]
    return ClipData(np.asarray(names).astype(str), pooled, runs.oof_probs(run, oof.reset_index()),
                    oof["true"].to_numpy(np.int64), oof["fold"].to_numpy(), oof["src_file"].astype(str).to_numpy())


def _datalab(d: ClipData, *, near_duplicate_threshold: float = 0.13):
    """cleanlab's Datalab on one run's data (features: unit-length pooled embeddings)."""
    from cleanlab import Datalab

    feats = d.pooled / np.maximum(np.linalg.norm(d.pooled, axis=1, keepdims=True), 1e-12)
    lab = Datalab(data=pd.DataFrame({"label": d.labels}), label_name="label", verbosity=0)
    lab.find_issues(features=feats.astype(np.float32), pred_probs=d.probs,
                    # n_jobs=1: cleanlab's default forks a process pool, which deadlocks when forked from a threaded
                    # server (Streamlit runs pages in threads); one process takes well under a second for 2,000 clips
                    issue_types={"label": {"clean_learning_kwargs": {"find_label_issues_kwargs": {"n_jobs": 1}}},
                                 "outlier": {}, "underperforming_group": {},
                                 "near_duplicate": {"threshold": near_duplicate_threshold}})
    return lab


def _label_issues(lab, d: ClipData, class_names: list[str], others: list[tuple[str, set[str]]]) -> pd.DataFrame:
    li = lab.get_issues("label")
    rows = li[li["is_label_issue"]]
    table = pd.DataFrame({
        "filename": d.names[rows.index], "fold": d.folds[rows.index], "src_file": d.sources[rows.index],
        "given": [class_names[i] for i in rows["given_label"]],
        "suggested": [class_names[i] for i in rows["predicted_label"]],
        "score": rows["label_score"].to_numpy(),  # cleanlab's label quality: low = likely mislabelled
    })
    found = [", ".join(["this run"] + [rid for rid, flagged in others if f in flagged]) for f in table["filename"]]
    table["found_by"] = found
    table["both_backbones"] = [len(f.split(", ")) > 1 for f in found]
    table = table.sort_values(["both_backbones", "score"], ascending=[False, True], ignore_index=True)
    return table.assign(rank=np.arange(1, len(table) + 1))


def _duplicates(lab, d: ClipData) -> pd.DataFrame:
    info = lab.get_info("near_duplicate")
    sets = info["near_duplicate_sets"]
    feats = d.pooled / np.maximum(np.linalg.norm(d.pooled, axis=1, keepdims=True), 1e-12)
    pairs = {tuple(sorted((int(i), int(j)))) for i, js in enumerate(sets) for j in js}
    rows = []
    for i, j in pairs:
        rows.append({"a": d.names[i], "b": d.names[j], "distance": max(0.0, float(1 - feats[i] @ feats[j])),
                     "fold_a": int(d.folds[i]), "fold_b": int(d.folds[j]), "src_a": d.sources[i], "src_b": d.sources[j],
                     "same_source": d.sources[i] == d.sources[j], "cross_fold": d.folds[i] != d.folds[j]})
    table = pd.DataFrame(rows, columns=["a", "b", "distance", "fold_a", "fold_b", "src_a", "src_b", "same_source",
                                        "cross_fold"])
    # a pair across folds is a leak: first; then pairs of different recordings (unexpected); closest first
    table = table.sort_values(["cross_fold", "same_source", "distance"], ascending=[False, True, True],
                              ignore_index=True)
    return table.assign(rank=np.arange(1, len(table) + 1))


def _outliers(lab, d: ClipData, class_names: list[str]) -> pd.DataFrame:
    o = lab.get_issues("outlier")
    rows = o[o["is_outlier_issue"]].sort_values("outlier_score")
    table = pd.DataFrame({"filename": d.names[rows.index], "fold": d.folds[rows.index],
                          "src_file": d.sources[rows.index], "label": [class_names[d.labels[i]] for i in rows.index],
                          "score": rows["outlier_score"].to_numpy()})  # low = unlike the rest
    return table.assign(rank=np.arange(1, len(table) + 1))


def _groups(lab, d: ClipData, class_names: list[str]) -> pd.DataFrame:
    """cleanlab's under-performing clusters of the embedding space, described by the classes they hold."""
    g = lab.get_issues("underperforming_group")
    info = lab.get_info("underperforming_group") or {}
    clusters = info.get("clustering", {}).get("labels")
    overall = float(np.mean(d.probs.argmax(1) == d.labels))
    rows = []
    if clusters is not None:
        clusters = np.asarray(clusters)
        for c in np.unique(clusters[g["is_underperforming_group_issue"].to_numpy()]):
            members = np.flatnonzero(clusters == c)
            if len(members) == 0 or c < 0:
                continue
            counts = pd.Series([class_names[d.labels[i]] for i in members]).value_counts()
            rows.append({"group": f"cluster {int(c)}", "clips": len(members),
                         "accuracy": float(np.mean(d.probs[members].argmax(1) == d.labels[members])),
                         "overall_accuracy": overall,
                         "classes": ", ".join(f"{k} ({v})" for k, v in counts.head(4).items()),
                         "score": float(g["underperforming_group_score"].iloc[members].mean())})
    table = pd.DataFrame(rows, columns=["group", "clips", "accuracy", "overall_accuracy", "classes", "score"])
    table = table.sort_values("score", ignore_index=True)
    return table.assign(rank=np.arange(1, len(table) + 1))


def _cache_key(run: runs.Run, model: str, others: list[runs.Run]) -> str:
    parts = [VERSION, run.id, model, file_stamp(run.path / run.model(model)["oof"]),
             file_stamp(run.path / "embeddings.npz")]
    parts += [(o.id, file_stamp(o.path / o.model(o.default_model)["oof"])) for o in others]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def find(run: runs.Run, model: str | None = None, *, others: list[runs.Run] = (),
         cache_dir: Path | None = None) -> DataIssues:
    """The data issues of a run's clips. `others`: runs on the other backbone with the same clips, whose label issues
    are compared (an issue both find ranks first). Cached in `cache_dir` if given.

    Raises
    ------
    RunError
        The run's stored predictions or embeddings are missing or damaged.
    """
    model = model or run.default_model
    others = [o for o in others if o.task == run.task and o.id != run.id]
    path = Path(cache_dir) / "issues" / f"{run.id}-{_cache_key(run, model, others)}.json" if cache_dir else None
    if path is not None and path.is_file():
        try:
            return _from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is recomputed
    d = _run_data(run, model)
    compared = []
    for o in others:
        od = _run_data(o, o.default_model)
        if set(od.names) == set(d.names):
            compared.append((o.id, od))
    out = analyse(d, run.class_names, compared, run_id=run.id, model=model)
    if path is not None:
        write_text_atomic(path, json.dumps(_to_json(out)))
    return out


def analyse(d: ClipData, class_names: list[str], others: list[tuple[str, ClipData]] = (), *, run_id: str = "",
            model: str = "") -> DataIssues:
    """The issues of `d`'s clips; `others`: (name, data) of other models on the same clips whose label issues are
    compared (an issue they also find ranks first)."""
    lab = _datalab(d)
    flagged = []
    for name, od in others:
        oli = _datalab(od).get_issues("label")
        flagged.append((name, set(od.names[oli.index[oli["is_label_issue"]]])))
    return DataIssues(run_id, model, _label_issues(lab, d, class_names, flagged), _duplicates(lab, d),
                      _outliers(lab, d, class_names), _groups(lab, d, class_names),
                      other_runs=[name for name, _ in flagged])


def _to_json(d: DataIssues) -> dict:
    return {"run_id": d.run_id, "model": d.model, "other_runs": d.other_runs,
            **{k: json.loads(d.table(k).to_json(orient="split", index=False)) for k in KINDS}}


def _from_json(data: dict) -> DataIssues:
    def frame(k):
        t = data[k]
        return pd.DataFrame(t["data"], columns=t["columns"])

    return DataIssues(data["run_id"], data["model"], frame("label"), frame("near_duplicate"), frame("outlier"),
                      frame("underperforming_group"), other_runs=list(data["other_runs"]))

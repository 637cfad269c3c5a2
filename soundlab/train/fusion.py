"""Fusing two runs into a run of one fused model: the fine-tuned network and a head on the frozen backbone
(`soundlab.models.fusion` says how they are combined and why).

Nothing is trained here but the tag evidence (class means of the stored tags, fitted fold by fold, when asked for).
The members' out-of-fold predictions are combined clip by clip, which is honest only when
both members held out the same clips in the same folds: `fuse` checks the task, the classes, the dataset and every
clip's fold, and refuses otherwise. The new run is self-contained (it copies both members' deployed files and the
head run's embeddings), so deleting a member's run later does not break it; run.json names both members.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from soundlab import openset, runs
from soundlab.errors import RunError
from soundlab.models import fusion, tag_evidence
from soundlab.runs import Run

TUNED_FAMILY = "finetune"
BACKBONE = "efficientat"  # the backbone the fine-tuned network was tuned from


def _sha_part(fingerprint: str) -> str:
    return fingerprint.rsplit("-", 1)[-1]


def check_members(tuned: Run, head_run: Run, head: str) -> None:
    """Refuse two runs whose out-of-fold predictions cannot be combined (RunError naming the difference)."""
    if tuned.family != TUNED_FAMILY:
        raise RunError(f"{tuned.id} is not a fine-tuned run (family {tuned.family!r}); make one with "
                       "`python -m soundlab train --model finetune`")
    if head_run.backbone_key != BACKBONE:
        raise RunError(f"{head_run.id} is not a run of heads on EfficientAT (family {head_run.family!r}); make one with "
                       "`python -m soundlab train --backbone efficientat`")
    if head_run.is_fused(head):
        raise RunError(f"{head} of {head_run.id} is already a fused model")
    if _sha_part(tuned.fingerprint) != _sha_part(head_run.fingerprint):
        raise RunError(f"{tuned.id} was fine-tuned from other EfficientAT weights ({tuned.fingerprint}) than "
                       f"{head_run.id} was trained on ({head_run.fingerprint})")
    for what, a, b in (("task", tuned.task, head_run.task), ("dataset", tuned.dataset_id, head_run.dataset_id),
                       ("classes", tuned.classes, head_run.classes),
                       ("protocol", tuned.protocol.get("description"), head_run.protocol.get("description"))):
        if a != b:
            raise RunError(f"{tuned.id} and {head_run.id} differ in their {what}; fuse runs of one task and protocol")


def _aligned(table: pd.DataFrame, head_run: Run, other: Run, model: str) -> np.ndarray:
    """The out-of-fold probabilities of `model` of `other` in the row order of `table` (the head's out-of-fold
    table), after checking both hold the same clips, in the same folds, with the same labels (RunError otherwise)."""
    b = runs.read_oof(other, model).set_index("filename")
    missing = sorted(set(table["filename"]) ^ set(b.index))
    if missing:
        raise RunError(f"{other.id} and {head_run.id} hold different clips ({len(missing)} differ, e.g. {missing[0]}); "
                       "train both on the same clips")
    b = b.loc[table["filename"]]
    moved = np.flatnonzero(table["fold"].to_numpy() != b["fold"].to_numpy())
    if len(moved):
        raise RunError(f"{other.id} and {head_run.id} put {len(moved)} clips in different folds (e.g. "
                       f"{table['filename'].iloc[moved[0]]}); their out-of-fold predictions cannot be combined")
    if not (table["true"].to_numpy() == b["true"].to_numpy()).all():
        raise RunError(f"{other.id} and {head_run.id} disagree on some clips' labels (one used corrected labels?)")
    return runs.oof_probs(other, b.reset_index())


def aligned_oof(tuned: Run, head_run: Run, head: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(the head's out-of-fold table, the head's and the tuned network's probabilities in its row order), after
    checking that both hold the same clips in the same folds."""
    a = runs.read_oof(head_run, head)
    return a, runs.oof_probs(head_run, a), _aligned(a, head_run, tuned, tuned.default_model)


def check_second(head_run: Run, second: Run, head: str, table: pd.DataFrame) -> np.ndarray:
    """The out-of-fold probabilities of `head` of `second` (heads on another backbone) in the row order of `table`,
    after checking it holds the same clips, folds and labels (RunError otherwise)."""
    if second.backbone_key in (None, BACKBONE) or second.is_fused(head):
        raise RunError(f"{second.id} is not a run of heads on another backbone than EfficientAT (family "
                       f"{second.family!r}); make one with `python -m soundlab train --backbone yamnet`")
    for what, a, b in (("task", second.task, head_run.task), ("dataset", second.dataset_id, head_run.dataset_id),
                       ("classes", second.classes, head_run.classes)):
        if a != b:
            raise RunError(f"{second.id} and {head_run.id} differ in their {what}; fuse runs of one task")
    return _aligned(table, head_run, second, head)


def clip_tags(run: Run, filenames) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """A run's stored AudioSet tags of `filenames`, in that order, and its extra training windows' (tags, labels), or
    None when it has none."""
    names, _, tags = runs.read_embeddings(run)
    order = {f: i for i, f in enumerate(names)}
    extra = runs.read_extra_embeddings(run)
    return tags[[order[f] for f in filenames]], None if extra is None else (extra[1], extra[2])


def tag_evidence_members(table: pd.DataFrame, tagged: dict[str, tuple], n_classes: int
                         ) -> tuple[dict[str, tag_evidence.TagPrototypes], list[np.ndarray]]:
    """Tag evidence from each backbone's tags (`tagged`: backbone -> `clip_tags` of the table's clips;
    `soundlab.models.tag_evidence`): the deployed prototypes (every clip and extra training window) by backbone, and
    the out-of-fold probabilities in the row order of `table`."""
    labels, folds = table["true"].to_numpy(), table["fold"].to_numpy()
    protos, oof = {}, []
    for key, (tags, more) in tagged.items():
        oof.append(tag_evidence.out_of_fold(tags, labels, folds, n_classes, more))
        every = (tags, labels) if more is None else (np.concatenate([tags, more[0]]), np.concatenate([labels, more[1]]))
        protos[key] = tag_evidence.fit(*every, n_classes)
    return protos, oof


def fuse(tuned: Run, head_run: Run, head: str | None, runs_dir: Path, *, tag_names: list[str],
         now: datetime | None = None, log=print, second: tuple[Run, str] | None = None,
         with_tags: bool = False, balance: bool = False, learn_foreign: bool = False) -> Path:
    """Write a run whose one model, ``fusion``, is the geometric mean of the fine-tuned network of `tuned` and the
    head `head` (default: the head run's default model) of `head_run`, of a head on a second backbone
    (`second`: (run, head)) if given, and with `with_tags` of each backbone's tag evidence
    (`soundlab.models.tag_evidence`); with `balance` the training clips' class frequencies are divided out
    (`soundlab.models.fusion.geometric_mean`; out of fold, those of the other folds); with `learn_foreign` the
    open-set check also learns a foreign score from the `foreign` rows of the heads' extra training CSV
    (`soundlab.openset.ForeignScore`, `outside` below). Returns the published run folder.

    Raises
    ------
    RunError
        Runs that cannot be fused (another family, task, class list, dataset, clip set or fold of any clip).
    """
    t0 = time.monotonic()
    head = head or head_run.default_model
    check_members(tuned, head_run, head)
    table, p_head, p_tuned = aligned_oof(tuned, head_run, head)
    p_second = [check_second(head_run, second[0], second[1], table)] if second else []
    extra = [r.info.get("extra_training") for r in (head_run, *([second[0]] if second else []))]
    if any(e != extra[0] for e in extra):
        raise RunError("the heads to fuse were trained on different extra recordings (train --extra-train); "
                       "train them on the same ones")
    tuned_extra = tuned.info.get("extra_training")
    if tuned_extra and tuned_extra.get("files") != (extra[0] or {}).get("files"):
        raise RunError("the fine-tuned run was trained on other extra recordings than the heads (train "
                       "--extra-train); train them on the same ones")
    if learn_foreign and not extra[0]:
        raise RunError("--learn-foreign learns from the foreign rows of the heads' extra training CSV; train the heads "
                       "with --extra-train on a CSV that has some")
    n_classes = len(head_run.classes)
    outside, foreign_files = _outside(head_run, extra[0], log) if learn_foreign else (None, [])
    labels, folds = table["true"].to_numpy(), table["fold"].to_numpy()
    tagger_runs = [head_run] + ([second[0]] if second else [])
    tagged = {r.backbone_key: clip_tags(r, table["filename"]) for r in tagger_runs} if with_tags or second else {}
    protos, p_tags = tag_evidence_members(table, tagged, n_classes) if with_tags else ({}, [])
    members_p = [p_head, p_tuned, *p_second, *p_tags]
    prior = fusion.class_prior(labels, n_classes) if balance else None
    if balance:  # each fold's clips divided by the prior of the folds its members learned from
        probs = np.empty_like(p_head, dtype=np.float32)
        for k in np.unique(folds):
            rows = folds == k
            probs[rows] = fusion.geometric_mean(*(p[rows] for p in members_p),
                                                prior=fusion.class_prior(labels[~rows], n_classes))
    else:
        probs = fusion.geometric_mean(*members_p)
    member_ids = [f"{tuned.id}/{tuned.default_model}", f"{head_run.id}/{head}"] + (
        [f"{second[0].id}/{second[1]}"] if second else []) + [f"{r.id}/tag-evidence" for r in tagger_runs if protos]
    now = now or datetime.now(UTC)
    n = len(table)
    rid = runs.run_id(head_run.protocol["name"], n, now, tag=fusion.KIND)
    head_spec, tuned_spec = head_run.model(head), tuned.model(tuned.default_model)
    clips = pd.DataFrame({"filename": table["filename"], "fold": table["fold"], "src_file": table["src_file"],
                          "label": table["true"], "category": table["true_class"]})
    with runs.RunWriter(runs_dir, rid) as writer:
        head_file, head_rel = writer.model_file(head, suffix=Path(head_spec["file"]).suffix)
        tuned_file, tuned_rel = writer.model_file(tuned.default_model, suffix=Path(tuned_spec["file"]).suffix)
        shutil.copyfile(head_run.model_path(head), head_file)
        shutil.copyfile(tuned.model_path(tuned.default_model), tuned_file)
        record = writer.add_oof(fusion.KIND, clips, head_run.classes, probs, {"members": member_ids})
        shutil.copyfile(head_run.path / "embeddings.npz", writer.folder / "embeddings.npz")
        extra_ref = runs.read_extra_embeddings(head_run)
        if extra_ref is not None:
            shutil.copyfile(head_run.path / runs.EXTRA_EMBEDDINGS_FILE, writer.folder / runs.EXTRA_EMBEDDINGS_FILE)
        names, pooled, tags = runs.read_embeddings(head_run)
        order = {f: i for i, f in enumerate(names)}
        rows = [order[f] for f in table["filename"]]
        log(f"calibrating the open-set check of the fused model on {n} clips ...")
        tagger2 = None
        if second:  # the second backbone's tags count in the open-set check too (soundlab.openset.signals)
            from soundlab.config import get_settings
            from soundlab.models.backbone import tag_names_of

            key2 = second[0].backbone_key
            clip_tags2, extra2 = tagged[key2]
            extra_tags2 = None if extra2 is None else extra2[0]
            writer.add_second_tags(table["filename"], clip_tags2, extra_tags2)
            tagger2 = (runs.BACKBONE_TITLES.get(key2, key2), clip_tags2, extra_tags2, tag_names_of(key2, get_settings()))
        if outside is not None:
            writer.add_outside_embeddings(*outside)
        writer.add_openset(openset.calibrate_models({fusion.KIND: probs}, pooled=pooled[rows], tags=tags[rows],
                                                    labels=labels, folds=folds, n_classes=n_classes,
                                                    tag_names=tag_names, extra=extra_ref, second=tagger2,
                                                    outside=outside))
        info = {key: head_run.info[key] for key in ("task", "protocol", "coverage", "dataset", "classes", "categories",
                                                     "class_names", "targets") if key in head_run.info}
        members = {"finetuned": {"file": tuned_rel, "run": tuned.id, "model": tuned.default_model,
                                 "cv": tuned_spec["cv"],
                                 "real_views": tuned.real_views},
                   "head": {"kind": head, "run": head_run.id, "cv": head_spec["cv"], "real_views": head_run.real_views}}
        if second:
            other, other_head = second
            other_file, other_rel = writer.model_file(f"{other.backbone_key}-{other_head}",
                                                      suffix=Path(other.model(other_head)["file"]).suffix)
            shutil.copyfile(other.model_path(other_head), other_file)
            members["second"] = {"backbone": other.backbone_key, "kind": other_head, "file": other_rel,
                                 "run": other.id, "fingerprint": other.fingerprint, "cv": other.model(other_head)["cv"]}
        if protos:
            evidence_file, evidence_rel = writer.model_file("tag-evidence", suffix=".npz")
            tag_evidence.save(evidence_file, protos)
            members["tag_evidence"] = {"file": evidence_rel, "taggers": list(protos), "tau": tag_evidence.TAU}
        if prior is not None:
            members["class_prior"] = [round(float(v), 8) for v in prior]
        info.update({
            "id": rid, "created": now.isoformat(timespec="seconds"), "soundlab_version": head_run.info.get(
                "soundlab_version"), "failures": head_run.info.get("failures", []) + tuned.info.get("failures", []),
            "family": head_run.family, "backbone": head_run.info["backbone"],
            "config": {"combine": "geometric mean of the members' probabilities, renormalised" + (
                           ", divided by the training clips' class frequencies" if balance else ""),
                       "members": member_ids},
            # what the fused model cost: both members' training (fusing itself takes seconds)
            "cv_seconds": round(tuned.info.get("cv_seconds", 0) + head_run.info.get("cv_seconds", 0), 1),
            "wall_seconds": round(tuned.info.get("wall_seconds", 0) + head_run.info.get("wall_seconds", 0), 1),
            "fuse_seconds": round(time.monotonic() - t0, 1),
            "models": {fusion.KIND: {
                "file": head_rel, **members, "label": f"EfficientAT mn04 fine-tuned × {head} (fusion)",
                "tta_views": head_spec.get("tta_views", ["orig"]),
                "params": int((tuned_spec.get("params") or 0) + (head_spec.get("params") or 0)), **record}},
            "default_model": fusion.KIND,
        })
        if extra[0]:  # the heads' extra training recordings (train --extra-train): the fused model learned from them
            info["extra_training"] = extra[0]
        if foreign_files:  # and what its open-set check was shown as none of the classes
            info["foreign_training"] = {"source": extra[0]["source"], "splits": extra[0].get("splits", []),
                                        "recordings": len(foreign_files), "files": foreign_files}
        path = writer.publish(info)
    cv = info["models"][fusion.KIND]["cv"]
    log(f"{rid}: accuracy {cv['accuracy']:.1%}, balanced {cv['balanced_accuracy']:.1%} "
        f"(fine-tuned {tuned_spec['cv']['accuracy']:.1%}, {head} {head_spec['cv']['accuracy']:.1%}"
        + (f", {second[0].backbone_key} {second[1]} {second[0].model(second[1])['cv']['accuracy']:.1%}" if second else "")
        + ")")
    return path


def _outside(head_run: Run, extra_training: dict, log) -> tuple[tuple[np.ndarray, np.ndarray], list[dict]]:
    """The mean embeddings (as Classify pools them) of the heads' genuine extra recordings and of the foreign rows of
    the same CSV and splits, and the foreign files ({"file", "sha256"}) for the run's record."""
    from soundlab.classify import pooled_audio
    from soundlab.config import get_settings
    from soundlab.models.backbone import load_backbone
    from soundlab.train.extra import outside_recordings

    genuine, foreign = outside_recordings(extra_training, head_run.classes, head_run.class_names)
    log(f"learning the foreign score from {len(genuine)} genuine and {len(foreign)} foreign outside recordings ...")
    backbone = load_backbone(head_run.backbone_key, get_settings())
    return ((np.stack([pooled_audio(backbone, p) for p in genuine]),
             np.stack([pooled_audio(backbone, f["path"]) for f in foreign])),
            [{"file": f["file"], "sha256": f["sha256"]} for f in foreign])


def pick_members(all_runs: list[Run], task: str) -> tuple[Run, Run]:
    """The newest fine-tuned run of a task and the newest run of heads on EfficientAT with the same dataset and
    protocol (RunError if there is no such pair). `all_runs` is newest first, as `runs.list_runs` gives it."""
    pool = [r for r in all_runs if r.task == task]
    tuned = [r for r in pool if r.family == TUNED_FAMILY]
    heads = [r for r in pool if r.backbone_key == BACKBONE and not r.is_fused()]
    for t in tuned:
        for h in heads:
            if (t.dataset_id, t.protocol.get("description")) == (h.dataset_id, h.protocol.get("description")):
                return t, h
    raise RunError(f"no fine-tuned run and run of heads on EfficientAT of task {task} on the same clips; train them "
                   "with `python -m soundlab train --model finetune` and `python -m soundlab train --backbone "
                   "efficientat`")

"""A model's stored out-of-fold predictions and what the Metrics page shows of them (no model needed).

Everything here is recomputed on every call from the CSV files in the run folders, so no number on
the page is a stored claim; the page only arranges these tables and figures. Rows that do not fit (a clip
not in the ESC-50 metadata, a label outside the run's classes) are left out and reported in
`Predictions.problems`.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from soundlab import metrics
from soundlab.errors import RunError
from soundlab.runs import Run, oof_probs, read_oof, read_sound_embeddings

# Published reference points, each with the protocol it was measured on. A figure is comparable with a run only
# when the run's protocol is that protocol: the official folds on every clip of the task ("<task>-official").
REFERENCES = [
    {"what": "Human listeners", "task": "esc50", "accuracy": 0.813, "protocol_key": "esc50-official",
     "protocol": "ESC-50 paper (Piczak 2015): people labelling all 2000 clips"},
    {"what": "Human listeners", "task": "esc10", "accuracy": 0.957, "protocol_key": "esc10-official",
     "protocol": "ESC-50 paper (Piczak 2015): people labelling the 400 ESC-10 clips"},
    {"what": "YAMNet embeddings + MLP (HEAR benchmark)", "task": "esc50", "accuracy": 0.8375,
     "protocol_key": "esc50-official", "protocol": "HEAR 2021, official 5 folds, all 2000 clips"},
    {"what": "The seeds' published model", "task": "esc50", "accuracy": 0.913, "protocol_key": "random-split",
     "protocol": "a random split of clips: takes of one recording land on both sides, so test clips have "
                 "near-duplicates in training"},
]
ESC10_TARGETS = (0, 1, 10, 11, 12, 20, 21, 38, 40, 41)  # the ten ESC-10 classes among ESC-50's targets
IMBALANCE_RATIO = 1.5  # largest / smallest class above this: the page says the classes are imbalanced


@dataclass
class Predictions:
    run: Run
    model: str  # the run's model these are the predictions of
    table: pd.DataFrame  # one row per clip, see load_predictions
    probs: np.ndarray  # (n, n_classes)
    problems: list[str] = field(default_factory=list)
    # what `memoized` functions derived from these predictions: the app shares one Predictions between sessions
    # (components/loaders.py), so a page view reads a table computed once (bench/RESULTS.md). Read-only.
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_classes(self) -> int:
        return self.probs.shape[1]

    def summary(self) -> dict:
        return _remember(self, ("summary",), lambda: metrics.summary(self.table["true"].to_numpy(), self.probs,
                                                                     self.table["fold"].to_numpy()))


_MEMO_LOCK = threading.Lock()


def _remember(p: Predictions, key: tuple, compute):
    """`compute()` once per Predictions and key (two sessions asking at once may both compute; one result stays)."""
    try:
        return p.memo[key]
    except KeyError:
        pass
    value = compute()
    with _MEMO_LOCK:
        return p.memo.setdefault(key, value)


def memoized(fn):
    """Remember what `fn(p, *args)` derives from a Predictions (hashable args only); callers must not change it."""

    @functools.wraps(fn)
    def wrapper(p: Predictions, *args):
        return _remember(p, (fn.__name__, *args), lambda: fn(p, *args))

    return wrapper


def load_predictions(run: Run, model: str, meta: pd.DataFrame | None = None) -> Predictions:
    """A model's out-of-fold predictions joined with the dataset metadata (presence, paths).

    Raises RunError if the file is missing or malformed (see `soundlab.runs.read_oof`).
    """
    oof = read_oof(run, model)
    problems = []
    table = oof[["filename", "fold", "true", "pred", "confidence"]
                + (["src_file"] if "src_file" in oof.columns else [])].copy()
    table["true"] = table["true"].astype(int)
    table["pred"] = table["pred"].astype(int)
    if not table["pred"].between(0, len(run.classes) - 1).all():
        raise RunError(f"{run.id}: predicted labels outside the run's {len(run.classes)} classes in {model}")
    names = np.asarray(run.class_names, dtype=object)
    table["true_name"] = names[table["true"].to_numpy()]
    table["pred_name"] = names[table["pred"].to_numpy()]
    table["correct"] = table["true"] == table["pred"]
    cats = np.asarray(run.categories, dtype=object)
    table["true_category"] = cats[table["true"].to_numpy()]
    table["pred_category"] = cats[table["pred"].to_numpy()]
    probs = oof_probs(run, oof)
    if meta is not None:
        known = table["filename"].isin(meta["filename"])
        if not known.all():
            problems.append(f"{int((~known).sum())} predictions are for clips that are not in the dataset's "
                            f"metadata (e.g. {table.loc[~known, 'filename'].iloc[0]!r}); they are left out.")
            table, probs = table[known].reset_index(drop=True), probs[known.to_numpy()]
        info = meta.set_index("filename")
        table["present"] = info.loc[table["filename"], "present"].to_numpy() if "present" in info else False
        table["path"] = info.loc[table["filename"], "path"].to_numpy() if "path" in info else ""
        table["src_file"] = info.loc[table["filename"], "src_file"].to_numpy()
    else:
        table["present"], table["path"] = False, ""
    if "src_file" in table:
        table["src_file"] = table["src_file"].astype(str)
    dup = table["filename"].duplicated()
    if dup.any():
        problems.append(f"{int(dup.sum())} clips appear more than once; only the first row of each is used.")
        table, probs = table[~dup].reset_index(drop=True), probs[~dup.to_numpy()]
    return Predictions(run=run, model=model, table=table, probs=probs, problems=problems)


@memoized
def confusion(p: Predictions) -> np.ndarray:
    """(n_classes, n_classes) counts, true class by row, predicted class by column."""
    return metrics.confusion(p.table["true"], p.table["pred"], p.n_classes)


@memoized
def calibration(p: Predictions, n_bins: int = 10) -> tuple[list, float]:
    """(reliability bins, expected calibration error) of the top-class confidences."""
    conf, correct = p.table["confidence"].to_numpy(), p.table["correct"].to_numpy()
    return metrics.calibration_bins(conf, correct, n_bins), metrics.expected_calibration_error(conf, correct, n_bins)


@memoized
def per_class_table(p: Predictions) -> pd.DataFrame:
    """precision, recall, F1, support per class, with class name and category."""
    t = metrics.per_class(p.table["true"].to_numpy(), p.table["pred"].to_numpy(), p.n_classes)
    t.insert(0, "class", p.run.class_names)
    t.insert(1, "category", p.run.categories)
    return t


@memoized
def category_table(p: Predictions) -> pd.DataFrame:
    """The same for the five major categories (a prediction is right if it names a class of the category)."""
    cm = metrics.category_confusion(metrics.confusion(p.table["true"], p.table["pred"], p.n_classes),
                                    p.run.category_index, len(p.run.category_names))
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    t = pd.DataFrame({"category": p.run.category_names, "precision": precision, "recall": recall, "f1": f1,
                      "support": support})
    return t[t["support"] > 0].reset_index(drop=True)


def cell_clips(p: Predictions, true: int, pred: int) -> pd.DataFrame:
    """The clips behind one confusion-matrix cell, most confident first."""
    t = p.table
    return t[(t["true"] == true) & (t["pred"] == pred)].sort_values("confidence", ascending=False)


def mistakes(p: Predictions, *, true: list[int] | None = None, pred: list[int] | None = None,
             folds: list[int] | None = None, min_confidence: float = 0.0) -> pd.DataFrame:
    """Misclassified clips matching the filters, the most confidently wrong first."""
    t = p.table[~p.table["correct"]]
    if true:
        t = t[t["true"].isin(true)]
    if pred:
        t = t[t["pred"].isin(pred)]
    if folds:
        t = t[t["fold"].isin(folds)]
    t = t[t["confidence"] >= min_confidence]
    return t.sort_values("confidence", ascending=False)


def top_probs(p: Predictions, filename: str, k: int = 5) -> list[tuple[str, float]]:
    i = int(np.flatnonzero(p.table["filename"].to_numpy() == filename)[0])
    order = np.argsort(-p.probs[i])[:k]
    return [(p.run.class_names[j], float(p.probs[i, j])) for j in order]


@dataclass
class Embeddings:
    filenames: np.ndarray
    pooled: np.ndarray  # (n, 1024)
    index: dict[str, int]


def load_embeddings(run: Run) -> Embeddings:
    """The clips of a run in embedding space, for neighbours and the map: the sound-only mean where the run has it
    (`runs.read_sound_embeddings`: padded silence does not pull unrelated clips together)."""
    names, pooled, _ = read_sound_embeddings(run)
    return Embeddings(names, pooled, {str(f): i for i, f in enumerate(names)})


def correct_neighbours(p: Predictions, emb: Embeddings, filename: str, label: int, k: int = 3) -> pd.DataFrame:
    """The k correctly classified clips of class `label` nearest to `filename` in embedding space."""
    t = p.table
    cand = t[(t["true"] == label) & t["correct"] & (t["filename"] != filename)]
    # membership tested on the class's candidates only (Series.isin over every row is slow on a large run)
    # a boolean array, not a list: an empty list would select no *columns* (a class with no correct clip)
    cand = cand[np.array([f in emb.index for f in cand["filename"]], dtype=bool)]
    if filename not in emb.index or cand.empty:
        return cand.head(0).assign(distance=[])
    rows = [emb.index[f] for f in cand["filename"]]
    idx, dist = metrics.nearest_neighbors(emb.pooled[emb.index[filename]], emb.pooled[rows], k)
    return cand.iloc[idx].assign(distance=dist)


MAP_MAX_POINTS = 3000  # a larger map is sampled: t-SNE and the browser's SVG scatter plot slow down past a few thousand


def map_sample(n: int, max_points: int = MAP_MAX_POINTS, seed: int = 0) -> np.ndarray:
    """The rows an embedding map of `n` clips shows: all of them, or a seeded uniform sample of `max_points` (every
    class in proportion, in expectation), in their original order."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def subset_embeddings(emb: Embeddings, rows: np.ndarray) -> Embeddings:
    names = emb.filenames[rows]
    return Embeddings(names, emb.pooled[rows], {str(f): i for i, f in enumerate(names)})


def embedding_map(pooled: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, 1024) -> (n, 2) coordinates: PCA (instant) or t-SNE (seconds)."""
    from sklearn.decomposition import PCA

    # unit length first: the map then shows the cosine geometry the neighbour search uses, and a few
    # loud clips with large embeddings do not stretch the first component
    x = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(axis=0)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        x50 = PCA(n_components=min(50, x.shape[0], x.shape[1]), random_state=seed).fit_transform(x)
        perplexity = float(min(30, max(5, (len(x) - 1) // 3)))
        return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(x50)
    raise ValueError(f"unknown map method {method!r}; use pca or tsne")


def compare(a: Predictions, b: Predictions) -> dict:
    """Two models (of one run or two) on the clips they share: accuracies, McNemar, per-class recall, disagreements."""
    ta = a.table.set_index("filename")
    tb = b.table.set_index("filename")
    common = ta.index.intersection(tb.index)
    if len(common) == 0:
        return {"n": 0}
    if list(a.run.classes) != list(b.run.classes):
        return {"n": int(len(common)), "error": "the two runs have different class lists (e.g. ESC-50 and ESC-10); "
                                                 "compare runs of the same task"}
    ra, rb = ta.loc[common], tb.loc[common]
    test = metrics.mcnemar(ra["correct"].to_numpy(), rb["correct"].to_numpy())
    recall_a = ra.groupby("true")["correct"].mean()
    recall_b = rb.groupby("true")["correct"].mean()
    per_class = pd.DataFrame({"class": [a.run.class_names[i] for i in recall_a.index],
                              "recall A": recall_a.to_numpy(), "recall B": recall_b.reindex(recall_a.index).to_numpy()})
    per_class["difference"] = per_class["recall A"] - per_class["recall B"]
    cols = ["true_name", "pred_name", "confidence", "fold", "present", "path"]
    only_a = ra[ra["correct"] & ~rb["correct"]][cols].join(rb[["pred_name", "confidence"]], rsuffix=" B")
    only_b = rb[rb["correct"] & ~ra["correct"]][cols].join(ra[["pred_name", "confidence"]], rsuffix=" A")
    return {"n": int(len(common)), "acc_a": float(ra["correct"].mean()), "acc_b": float(rb["correct"].mean()),
            "mcnemar": test, "per_class": per_class.sort_values("difference"),
            "only_a": only_a.reset_index(), "only_b": only_b.reset_index(),
            "disagree": int((ra["pred"] != rb["pred"]).sum())}


def verdict_line(cmp: dict, name_a: str, name_b: str) -> str:
    """One sentence: which wins, by how much, and how sure that is."""
    if cmp.get("n", 0) == 0 or "error" in cmp:
        return cmp.get("error", "The two have no clips in common.")
    diff = cmp["acc_a"] - cmp["acc_b"]
    p = cmp["mcnemar"]["p_value"]
    if abs(diff) < 1e-12:
        return f"{name_a} and {name_b} are equally accurate on these {cmp['n']} clips (McNemar p = {p:.2f})."
    better, worse = (name_a, name_b) if diff > 0 else (name_b, name_a)
    sure = ("a difference this large is unlikely to be chance" if p < 0.05 else
            "but a difference this small could well be chance")
    return (f"{better} is right on {abs(diff):.1%} more of the {cmp['n']} shared clips than {worse} "
            f"(McNemar p = {p:.3g}): {sure}.")


def family_of(p: Predictions) -> str:
    """The model's family for comparisons: "fusion" for a fused model (`soundlab.models.fusion`), else its run's."""
    return "fusion" if p.run.is_fused(p.model) else p.run.family


def leaderboard(a: Predictions, others: list[Predictions]) -> pd.DataFrame:
    """Every model against `a` on the clips each shares with it: accuracy, difference, McNemar p."""
    rows = []
    for q in others:
        cmp = compare(a, q)
        if not cmp.get("n") or "error" in cmp:
            continue
        rows.append({"run": q.run.id, "family": family_of(q), "model": q.model, "clips": cmp["n"],
                     "accuracy": cmp["acc_b"], "vs selected (points)": 100 * (cmp["acc_b"] - cmp["acc_a"]),
                     "McNemar p": cmp["mcnemar"]["p_value"]})
    return pd.DataFrame(rows).sort_values("accuracy", ascending=False, ignore_index=True) if rows else pd.DataFrame()


def family_verdict(preds: list[Predictions]) -> str | None:
    """Best YAMNet head against the best from-scratch model on their shared clips, in one sentence."""
    def best(family):
        pool = [p for p in preds if p.run.family == family]
        return max(pool, key=lambda p: p.table["correct"].mean()) if pool else None

    y, s = best("yamnet"), best("scratch")
    if y is None or s is None:
        return None
    cmp = compare(y, s)
    if not cmp.get("n") or "error" in cmp:
        return None
    return ("What this tells you: " +
            verdict_line(cmp, f"the best YAMNet head ({y.model}, {cmp['acc_a']:.1%})",
                         f"the best model trained from scratch ({s.model}, {cmp['acc_b']:.1%})"))


def comparability(ref: dict, run: Run) -> tuple[bool, str]:
    """Whether a published figure can be set against the run's numbers, and why (not)."""
    name = run.protocol["name"]
    labels = run.protocol.get("labels")
    if labels:
        return False, (f"this run trains and tests on labels corrected by review ({labels['changed']} clips differ from "
                       "the official csv); published figures use the official labels")
    if ref["protocol_key"] == "random-split":
        return False, "a random split leaks near-duplicate takes of one recording into training; fold-based numbers are lower"
    if name == ref["protocol_key"]:
        return True, "same protocol: the official folds on every clip"
    cov = run.info.get("coverage", {})
    return False, (f"this run covers {cov.get('clips_present', '?')} of {cov.get('clips_listed', '?')} clips with its own "
                   "folds (a partial dataset: other clips, another class mix); the published figure is on all of them")


@memoized
def reference_table(p: Predictions) -> pd.DataFrame:
    """The published reference points of the run's task beside this model's own accuracy, each with its protocol
    and whether it is comparable (only when the protocols match)."""
    rows = []
    for r in REFERENCES:
        if r["task"] == p.run.task:
            ok, why = comparability(r, p.run)
            rows.append({"what": r["what"], "accuracy": r["accuracy"], "protocol": r["protocol"], "comparable": ok,
                         "why": why})
    s = p.summary()
    rows.append({"what": f"This run ({p.model})", "accuracy": s["accuracy"], "protocol": p.run.protocol["description"],
                 "comparable": None, "why": f"balanced accuracy {s['balanced_accuracy']:.1%}"})
    return pd.DataFrame(rows)


@memoized
def class_balance(p: Predictions) -> tuple[int, int]:
    """(fewest, most) clips of a class among the classes present."""
    counts = p.table.groupby("true").size()
    return int(counts.min()), int(counts.max())


@memoized
def imbalance_note(p: Predictions) -> str | None:
    """A sentence when the classes present are imbalanced (as on any partial dataset), else None."""
    lo, hi = class_balance(p)
    single = single_source_classes(p) if "grouped" in p.run.protocol["name"] else []
    if hi <= IMBALANCE_RATIO * lo and not single:
        return None
    s = p.summary()
    note = (f"The classes present are imbalanced ({lo} to {hi} clips per class): accuracy ({s['accuracy']:.1%}) counts "
            f"every clip, so the well-stocked classes dominate it; balanced accuracy ({s['balanced_accuracy']:.1%}) is "
            "the mean of the per-class recalls and weighs every class equally.") if hi > IMBALANCE_RATIO * lo else ""
    if note and p.run.model(p.model).get("class_prior"):  # `fuse --class-balance`
        note += (" This model divides each class's share of the training clips out of its answers, so it does not "
                 "favour a class for having more of them.")
    if single:
        note += (f" {', '.join(single)}: every clip here comes from one source recording, so the grouped folds never "
                 "train on {} out of fold and {} recall is 0 by construction.".format(
                     "it" if len(single) == 1 else "them", "its" if len(single) == 1 else "their"))
    return note.strip()


@memoized
def single_source_classes(p: Predictions) -> list[str]:
    """Classes whose clips all come from one source recording: grouped folds keep them in one fold, so no model ever
    trains on them out of fold and their recall is 0 by construction (on a partial dataset)."""
    if "src_file" not in p.table:
        return []
    n = p.table.groupby("true")["src_file"].nunique()
    return [p.run.class_names[c] for c in n.index[n == 1]]


@memoized
def recall_table(p: Predictions) -> pd.DataFrame:
    """Per-class recall, worst first, with the class each is most often mistaken for."""
    t = p.table
    rows = []
    for label, group in t.groupby("true"):
        wrong = group[~group["correct"]]
        confused = wrong["pred_name"].value_counts()
        rows.append({"class": p.run.class_names[label], "recall": float(group["correct"].mean()), "clips": len(group),
                     "most often heard as": f"{confused.index[0]} ({confused.iloc[0]})" if len(confused) else ""})
    return pd.DataFrame(rows).sort_values(["recall", "clips"], ascending=[True, False], ignore_index=True)


@memoized
def group_accuracy(p: Predictions) -> dict[str, float]:
    """Accuracy on the clips of the ten ESC-10 classes and on those of the other classes (ESC-50 runs only)."""
    if p.run.task != "esc50" or p.run.dataset_id != "esc50":
        return {}
    targets = np.asarray(p.run.targets)[p.table["true"].to_numpy()]
    in10 = np.isin(targets, ESC10_TARGETS)
    ok = p.table["correct"].to_numpy()
    return {"esc10_classes": float(ok[in10].mean()) if in10.any() else float("nan"),
            "other_classes": float(ok[~in10].mean()) if (~in10).any() else float("nan"),
            "other_balanced": metrics.balanced_accuracy(p.table["true"][~in10], p.table["pred"][~in10])
            if (~in10).any() else float("nan")}


def disagreements(preds: list[Predictions]) -> pd.DataFrame:
    """The clips that models (e.g. the heads of one run) answer differently: one row per clip, the true class
    and each model's prediction. Empty with fewer than two models."""
    if len(preds) < 2:
        return pd.DataFrame()
    grid = pd.DataFrame({q.model: q.table.set_index("filename")["pred_name"] for q in preds})
    grid.insert(0, "true", preds[0].table.set_index("filename")["true_name"])
    flips = grid[grid.drop(columns="true").nunique(axis=1) > 1]
    return flips.rename_axis("filename").reset_index()


def map_points(p: Predictions, emb: Embeddings, xy: np.ndarray, *, classes: list[int] | None = None,
               color_by: str = "class") -> pd.DataFrame:
    """One row per clip of the embedding map: x, y, filename, colour group and hover text.

    `classes` keeps only clips of those true classes; `color_by` is "class" or "right / wrong".
    """
    t = p.table.set_index("filename")
    keep = [i for i, f in enumerate(emb.filenames) if f in t.index]
    files = [str(emb.filenames[i]) for i in keep]
    rows = t.loc[files]
    frame = pd.DataFrame({"x": xy[keep, 0], "y": xy[keep, 1], "filename": files,
                          "color": rows["true_name"].to_numpy() if color_by == "class"
                          else np.where(rows["correct"].to_numpy(), "right", "wrong"),
                          "hover": [f"{f} · {a}" + (f" (heard as {b})" if a != b else "")
                                    for f, a, b in zip(files, rows["true_name"], rows["pred_name"])],
                          "true": rows["true"].to_numpy()})
    if classes:
        frame = frame[frame["true"].isin(classes)]
    return frame.reset_index(drop=True)


def clip_row(p: Predictions, filename: str) -> pd.Series:
    """One clip's row of the predictions table, with its file name (KeyError if it is not in the run)."""
    row = p.table.set_index("filename").loc[filename].copy()
    row["filename"] = filename
    return row


def model_caption(run: Run, name: str) -> str | None:
    """One sentence on what a model trained from scratch is (None for heads on a backbone)."""
    if run.family != "scratch":
        return None
    from soundlab.models.features import DESCRIPTIONS

    m = run.model(name)
    minutes = run.info.get("wall_seconds", 0) / 60
    return (f"**Model:** `{name}`, trained from scratch on {DESCRIPTIONS.get(run.info['features']['kind'], '?')}; "
            f"{m['params']:,d} parameters" + (f", {m['epochs']} epochs per fold" if m.get("epochs") else "")
            + f"; {minutes:.1f} min to train (five folds and the deployed model). "
            "It is compared with the heads on backbone embeddings in the Compare section.")


# ---- the README's result tables --------------------------------------------------------------------------------

def openset_summary(run: Run, model: str, tag_names: list[str]) -> dict | None:
    """What the Metrics page shows of a model's open-set calibration: nested out-of-fold shares, the signals'
    95th percentiles, and the learned tag map (one row per class). None if the run has none."""
    from soundlab.openset import SIGNALS

    osm = run.openset(model)
    if osm is None:
        return None
    return {"oof": osm.oof, "p95": {s: float(v) for s, v in zip(SIGNALS, osm.p95, strict=True) if s in osm.used},
            "tag_map": pd.DataFrame(osm.tag_map.table(run.class_names, tag_names)),
            "generic": [tag_names[t] for t in osm.tag_map.generic], "known": len(osm.tag_map.known),
            "n_tags": len(tag_names),
            "foreign_training": run.foreign_training if osm.foreign is not None else {}}

"""The from-scratch models next to the YAMNet heads: accuracy, training time, inference time, size. Run:

    .venv/bin/python bench/bench_scratch.py

Per shipped run and model: 5-fold accuracy recomputed from the stored out-of-fold predictions (ESC-10 on
its official folds, 50 classes on the source-grouped folds of the dev clips), training wall time as
recorded by `train` (five folds plus the deployed model, on this machine's 2 cores), inference time per
5 s clip measured here (decode + features + model, batch of one, median of 30), parameter count (for the
SVM: support-vector coefficients; for the forest: tree nodes). Also McNemar's test of each model against the best YAMNet head.
Ends with the table as Markdown, for the README.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from common import ROOT, timeit  # noqa: E402,F401,I001

import statistics  # noqa: E402


from soundlab import audio, metrics, predictions, runs
from soundlab.models import yamnet as yamnet_model
from soundlab.models import features
from soundlab.models import scratch
from soundlab.classify import classify_audio, load_classifier  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR  # noqa: E402
from tests.assets import dev_dataset  # noqa: E402


def scratch_inference_ms(run: runs.Run, clip: str) -> float:
    import joblib

    kind = run.default_model
    spec = features.FeatureSpec(**run.info["features"])
    if kind in scratch.SKLEARN_MODELS:
        model = joblib.load(run.model_path(kind))
        predict = model.predict_proba
    else:
        from soundlab.models import heads

        model = heads.load(run.model_path(kind))
        predict = model.predict_on_batch if hasattr(model, "predict_on_batch") else model.predict

    def once():
        x = features.compute(audio.load(clip, sr=spec.sr, allow_silent=True).y, spec)
        predict(x[None])

    return statistics.median(timeit(once, repeat=30, warmup=3))


def main() -> None:
    shipped, problems = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    for p in problems:
        print("unusable run:", p)
    ds_root = dev_dataset()
    from soundlab.data.esc50 import load_dataset

    ds = load_dataset(ds_root)
    clip = ds.present["path"].iloc[0]
    backbone = None
    rows = []
    for task in ("esc10", "esc50"):
        # the from-scratch models against the YAMNet heads (bench_classify and the README's tables cover EfficientAT)
        task_runs = [r for r in shipped if r.task == task and r.family in ("yamnet", "scratch")]
        yam = [r for r in task_runs if r.family == "yamnet"]
        if not yam:
            print(f"{task}: no YAMNet run shipped")
            continue
        yrun = yam[0]
        preds = {(r.id, k): predictions.load_predictions(r, k, ds.meta) for r in task_runs for k in r.model_names}
        best_y = max(((r, k) for r in yam for k in r.model_names), key=lambda rk: preds[(rk[0].id, rk[1])].table["correct"].mean())
        print(f"\n{task}: {yrun.protocol['description']}")
        for r in task_runs:
            kinds = [r.default_model] if r.family == "scratch" else [best_y[1], "logreg"]
            for k in kinds:
                oof = runs.read_oof(r, k)
                probs = oof[[f"p_{c}" for c in r.classes]].to_numpy()
                m = metrics.summary(oof["true"].to_numpy(), probs, oof["fold"].to_numpy())
                h = r.model(k)
                if r.family == "scratch":
                    infer = scratch_inference_ms(r, clip)
                    wall = r.info["wall_seconds"]
                else:
                    if backbone is None:
                        backbone = yamnet_model.load_yamnet("tflite", DEFAULT_ARTIFACTS_DIR)
                    clf = load_classifier(r, k, backbone)
                    infer = statistics.median(timeit(lambda c=clf: classify_audio(c, clip), repeat=30, warmup=3))
                    wall = r.info.get("cv_seconds", float("nan"))
                cmp = predictions.compare(preds[(best_y[0].id, best_y[1])], preds[(r.id, k)])
                p = cmp["mcnemar"]["p_value"] if (r.id, k) != (best_y[0].id, best_y[1]) else float("nan")
                name = k if r.family == "scratch" else ("YAMNet + logreg" if k == "logreg" and k != best_y[1]
                                                        else "YAMNet + best head")
                rows.append({"task": task, "protocol": r.protocol["name"], "model": name, "head": k, "acc": m["accuracy"],
                             "fold_std": m["fold_std"], "wall": wall, "infer": infer, "params": h["params"], "p": p,
                             "n": len(oof)})
                print(f"  {name if r.family == 'scratch' else 'YAMNet + ' + k:22s} acc {m['accuracy']:.2%} (fold sd {m['fold_std']:.2%}, n={len(oof)})  "
                      f"train {wall:7.0f} s  inference {infer:6.1f} ms/clip  params {h['params']:>9,d}  "
                      f"McNemar vs best YAMNet p={p:.2g}")
    n50 = max((r["n"] for r in rows if r["task"] == "esc50"), default=0)
    print(f"\n| model | ESC-10, official 5 folds | ESC-50, {n50} clips, 5 folds grouped by source | training wall time "
          "(ESC-10 / ESC-50) | inference per 5 s clip | parameters |")
    print("|---|---|---|---|---|---|")

    def minutes(r):
        return "–" if r is None else (f"{r['wall']:.0f} s" if r["wall"] < 60 else f"{r['wall'] / 60:.1f} min")

    def cell(r):
        if r is None:
            return "–"
        return f"{r['acc']:.1%}" + (f" ({r['head']})" if r["model"] == "YAMNet + best head" else "")

    models = sorted(dict.fromkeys(r["model"] for r in rows),
                    key=lambda mdl: -max(r["acc"] for r in rows if r["model"] == mdl and r["task"] == "esc50"))
    for model in models:
        by = {r["task"]: r for r in rows if r["model"] == model}
        e10, e50 = by.get("esc10"), by.get("esc50")
        infer = " / ".join(f"{r['infer']:.1f}" for r in (e10, e50) if r)
        params = " / ".join(f"{r['params']:,d}" for r in (e10, e50) if r)
        print(f"| {model} | {cell(e10)} | {cell(e50)} | {minutes(e10)} / {minutes(e50)} | {infer} ms | {params} |")
    print("\nTraining wall time: the whole `train` run on cached features (five folds plus the deployed model); for "
          "YAMNet, all five heads together on cached embeddings. Inference: decode + features (or YAMNet) + model, "
          "batch of one, median of 30.")

if __name__ == "__main__":
    main()

"""The from-scratch models next to the YAMNet heads: accuracy, training time, inference time, size. Run:

    .venv/bin/python bench/bench_scratch.py

Per shipped run and model: 5-fold accuracy recomputed from the stored out-of-fold predictions (ESC-10 on
its official folds, 50 classes on the source-grouped folds of the 737 dev clips), training wall time as
recorded by `train` (five folds plus the deployed model, on this machine's 2 cores), inference time per
5 s clip measured here (decode + features + model, batch of one, median of 30), parameter count (for the
SVM: support-vector coefficients). Also McNemar's test of each model against the best YAMNet head.
Ends with the table as Markdown, for the README.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from common import ROOT, timeit  # noqa: E402,F401,I001

import statistics  # noqa: E402


from soundlab import audio, backbones, evaluate, features, metrics, runs  # noqa: E402
from soundlab.classify import classify_audio, load_classifier  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR  # noqa: E402
from tests.assets import dev_dataset  # noqa: E402


def scratch_inference_ms(run: runs.Run, clip: str) -> float:
    import joblib

    kind = run.default_head
    spec = features.FeatureSpec(**run.info["features"])
    if kind == "mfcc-svm":
        model = joblib.load(run.head_path(kind))
        predict = model.predict_proba
    else:
        from soundlab import heads

        model = heads.load(run.head_path(kind))
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
    from soundlab.dataset import load_dataset

    ds = load_dataset(ds_root)
    clip = ds.present["path"].iloc[0]
    backbone = None
    rows = []
    for task in ("esc10", "esc50"):
        task_runs = [r for r in shipped if r.task == task]
        yam = [r for r in task_runs if r.family == "yamnet"]
        if not yam:
            print(f"{task}: no YAMNet run shipped")
            continue
        yrun = yam[0]
        preds = {(r.id, k): evaluate.load_predictions(r, k, ds.meta) for r in task_runs for k in r.head_kinds}
        best_y = max(((r, k) for r in yam for k in r.head_kinds), key=lambda rk: preds[(rk[0].id, rk[1])].table["correct"].mean())
        print(f"\n{task}: {yrun.protocol['description']}")
        for r in task_runs:
            kinds = [r.default_head] if r.family == "scratch" else [best_y[1], "logreg"]
            for k in kinds:
                oof = runs.read_oof(r, k)
                probs = oof[[f"p_{c}" for c in r.classes]].to_numpy()
                m = metrics.summary(oof["true"].to_numpy(), probs, oof["fold"].to_numpy())
                h = r.head(k)
                if r.family == "scratch":
                    infer = scratch_inference_ms(r, clip)
                    wall = h["wall_seconds"]
                else:
                    if backbone is None:
                        backbone = backbones.load_backbone("tflite", DEFAULT_ARTIFACTS_DIR)
                    clf = load_classifier(r, k, backbone)
                    infer = statistics.median(timeit(lambda c=clf: classify_audio(c, clip), repeat=30, warmup=3))
                    wall = r.info.get("cv_seconds", float("nan"))
                cmp = evaluate.compare(preds[(best_y[0].id, best_y[1])], preds[(r.id, k)])
                p = cmp["mcnemar"]["p_value"] if (r.id, k) != (best_y[0].id, best_y[1]) else float("nan")
                name = k if r.family == "scratch" else f"YAMNet + {k}"
                rows.append({"task": task, "protocol": r.protocol["name"], "model": name, "acc": m["accuracy"],
                             "fold_std": m["fold_std"], "wall": wall, "infer": infer, "params": h["params"], "p": p,
                             "n": len(oof)})
                print(f"  {name:22s} acc {m['accuracy']:.2%} (fold sd {m['fold_std']:.2%}, n={len(oof)})  "
                      f"train {wall:7.0f} s  inference {infer:6.1f} ms/clip  params {h['params']:>9,d}  "
                      f"McNemar vs best YAMNet p={p:.2g}")
    print("\n| model | ESC-10 official 5-fold | ESC-50 grouped 5-fold (737 clips) | training wall time (ESC-10 / ESC-50) "
          "| inference per clip | parameters |")
    print("|---|---|---|---|---|---|")
    for model in dict.fromkeys(r["model"] for r in rows):
        by = {r["task"]: r for r in rows if r["model"] == model}
        e10, e50 = by.get("esc10"), by.get("esc50")
        cell = lambda r: f"{r['acc']:.1%}" if r else "–"  # noqa: E731
        wall = " / ".join(f"{r['wall'] / 60:.1f} min" if r else "–" for r in (e10, e50))
        anyr = e50 or e10
        print(f"| {model} | {cell(e10)} | {cell(e50)} | {wall} | {anyr['infer']:.1f} ms | {anyr['params']:,d} |")


if __name__ == "__main__":
    main()

"""Accuracy of every shipped head, recomputed from the stored out-of-fold predictions, against the
targets and floors; and the open-set figures. Run:

    .venv/bin/python bench/bench_accuracy.py

Targets: ESC-10 official 5-fold >= 98.5% (floor 96.3%); 50-class on the 737 dev clips, source-grouped
5-fold >= 85% (floor 78.3%, a plain logistic regression on mean-pooled TFLite embeddings, measured on
other folds; the `logreg` head is that baseline on ours). Open set: >= 95% of ESC-50 clips judged
in-set out of fold; 100% of the speech clips in ../shared/speech judged out of set.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from common import ROOT  # noqa: E402,F401,I001

from soundlab import metrics, runs
from soundlab.models import yamnet as yamnet_model
from soundlab.classify import classify_audio, load_classifier  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR  # noqa: E402
from tests.assets import shared  # noqa: E402

TARGETS = {"esc10": (0.985, 0.963), "esc50": (0.85, 0.783)}


def main() -> None:
    shipped, problems = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    for p in problems:
        print("unusable run:", p)
    for run in [r for r in shipped if r.family == "yamnet"]:  # from-scratch runs: bench/bench_scratch.py
        target, floor = TARGETS[run.task]
        print(f"\n{run.id}\n  {run.protocol['description']}\n  target {target:.1%}, floor {floor:.1%}")
        print(f"  {'head':10s} {'accuracy':>9s} {'top-3':>7s} {'macro-F1':>9s} {'fold mean +- std':>18s}  "
              f"{'params':>8s}  target")
        for kind in run.model_names:
            oof = runs.read_oof(run, kind)
            probs = oof[[f"p_{c}" for c in run.classes]].to_numpy()
            m = metrics.summary(oof["true"].to_numpy(), probs, oof["fold"].to_numpy())
            ok = "met" if m["accuracy"] >= target else "NOT met"
            print(f"  {kind:10s} {m['accuracy']:9.2%} {m['top3_accuracy']:7.2%} {m['macro_f1']:9.2%} "
                  f"{m['fold_mean']:10.2%} +- {m['fold_std']:5.2%}  {run.model(kind)['params']:8d}  {ok}")
        osm = run.openset()
        print(f"  open set: {osm.oof_in_set_share:.1%} of the run's clips judged ESC-50 out of fold (target >= 95%)")
    bb = yamnet_model.load_yamnet("tflite", DEFAULT_ARTIFACTS_DIR)
    clf = load_classifier(runs.preferred(shipped), None, bb)
    speech = sorted(shared("speech").glob("*.wav"))
    out = 0
    for path in speech:
        res = classify_audio(clf, path)
        out += not res.verdict.in_set
        print(f"  {path.name:14s} {'out of set' if not res.verdict.in_set else 'IN SET'}: {res.verdict.message()}")
    print(f"speech clips judged out of set: {out}/{len(speech)} = {out / len(speech):.0%} (target 100%)")


if __name__ == "__main__":
    main()

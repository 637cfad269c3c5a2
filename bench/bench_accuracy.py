"""Accuracy of every shipped model, recomputed from the stored out-of-fold predictions, against the targets; and the
open-set figures. Run:

    .venv/bin/python bench/bench_accuracy.py

Targets (issue "A stronger ear"): on the dev set (ESC-50, 5 folds grouped by source recording), the best EfficientAT
model >= 94% accuracy and >= 92% balanced accuracy; ESC-10 on its official folds >= 99.0%. Every model of both
backbones is listed with McNemar's p against the best YAMNet head on the same clips.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from common import ROOT  # noqa: E402,F401,I001

from soundlab import report, runs  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR  # noqa: E402

TARGETS = {"esc50": (0.94, 0.92), "esc10": (0.99, None)}
EFFICIENTAT = ("efficientat", "finetune")


def main() -> None:
    shipped, problems = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    for p in problems:
        print("unusable run:", p)
    for title, rows in report.results(shipped).items():
        task = title.split(":")[0]
        print(f"\n{title}")
        print(f"  {'model':34s} {'acc':>7s} {'bal':>7s} {'ESC-10 cl.':>10s} {'other cl.':>10s} {'top-3':>7s} "
              f"{'macro-F1':>8s}  vs best YAMNet head")
        for r in rows:
            vs = "reference" if r.get("p_value", 0) is None else (
                f"{r['vs_best_yamnet_points']:+5.1f} points, p = {r['p_value']:.2g}" if "p_value" in r else "")
            print(f"  {r['model']:34s} {r['accuracy']:7.2%} {r['balanced_accuracy']:7.2%} "
                  f"{r.get('esc10_classes', float('nan')):10.2%} {r.get('other_classes', float('nan')):10.2%} "
                  f"{r['top3_accuracy']:7.2%} {r['macro_f1']:8.2%}  {vs}")
        best = max((r for r in rows if r["family"] in EFFICIENTAT), key=lambda r: r["balanced_accuracy"], default=None)
        acc_t, bal_t = TARGETS[task]
        if best is not None:
            met = best["accuracy"] >= acc_t and (bal_t is None or best["balanced_accuracy"] >= bal_t)
            print(f"  best EfficientAT model: {best['model']} {best['accuracy']:.2%} / balanced "
                  f"{best['balanced_accuracy']:.2%}; target >= {acc_t:.0%}"
                  + (f" / {bal_t:.0%}" if bal_t else "") + f": {'met' if met else 'NOT met'}")
    for run in (r for r in shipped if r.classifies_audio):
        osm = run.openset()
        if osm is not None:
            print(f"open set, {run.id}: {osm.oof_in_set_share:.1%} of the run's clips judged in-set out of fold")


if __name__ == "__main__":
    main()

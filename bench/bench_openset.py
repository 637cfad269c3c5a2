"""The open-set verdict on ESC-50 clips (out of fold, nested) and on the foreign test set. Run:

    .venv/bin/python bench/bench_openset.py

Targets (issue "Knowing what it doesn't know"): ESC-50 dev clips >= 95% judged in-set (out of fold, nested
calibration); the foreign set >= 95% judged "not one of the 50" or "unsure", speech and music 100%.
"""

from __future__ import annotations

import csv
import os
import time
from collections import defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from common import ROOT  # noqa: E402,I001

from soundlab import runs  # noqa: E402
from soundlab.classify import classify_audio, load_classifier  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings  # noqa: E402
from soundlab.models.backbone import load_backbone  # noqa: E402

FOREIGN = ROOT / "tests" / "foreign"


def main() -> None:
    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    print("ESC-50 and ESC-10 clips out of fold (nested calibration): in-set / unsure / foreign")
    for run in (r for r in shipped if r.classifies_audio):
        for name in run.model_names:
            osm = run.openset(name)
            if osm is not None:
                o = osm.oof
                ok = "met" if o["in_set"] >= 0.95 else "NOT met"
                print(f"  {run.id:48s} {name:9s} {o['in_set']:6.1%} / {o['unsure']:5.1%} / {o['foreign']:5.1%}"
                      f"   target in-set >= 95%: {ok}")
    kinds = {r["file"]: (r["kind"], r["what"]) for r in csv.DictReader(open(FOREIGN / "PROVENANCE.tsv"), delimiter="\t")}
    for key in ("yamnet", "efficientat"):
        run = runs.preferred([r for r in shipped if r.backbone_key == key and r.task == "esc50"])
        if run is None:
            continue
        clf = load_classifier(run, None, load_backbone(key, get_settings()))
        outcomes, missed, t0 = defaultdict(list), [], time.perf_counter()
        for f in sorted((FOREIGN / "clips").glob("*.ogg")):
            v = classify_audio(clf, f).verdict
            kind, what = kinds[f.name]
            outcomes[kind].append(v.outcome)
            if v.outcome == "in-set":
                missed.append(f"{what} -> {v.label} ({v.hears})")
        every = [o for os_ in outcomes.values() for o in os_]
        caught = sum(o != "in-set" for o in every) / len(every)
        print(f"\nforeign set with {run.id} ({clf.kind}): {len(every)} clips in {time.perf_counter() - t0:.1f} s")
        for kind, os_ in sorted(outcomes.items()):
            print(f"  {kind:7s} n={len(os_):2d}  not one of the 50 {os_.count('foreign') / len(os_):5.1%}  "
                  f"unsure {os_.count('unsure') / len(os_):5.1%}  in-set {os_.count('in-set') / len(os_):5.1%}")
        print(f"  all     judged foreign or unsure: {caught:.1%}   target >= 95%: {'met' if caught >= 0.95 else 'NOT met'}")
        for m in missed:
            print(f"    judged in-set: {m}")


if __name__ == "__main__":
    main()

"""How every shipped model does outside ESC-50: cross-validation on ESC-50 beside the real-world validation sets.

    .venv/bin/python bench/bench_realworld.py                      # every model that classifies audio, both splits
    .venv/bin/python bench/bench_realworld.py --split B --save     # the report split; store the evaluations in the runs
    .venv/bin/python bench/bench_realworld.py --quieter 30         # the same recordings made 30 dB quieter
    .venv/bin/python bench/bench_realworld.py --inside noise:10:-60  # each inside 10 s of a quiet room
    .venv/bin/python bench/bench_realworld.py --quieter 30 --offset 0.02  # quieter, from a recorder with a DC offset
    .venv/bin/python bench/bench_realworld.py --rate 8000           # as a phone call carries them
    .venv/bin/python bench/bench_realworld.py --room 0.6:2 --noise 20  # played in a room, 2 m from the microphone

The real-world set is built by `python -m tests.realworld.build` (recordings of ESC-50 classes and foreign sounds from
Debian's game and sound packages, labelled from file names and credits; split A for choosing and calibrating, B for
reporting: tests/realworld/README.md). Each clip is judged as the Classify page judges it (`soundlab.external`).
"ESC-50 under real conditions" is each run's held-out dev clips through another recording chain (band limit, room,
noise, codec: `soundlab.augment`), predicted out of fold; runs trained with `--real-conditions` store it
(`real_conditions` in run.json), the others show n/a.

Columns: ESC-50 cross-validation (accuracy / balanced), under real conditions, then per real-world split: named right
and accepted, right class on top, balanced over the classes, genuine sounds judged foreign or unsure, foreign sounds
flagged. Targets (issue 32): named right and accepted
>= 85%, genuine judged foreign or unsure <= 10%, foreign flagged >= 95%.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository on sys.path)

from soundlab import external, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings

SET = ROOT / ".test-assets" / "realworld"
TARGETS = {"named_right_and_accepted": (0.85, ">="), "genuine_judged_foreign_or_unsure": (0.10, "<="),
           "foreign_flagged": (0.95, ">=")}


def split_of(labelled: external.LabelledSet, split: str) -> external.LabelledSet:
    """The clips of one split (the `split` column of the set's labels.csv)."""
    import csv

    with open(labelled.root / "labels.csv", newline="") as f:
        keep = {row["filename"] for row in csv.DictReader(f) if split == "all" or row["split"] == split}
    items = tuple((p, lab) for p, lab in labelled.items if str(p.relative_to(labelled.root)) in keep)
    return external.LabelledSet(f"realworld-{split}", labelled.root, items, labelled.problems)


def changed_copy(root: Path, dest: Path, *, quieter_db: float = 0.0, inside: str = "", offset: float = 0.0,
                 rate: int = 0, room: tuple[float, float] | None = None, noise_db: float | None = None) -> Path:
    """The set at `root` as recorded otherwise, written as float wav under the same names in `dest`: `quieter_db`
    decibels quieter (a phone held further away, a cautious gain; louder for a negative value), and/or `inside` a
    longer recording, "silence:S" or "noise:S:DBFS" (S seconds of digital silence or of noise at DBFS RMS, half before
    the clip and half after), and/or with a DC `offset` added (a recorder's fault), and/or at sample `rate` (a phone
    call's 8000, a cheap recorder's 16000; only ever lower than the clip's own), and/or played from a loudspeaker in a
    `room` (rt60 seconds, the microphone that many metres away; `soundlab.augment.in_room`) and/or with pink noise
    `noise_db` below the clip's RMS (a fan, a room's hiss). Clipped at full scale, as a recorder clips."""
    import csv
    import shutil

    import numpy as np
    import soundfile as sf

    from soundlab import augment
    from soundlab.audio import resample

    rng = np.random.default_rng(0)
    shutil.copy(root / "labels.csv", dest / "labels.csv")
    with open(root / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            y, sr = sf.read(root / row["filename"], dtype="float32")
            y = (y.mean(axis=1) if y.ndim > 1 else y) * np.float32(10 ** (-quieter_db / 20))
            if inside:
                kind, seconds, *db = inside.split(":")
                n = int(float(seconds) * sr)
                around = (np.zeros(n, np.float32) if kind == "silence" else
                          (rng.standard_normal(n) * 10 ** (float(db[0]) / 20)).astype(np.float32))
                y = np.concatenate([around[: n // 2], y, around[n // 2:]])
            if room:
                y = augment.in_room(y, sr, rt60=room[0], distance=room[1])
            if noise_db is not None:
                y = augment.with_noise(y, sr, snr_db=noise_db, seed=augment.seed_of("bench", row["filename"]))
            y = np.clip(y + np.float32(offset), -1.0, 1.0)
            if rate and rate < sr:
                y, sr = resample(y, orig_sr=sr, target_sr=rate), rate
            (dest / row["filename"]).parent.mkdir(parents=True, exist_ok=True)
            sf.write(dest / row["filename"], y, sr, subtype="FLOAT")
    return dest


def pct(x: float) -> str:
    return "  n/a" if x != x else f"{100 * x:5.1f}%"


def _room(text: str) -> tuple[float, float]:
    """--room RT60:METRES as numbers, or one line saying what to write."""
    from soundlab import augment

    try:
        rt60, metres = (float(x) for x in text.split(":"))
    except ValueError:
        sys.exit(f"bench_realworld: --room {text!r}: write RT60:METRES, e.g. 0.6:2")
    try:
        augment.check_room(rt60, metres)
    except ValueError as e:
        sys.exit(f"bench_realworld: --room {text!r}: {e}")
    return rt60, metres


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="A,B", help="A, B, all, or a comma list (default A,B)")
    ap.add_argument("--run", help="one run id (default: every run of --task that classifies audio)")
    ap.add_argument("--task", default="esc50", choices=["esc50", "esc10"])
    ap.add_argument("--save", action="store_true", help="store each evaluation in its run (the Metrics page shows it)")
    ap.add_argument("--measured-with", default="", metavar="S=RUN[,S=RUN]",
                    help="with --run, for a run that learned from this set's recordings (train --extra-train): judge "
                         "split S with RUN, the same recipe trained without split S, and store that as --run's "
                         "evaluation of S (cross-fitted, like out-of-fold predictions)")
    ap.add_argument("--quieter", type=float, default=0.0, metavar="DB",
                    help="judge every clip played DB decibels quieter, as a recording made at a lower level (copies in "
                         "a temporary folder; not with --save: stored evaluations are of the set as recorded); a "
                         "negative DB makes it louder, clipped at full scale as a recorder clips")
    ap.add_argument("--inside", default="", metavar="silence:S | noise:S:DBFS",
                    help="judge every clip in the middle of a longer recording: S seconds of digital silence, or of "
                         "noise at DBFS RMS, around it (not with --save)")
    ap.add_argument("--rate", type=int, default=0, metavar="HZ",
                    help="judge every clip recorded at a lower sample rate (e.g. 8000, a phone call; not with --save)")
    ap.add_argument("--offset", type=float, default=0.0, metavar="DC",
                    help="judge every clip with a DC offset added (e.g. 0.02; a fault of some recorders; not with --save)")
    ap.add_argument("--room", default="", metavar="RT60:METRES",
                    help="judge every clip played from a loudspeaker in a room whose reverberation time is RT60 seconds, "
                         "recorded METRES away (e.g. 0.6:2, a living room; up to 2.5 m; not with --save)")
    ap.add_argument("--noise", type=float, default=None, metavar="SNR_DB",
                    help="judge every clip with pink noise SNR_DB decibels below it (e.g. 20, a fan in the room; not "
                         "with --save)")
    args = ap.parse_args()
    room = _room(args.room) if args.room else None
    if args.noise is not None and not math.isfinite(args.noise):
        sys.exit(f"bench_realworld: --noise {args.noise}: decibels below the clip, e.g. 20")
    if args.rate and args.rate < 1000:
        sys.exit(f"bench_realworld: --rate {args.rate}: a sample rate in Hz, e.g. 8000 or 16000")
    changed = args.quieter or args.inside or args.offset or args.rate or room or args.noise is not None
    if changed and args.save:
        sys.exit("bench_realworld: --quieter, --inside, --offset, --rate, --room and --noise do not go with --save")
    if args.inside and not (args.inside.startswith("silence:") and args.inside.count(":") == 1
                            or args.inside.startswith("noise:") and args.inside.count(":") == 2):
        sys.exit(f"bench_realworld: --inside {args.inside!r}: write silence:SECONDS or noise:SECONDS:DBFS")
    measured_with = dict(x.strip().split("=", 1) for x in args.measured_with.split(",") if x.strip())
    if measured_with and not args.run:
        sys.exit("bench_realworld: --measured-with goes with --run")
    if not (SET / "labels.csv").is_file():
        sys.exit(f"bench_realworld: no real-world set at {SET}; build it with `python -m tests.realworld.build`")
    from soundlab.classify import load_classifier
    from soundlab.models.backbone import load_backbone

    s = get_settings()
    root = SET
    if changed:
        scratch = tempfile.TemporaryDirectory(prefix="soundlab-changed-")
        root = changed_copy(SET, Path(scratch.name), quieter_db=args.quieter, inside=args.inside, offset=args.offset,
                            rate=args.rate, room=room, noise_db=args.noise)
        print(f"every clip {args.quieter:g} dB quieter" + (f", inside {args.inside}" if args.inside else "")
              + (f", DC offset {args.offset:g}" if args.offset else "") + (f", at {args.rate} Hz" if args.rate else "")
              + (f", in a room (rt60 {room[0]:g} s, {room[1]:g} m away)" if room else "")
              + (f", pink noise {args.noise:g} dB below" if args.noise is not None else ""))
    all_runs, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    chosen = [r for r in all_runs if r.classifies_audio and (r.id == args.run if args.run else r.task == args.task)]
    splits = [x.strip() for x in args.split.split(",") if x.strip()]
    backbones: dict = {}
    print(f"{'model':84s} {'ESC-50 CV':>14s} {'real cond.':>10s} "
          + " ".join(f"{'[' + sp + '] right+acc  top-1 balanced rejected flagged':>48s}" for sp in splits))
    for run in runs.best_first(chosen):
        for model in run.model_names:
            bb = backbones.setdefault(run.backbone_key, load_backbone(run.backbone_key, s))
            clf = load_classifier(run, model, bb)
            labelled = external.read_labelled(root / "labels.csv", clf.classes, clf.class_names)
            cv = run.model(model)["cv"]
            cells = []
            t0 = time.monotonic()
            for sp in splits:
                if sp in measured_with:
                    other = runs.find(all_runs, measured_with[sp])
                    ev = external.evaluate(load_classifier(other, model, bb), split_of(labelled, sp),
                                           limits=s.classify_limits)
                    ev.run_id, ev.measured_with = run.id, {
                        "run": other.id,
                        "why": f"{run.id} learned from recordings of this set, so split {sp} was judged by the same "
                               f"recipe trained without split {sp} ({other.id}), as out-of-fold predictions are"}
                else:
                    ev = external.evaluate(clf, split_of(labelled, sp), limits=s.classify_limits)
                if args.save:
                    external.save(run, ev)
                m = ev.summary()
                cells.append(f"{pct(m['named_right_and_accepted']):>17s} {pct(m['accuracy'])} "
                             f"{pct(m['balanced_accuracy']):>8s} {pct(m['genuine_judged_foreign_or_unsure']):>8s} "
                             f"{pct(m['foreign_flagged']):>7s}")
            real = run.model(model).get("real_conditions", {}).get("cv", {}).get("accuracy", float("nan"))
            name = f"{run.task_title} · {run.model_title(model)}"
            print(f"{name[:84]:84s} {pct(cv['accuracy'])} / {pct(run.balanced_accuracy(model))} {pct(real):>10s} "
                  + " ".join(cells)
                  + f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    print("\ntargets: " + ", ".join(f"{k.replace('_', ' ')} {op} {v:.0%}" for k, (v, op) in TARGETS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

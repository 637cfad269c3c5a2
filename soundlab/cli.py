"""Command line: ``python -m soundlab COMMAND``. Run with ``--help`` for the list."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

from soundlab.config import get_settings
from soundlab.errors import AudioError, DatasetError, ParameterError, SoundLabError


class ProgressBar:
    """Progress on standard error with tqdm: one bar per stage ("download", "embed", "chunks" ...).

    Called as ``bar(stage, done, total)``, the signature the core's progress callbacks use; a new stage closes the
    previous bar. `write` prints a log line without breaking the bar.
    """

    FORMAT = "{desc:9s} {percentage:5.1f}%|{bar:30}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # looked up now, not at import (tests and tools redirect it)
        self.stage: str | None = None
        self._bar = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if stage != self.stage or self._bar is None:
            self.close()
            self.stage = stage
            unit = {"download": dict(unit="B", unit_scale=True, unit_divisor=1024)}.get(stage, {})
            self._bar = tqdm(total=total, desc=stage, file=self.stream, bar_format=self.FORMAT if total else None,
                             mininterval=0.1, leave=True, dynamic_ncols=False, **unit)
        if total and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        if total and done >= total:  # a finished bar is closed: log lines written later go below it, not above a redraw
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self.stage = None

    def write(self, message: str) -> None:
        """Print a log line above the bar."""
        from tqdm import tqdm

        tqdm.write(message, file=self.stream)


# What TensorFlow, absl and LiteRT print from C++ when they start ("All log messages before absl::InitializeLog()",
# "I0000 ... port.cc:153] oneDNN custom operations are on", "E0000 ... failed call to cuInit", "INFO: Created TensorFlow
# Lite XNNPACK delegate"): lines that read like errors on a machine without a GPU and say nothing to a user.
NATIVE_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|INFO: Created TensorFlow Lite"
                          r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]"
                          r"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] .*(cuInit|CUDA|cuda|GPU))")


@contextlib.contextmanager
def native_noise_filtered():
    """While a command runs, what C and C++ libraries write to the process's stderr (file descriptor 2) passes through
    a filter that drops `NATIVE_NOISE`; Python's own stderr (SoundLab's messages, warnings, progress bars) is written
    straight to the terminal and never filtered. Written by hand on purpose: TensorFlow 2.21 logs these through absl
    before it reads TF_CPP_MIN_LOG_LEVEL, and no setting silences LiteRT's line."""
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no file descriptor 2 (a detached process): nothing to filter
        yield
        return
    sys.stderr.flush()
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(real), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115

    def pump() -> None:
        with open(read_end, "rb") as pipe, open(os.dup(real), "wb", buffering=0) as out:
            for line in pipe:
                if not NATIVE_NOISE.match(line.decode("utf-8", "replace")):
                    out.write(line)

    thread = threading.Thread(target=pump, name="native-stderr", daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        os.dup2(real, 2)  # closes the pipe's last write end: the pump sees its end and stops
        thread.join(timeout=5)
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(real)


def cmd_info(args: argparse.Namespace) -> int:
    from soundlab.data import layouts, protocol

    s = get_settings()
    status = layouts.from_settings(s)
    if status.problem:
        print(f"{'ESC-50 root' if s.dataset[0] == 'esc50' else 'dataset'}: {status.problem}")
    if status.dataset is None or status.unusable:
        return 1
    ds = status.dataset
    print(f"Using the {ds.describe()}")
    present = ds.present
    folds = present[present["fold"] > 0].groupby("fold").size()
    print(f"Classes with clips: {present['target'].nunique()} of {ds.n_classes}; "
          + ("folds: " + ", ".join(f"{f}: {n}" for f, n in folds.items()) if len(folds) else "no folds of its own"))
    if ds.desc.is_esc50:
        print(f"ESC-10 clips present: {int(present['esc10'].sum())} of {int(ds.meta['esc10'].sum())}")
    else:
        print(f"Groups: {ds.desc.group or 'none (leakage between folds cannot be ruled out)'}")
        for note in ds.desc.notes:
            print(f"note: {note}")
        try:
            print(f"Protocol: {protocol.for_dataset(ds).description}")
        except DatasetError as e:
            print(f"Protocol: none ({e})")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    import os

    from soundlab.config import SETTINGS, settings_markdown

    if args.markdown:
        print(settings_markdown(), end="")
        return 0
    get_settings()  # a setting that cannot be used: one line, exit 2
    for x in SETTINGS:
        value = os.environ.get(x.name)
        print(f"{x.name:34s} {value if value is not None else '(default: ' + x.default.strip('`') + ')'}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from soundlab.data.download import download_esc50
    from soundlab.data.esc50 import load_dataset

    s = get_settings()
    dest = Path(args.dest).resolve() if args.dest else s.esc50_root
    if not args.force and (dest / "meta" / "esc50.csv").is_file():
        try:
            ds = load_dataset(dest)
            if ds.kind == "full":
                print(f"ESC-50 is already complete at {dest} ({ds.n_present} clips). Use --force to fetch it again.")
                return 0
        except DatasetError:
            pass
    bar = ProgressBar()
    try:
        download_esc50(dest, url=args.url or s.esc50_url, timeout_s=s.download_timeout_s, progress=bar,
                       archive=Path(args.archive) if args.archive else None)
    finally:
        bar.close()
    print(f"ESC-50 installed at {dest}")
    if dest != s.esc50_root:
        print(f"Point the app at it with: export SOUNDLAB_ESC50_ROOT={dest}")
    return 0


def cmd_make_sample(args: argparse.Namespace) -> int:
    from soundlab.data.sample import build_sample

    src = Path(args.source)
    out = build_sample(src, Path(args.dest) if args.dest else get_settings().sample_root)
    print(f"sample written to {out}")
    return 0


def _dataset():
    """The dataset the settings choose (SOUNDLAB_DATASET; ESC-50 by default); its validation notes on stderr."""
    from soundlab.data import layouts

    s = get_settings()
    status = layouts.from_settings(s)
    if status.dataset is None:
        raise SystemExit(f"error: no dataset: {status.problem}")
    if status.unusable:  # the app falls back to ESC-50 to stay usable; a command does not
        raise SystemExit(f"error: {status.unusable}")
    if status.problem:
        print(f"note: {status.problem}", file=sys.stderr)
    for note in status.dataset.desc.notes:
        print(f"note: {note}", file=sys.stderr)
    return status.dataset


def _backbone(key: str = "yamnet"):
    from soundlab.models.backbone import load_backbone

    return load_backbone(key, get_settings())


def cmd_embed(args: argparse.Namespace) -> int:
    from soundlab.models import embeddings

    ds = _dataset()
    backbone = _backbone(args.backbone)
    clips = list(zip(ds.present["filename"], ds.present["path"]))
    print(f"{ds.describe()}; backbone {backbone.name} ({backbone.fingerprint}); engine {args.engine}", file=sys.stderr)
    bar = ProgressBar()
    t0 = time.monotonic()
    cache = embeddings.cache_path(get_settings().cache_dir, backbone.fingerprint, args.view)
    try:
        if args.engine == "ray":
            es, failures, stats = _embed_on_ray(args, clips, backbone, bar)
        else:
            es, failures = embeddings.embed_clips(clips, backbone, cache_dir=get_settings().cache_dir,
                                                  view=args.view, progress=functools.partial(bar, "embed"),
                                                  log=bar.write)
            stats = None
    finally:
        bar.close()
    dt = time.monotonic() - t0
    for name, msg in failures:
        print(f"skipped {name}: {msg}", file=sys.stderr)
    extra = "" if stats is None else (f"; {stats['computed']} computed on Ray in {stats['shards']} shard(s), "
                                      f"{stats['resumed']} resumed from committed shards")
    print(f"{len(es)} clips embedded ({args.view} view) in {dt:.1f} s ({len(es) / max(dt, 1e-9):.0f} clips/s){extra}; "
          f"cache: {cache}")
    return 1 if failures else 0


def _embed_on_ray(args: argparse.Namespace, clips, backbone, bar):
    """`embed --engine ray`: start or join Ray (--address), embed there, shut the driver's connection down."""
    import os

    from soundlab.config import PROJ_ROOT
    from soundlab.models import ray_embed

    ray = ray_embed.require_ray()
    # the actors import soundlab from this checkout and see the same SOUNDLAB_* settings (on a cluster, every node
    # needs this checkout and the model files at the same path, or settings that point to its own copies)
    env = {k: v for k, v in os.environ.items() if k.startswith("SOUNDLAB_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJ_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(address=args.address, runtime_env={"env_vars": env}, log_to_driver=False,
             include_dashboard=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # our tqdm bar counts clips
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        return ray_embed.embed_clips_ray(clips, backbone, cache_dir=get_settings().cache_dir, view=args.view,
                                         actors=args.actors, batch_size=args.batch_size, shard_size=args.shard_size,
                                         progress=functools.partial(bar, "embed"), log=bar.write)
    finally:
        ray.shutdown()


def _trainers(args: argparse.Namespace) -> list:
    """The trainers `train` runs for --model, --backbone and --heads (one per run and task)."""
    from soundlab import augment
    from soundlab.models import scratch

    s = get_settings()
    real = {"off": {}, "score": {"real_test": True},
            "train": {"real_test": True, "real_views": augment.TRAIN_VIEWS},
            "rates": {"real_test": True, "real_views": tuple(augment.RATE_VIEWS)},
            "rooms": {"real_test": True, "real_views": augment.ROOM_VIEWS}}[args.real_conditions]
    if args.model in ("heads", "yamnet"):
        from soundlab.models.backbone import REGISTRY
        from soundlab.train.heads import HeadsConfig, HeadsTrainer

        kinds = tuple(k.strip() for k in args.heads.split(",")) if args.heads else HeadsConfig.heads
        cfg = HeadsConfig(heads=kinds, seed=args.seed, **real, logreg_standardize=args.standardize,
                          extra_weight=args.extra_weight,
                          **({"max_epochs": args.max_epochs} if args.max_epochs else {}))
        keys = list(REGISTRY) if args.backbone == "both" else ["yamnet" if args.model == "yamnet" else args.backbone]
        return [HeadsTrainer(_backbone(key), cfg) for key in keys]
    if args.model == "finetune":
        from soundlab.models.efficientat import weight_files
        from soundlab.train.finetune import FinetuneConfig, FinetuneTrainer

        cfg = FinetuneConfig(seed=args.seed, **real, extra_weight=args.extra_weight,
                             **({"epochs": args.max_epochs} if args.max_epochs else {}))
        return [FinetuneTrainer(weight_files(s)[0], cfg)]
    if args.real_conditions != "off":
        raise SystemExit("error: --real-conditions works with --model heads or finetune, not the models trained from "
                         "scratch")
    from soundlab.models import features
    from soundlab.train.scratch import ScratchConfig, ScratchTrainer

    cfg = ScratchConfig(seed=args.seed, **({"epochs": args.max_epochs} if args.max_epochs else {}))
    try:
        specs = features.specs_for(s.logmel_sr, s.logmel_fmax_hz)
    except ParameterError as e:
        raise SystemExit(f"error: {e} (settings SOUNDLAB_LOGMEL_SR, SOUNDLAB_LOGMEL_FMAX_HZ)") from e
    kinds = scratch.SCRATCH_MODELS if args.model == "scratch" else (args.model,)
    return [ScratchTrainer(kind, cfg, specs) for kind in kinds]


def cmd_train(args: argparse.Namespace) -> int:
    from soundlab.train import train_run

    ds = _dataset()
    s = get_settings()
    if args.heads:
        from soundlab.models.heads import HEAD_KINDS

        unknown = [k for k in args.heads.split(",") if k.strip() not in HEAD_KINDS]
        if unknown:
            raise SystemExit(f"error: unknown head kind(s) {', '.join(unknown)}; known: {', '.join(HEAD_KINDS)}")
    tasks = list(ds.desc.tasks) if args.task == "both" else [args.task]
    if any(t not in ds.desc.tasks for t in tasks):
        raise SystemExit(f"error: --task {args.task} is a task of ESC-50; the dataset in use is {ds.title}, whose task "
                         f"is {ds.desc.tasks[0]} (leave --task out)")
    labels = None
    if args.labels:
        if not ds.desc.is_esc50:
            raise SystemExit("error: --labels takes corrected ESC-50 labels; the dataset in use is " + ds.title)
        from soundlab.data.protocol import read_labels

        try:
            labels = (read_labels(args.labels, ds.meta), args.labels)
        except DatasetError as e:
            raise SystemExit(f"error: {e}") from None
    extra = None
    if args.extra_train:
        if args.model not in ("heads", "yamnet", "finetune"):
            raise SystemExit("error: --extra-train works with --model heads or finetune, not the models trained from "
                             "scratch")
        extra = (args.extra_train, tuple(s.strip() for s in args.extra_split.split(",") if s.strip()))
    elif args.extra_split:
        raise SystemExit("error: --extra-split chooses among the rows of --extra-train; give that too")
    if args.extra_weight != 1.0 and not args.extra_train:
        raise SystemExit("error: --extra-weight weighs the windows of --extra-train; give that too")
    if not 0 < args.extra_weight < float("inf"):
        raise SystemExit(f"error: --extra-weight must be a finite number above 0, not {args.extra_weight:g}")
    trainers = _trainers(args)
    for task in tasks:
        for trainer in trainers:
            bar = ProgressBar()
            try:
                path = train_run(ds, task, trainer, cache_dir=s.cache_dir, runs_dir=s.artifacts_dir / "runs",
                                 log=bar.write, progress=functools.partial(bar, "inputs"), labels=labels,
                                 extra_train=extra)
            finally:
                bar.close()
            print(path)
    return 0


def _listed_runs(s) -> list:
    """The usable runs; each unusable run folder is named on standard error."""
    from soundlab import runs

    all_runs, problems = runs.list_runs(s.artifacts_dir)
    for p in problems:
        print(f"unusable run: {p}", file=sys.stderr)
    return all_runs


def _classifier_for(s, run_id: str | None, model: str | None):
    """The classifier `classify` and `evaluate --external` use: the named run, else the preferred run of the dataset
    in use that classifies audio (RunError with the reason when there is none)."""
    from soundlab import runs
    from soundlab.classify import load_classifier
    from soundlab.data.layouts import dataset_id

    all_runs, problems = runs.list_runs(s.artifacts_dir)
    all_runs = [r for r in all_runs if r.classifies_audio]  # from-scratch runs classify features, not audio here
    in_use = dataset_id(s)
    run = runs.find(all_runs, run_id) if run_id else runs.preferred(runs.of_dataset(all_runs, in_use))
    if run is None:
        from soundlab.errors import RunError

        raise RunError(f"no trained run of the dataset in use ({in_use}) found in {s.artifacts_dir / 'runs'}; "
                       "train one with `python -m soundlab train`, or name one with --run"
                       + (f" ({'; '.join(problems)})" if problems else ""))
    clf = load_classifier(run, model, _backbone(run.backbone_key))
    for w in clf.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return clf


def cmd_evaluate_external(args: argparse.Namespace) -> int:
    import json

    from soundlab import external

    s = get_settings()
    clf = _classifier_for(s, args.run, args.model)
    labelled = external.without_training_clips(external.read_labelled(args.external, clf.classes, clf.class_names),
                                               clf.run)
    for problem in labelled.problems:
        print(f"note: {problem}", file=sys.stderr)
    print(f"{clf.run.id} · {clf.kind} on {len(labelled.items)} clips of {labelled.root}", file=sys.stderr)
    bar = ProgressBar()
    try:
        ev = external.evaluate(clf, labelled, limits=s.classify_limits, progress=functools.partial(bar, "clips"),
                               name=args.name, screened=True)
    finally:
        bar.close()
    for c in ev.clips:
        if c.error:
            print(f"skipped {c.filename}: {c.error}", file=sys.stderr)
    m = ev.summary()
    if args.csv:
        from soundlab.storage import write_text_atomic

        write_text_atomic(Path(args.csv), ev.table().to_csv(index=False))
    if args.save:
        print(f"stored: {external.save(clf.run, ev)}", file=sys.stderr)
    if args.json:
        print(json.dumps(ev.to_json(), indent=1))
        return 0
    pct = lambda x: "  n/a" if x != x else f"{x:6.1%}"  # noqa: E731
    print(f"{ev.set_name}: {m['n_in_set']} clips of {m['classes_present']} classes, {m['n_foreign']} foreign"
          + (f", {m['n_errors']} unreadable" if m["n_errors"] else ""))
    print(f"  named right and accepted        {pct(m['named_right_and_accepted'])}")
    print(f"  right class on top               {pct(m['accuracy'])}  (balanced {pct(m['balanced_accuracy']).strip()}, "
          f"top-3 {pct(m['top3_accuracy']).strip()})")
    print(f"  genuine judged foreign / unsure  {pct(m['genuine_judged_foreign_or_unsure'])}")
    print(f"  foreign sounds flagged           {pct(m['foreign_flagged'])}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from soundlab import metrics, runs

    if args.external:
        return cmd_evaluate_external(args)
    all_runs = _listed_runs(get_settings())
    chosen = [runs.find(all_runs, args.run)] if args.run else all_runs
    if not chosen:
        print("no runs found; train one with `python -m soundlab train`", file=sys.stderr)
        return 1
    out = []
    for run in chosen:
        print(f"{run.id}\n  protocol: {run.protocol['description']}")
        for name in ([args.model] if args.model else run.model_names):
            oof = runs.read_oof(run, name)
            m = metrics.summary(oof["true"].to_numpy(), runs.oof_probs(run, oof), oof["fold"].to_numpy())
            out.append({"run": run.id, "model": name, **m})
            print(f"  {name:9s} accuracy {m['accuracy']:.4f}  balanced {m['balanced_accuracy']:.4f}  "
                  f"top-3 {m['top3_accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
                  f"per fold {m['fold_mean']:.4f} +- {m['fold_std']:.4f}  (n={m['n']})")
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


def _second_tagger(run, names, s):
    """The `second` argument of `openset.calibrate` for a fused model that also hears through YAMNet, else None."""
    from soundlab import runs
    from soundlab.models.backbone import tag_names_of

    stored = runs.read_second_tags(run)
    if stored is None:
        return None
    key = run.model(run.default_model)["second"]["backbone"]
    order = {f: i for i, f in enumerate(stored[0])}
    return (runs.BACKBONE_TITLES.get(key, key), stored[1][[order[f] for f in names]], stored[2], tag_names_of(key, s))


def cmd_calibrate(args: argparse.Namespace) -> int:
    from soundlab import openset, runs
    from soundlab.models.backbone import tag_names_of

    s = get_settings()
    all_runs, problems = runs.list_runs(s.artifacts_dir)
    chosen = [runs.find(all_runs, args.run)] if args.run else [r for r in all_runs if r.classifies_audio]
    if not chosen:
        print("no runs of heads on a backbone found", file=sys.stderr)
        return 1
    for run in chosen:
        if not run.classifies_audio:
            print(f"{run.id}: models trained from scratch have no open-set check (skipped)", file=sys.stderr)
            continue
        names, pooled, tags = runs.read_embeddings(run)
        oof = {n: runs.read_oof(run, n).set_index("filename").loc[list(names)] for n in run.model_names}
        first = oof[run.default_model]
        tag_names = tag_names_of(run.backbone_key, s)
        calibrations = openset.calibrate_models(
            {n: t[[f"p_{c}" for c in run.classes]].to_numpy(np.float32) for n, t in oof.items()},
            pooled=pooled, tags=tags, labels=first["true"].to_numpy(), folds=first["fold"].to_numpy(),
            n_classes=len(run.classes), tag_names=tag_names, extra=runs.read_extra_embeddings(run),
            second=_second_tagger(run, names, s), outside=runs.read_outside_embeddings(run))
        path = runs.write_openset(run, calibrations)
        print(f"{run.id}: " + ", ".join(f"{n} {c['oof']['in_set']:.1%} in-set" for n, c in calibrations.items())
              + f" (nested, out of fold) -> {path}")
    return 0


def cmd_fuse(args: argparse.Namespace) -> int:
    from soundlab import runs
    from soundlab.models.backbone import tag_names_of
    from soundlab.train import fusion

    s = get_settings()
    all_runs = _listed_runs(s)
    if args.finetuned or args.heads_run:
        if not (args.finetuned and args.heads_run):
            raise SystemExit("error: name both runs (--finetuned and --heads-run), or neither")
        pairs = [(runs.find(all_runs, args.finetuned), runs.find(all_runs, args.heads_run))]
    else:
        tasks = sorted({r.task for r in all_runs if r.family == fusion.TUNED_FAMILY}) if args.task == "both" \
            else [args.task]
        if not tasks:
            raise SystemExit("error: no fine-tuned run found; train one with `python -m soundlab train --model finetune`")
        pairs = [fusion.pick_members(all_runs, task) for task in tasks]
    second = None
    if args.second_run:
        if len(pairs) != 1:
            raise SystemExit("error: --second-run goes with --finetuned and --heads-run (one fused run)")
        second_run = runs.find(all_runs, args.second_run)
        second = (second_run, args.second_head or second_run.default_model)
    elif args.second_head:
        raise SystemExit("error: --second-head names a head of --second-run; give that too")
    for tuned, head_run in pairs:
        print(f"fusing {tuned.id} and {head_run.id} ({args.head or head_run.default_model})"
              + (f" and {second[0].id} ({second[1]})" if second else ""))
        print(fusion.fuse(tuned, head_run, args.head, s.artifacts_dir / "runs",
                          tag_names=tag_names_of(fusion.BACKBONE, s), second=second, with_tags=args.tag_evidence,
                          balance=args.class_balance, learn_foreign=args.learn_foreign))
    return 0


def cmd_issues(args: argparse.Namespace) -> int:
    from soundlab import issues, runs

    s = get_settings()
    all_runs, _ = runs.list_runs(s.artifacts_dir)
    usable = [r for r in all_runs if r.classifies_audio]
    run = runs.find(all_runs, args.run) if args.run else runs.preferred(usable)
    if run is None:
        print("error: no run of heads on a backbone found; train one with `python -m soundlab train`", file=sys.stderr)
        return 2
    found = issues.find(run, others=issues.other_runs(usable, run), cache_dir=s.cache_dir)
    print(f"{run.id} ({found.model}): " + ", ".join(f"{n} {issues.KIND_NAMES[k]}" for k, n in found.counts().items())
          + (f"; label issues compared with {', '.join(found.other_runs)}" if found.other_runs else ""),
          file=sys.stderr)
    for kind in issues.KINDS:
        table = found.table(kind)
        if args.csv:
            print(f"# {issues.KIND_NAMES[kind]}")
            print(table.to_csv(index=False), end="")
        else:
            print(f"\n{issues.KIND_NAMES[kind]} ({len(table)})")
            print(table.head(args.top).to_string(index=False) if len(table) else "  none")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from soundlab import report
    from soundlab.storage import write_text_atomic

    all_runs = _listed_runs(get_settings())
    if not all_runs:
        print("no runs found; train one with `python -m soundlab train`", file=sys.stderr)
        return 1
    if args.update:
        for path in map(Path, args.update):
            text, done = report.update(path.read_text(), all_runs)
            if not done:
                print(f"error: {path} has no generated block (see soundlab/report.py: BLOCKS)", file=sys.stderr)
                return 1
            write_text_atomic(path, text)
            print(f"updated the {' and '.join(done)} tables in {path}", file=sys.stderr)
        return 0
    if args.markdown:
        print(report.markdown(all_runs))
        return 0
    for title, rows in report.results(all_runs).items():
        print(title)
        for r in rows:
            print(f"  {r['model']:32s} accuracy {r['accuracy']:.4f}  balanced {r['balanced_accuracy']:.4f}  "
                  f"top-3 {r['top3_accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}"
                  + (f"  vs best YAMNet head {r['vs_best_yamnet_points']:+.1f} points (p={r['p_value']:.2g})"
                     if r.get("p_value") is not None else ""))
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    import json

    from soundlab.classify import classify_audio

    s = get_settings()
    clf = _classifier_for(s, args.run, args.head)
    run = clf.run
    failed = 0
    results = []
    for f in args.files:
        try:
            res = classify_audio(clf, f, limits=s.classify_limits)
        except AudioError as e:
            failed += 1
            results.append({"file": f, "error": str(e)})
            if not args.json:
                print(f"{f}: error: {e}")
            continue
        results.append({"file": f, **res.to_json(args.top)})
        if not args.json:
            verdict = "" if res.verdict is None or res.verdict.in_set else f"  [{res.verdict.message()}]"
            print(f"{f}:{verdict}")
            for c, p in res.top(args.top):
                print(f"  {p:6.1%}  {c}")
    if args.json:
        print(json.dumps({"run": run.id, "head": clf.kind, "results": results}, indent=1))
    return 1 if failed else 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from soundlab import audio
    from soundlab.asr import engines, gate, longform, subtitles

    s = get_settings()
    model = args.model or s.whisper_model
    engine_name = args.engine or s.whisper_engine
    try:
        clip = audio.load(args.file, sr=longform.SAMPLE_RATE, limits=s.transcribe_limits)
    except AudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not args.no_speech_gate:
        checked = gate.speech_gate(clip.y, _backbone())
        print(checked.message(), file=sys.stderr)
        if not checked.passed:
            print("no transcript: pass --no-speech-gate to transcribe anyway", file=sys.stderr)
            return 3
    print(f"loading {model} ({engine_name}) ...", file=sys.stderr)
    engine = engines.load_engine(engine_name, model, threads=s.whisper_threads)
    bar = ProgressBar()
    try:
        result = longform.transcribe(engine, clip.y, language=args.language, task=args.task,
                                     chunk_length_s=args.chunk_s or s.whisper_chunk_s,
                                     stride_s=s.whisper_stride_s if args.stride_s is None else args.stride_s,
                                     progress=functools.partial(
                                         bar, "seconds" if engines.decodes_in_own_windows(engine_name) else "chunks"))
    finally:
        bar.close()
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    lang = result.language or "?"
    if result.language_probability is not None:
        lang += f" ({result.language_probability:.0%})"
    print(f"language {lang}; {result.duration_s:.1f} s of audio in {result.seconds:.1f} s "
          f"(real-time factor {result.real_time_factor:.3f})", file=sys.stderr)
    sys.stdout.write(subtitles.export(result, args.format))
    if args.format in ("json",):
        sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from soundlab.models.backbone import REGISTRY

    BACKBONES = list(REGISTRY)  # noqa: N806 - a constant of this function
    p = argparse.ArgumentParser(prog="python -m soundlab", description="SoundLab command line.")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("info", help="which dataset the app uses and how much of it is on disk")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("settings", help="every setting (environment variable) and its value in effect")
    sp.add_argument("--markdown", action="store_true", help="the reference page docs/configuration.md")
    sp.set_defaults(func=cmd_settings)

    sp = sub.add_parser("download", help="download and install the official ESC-50 archive (~600 MB)")
    sp.add_argument("--dest", help="install here instead of SOUNDLAB_ESC50_ROOT")
    sp.add_argument("--url", help="archive URL (default: SOUNDLAB_ESC50_URL or the GitHub master zip)")
    sp.add_argument("--archive", help="install from a local ESC-50-master.zip instead of downloading")
    sp.add_argument("--force", action="store_true", help="download even if a full dataset is present")
    sp.set_defaults(func=cmd_download)

    sp = sub.add_parser("embed", help="backbone embeddings of every present clip, cached (reruns take seconds)")
    sp.add_argument("--backbone", default="efficientat", choices=BACKBONES,
                    help="default: efficientat (the backbone of the app's default model)")
    sp.add_argument("--view", default="orig", help="orig (default) or shift (the clip delayed by half a frame hop)")
    sp.add_argument("--engine", default="local", choices=["local", "ray"],
                    help="local: in this process (default); ray: a pool of Ray actors (Ray Data map_batches), the "
                         "same cache written in shards, resumable (pip install -r requirements-scale.txt)")
    sp.add_argument("--address", default=None,
                    help="with --engine ray: the cluster to join (auto, ray://host:10001); default: a local Ray")
    sp.add_argument("--actors", type=int, default=2, help="with --engine ray: actors, each holding one backbone")
    sp.add_argument("--batch-size", type=int, default=16, help="with --engine ray: clips per actor call")
    sp.add_argument("--shard-size", type=int, default=256,
                    help="with --engine ray: clips per committed shard (what an interrupted job keeps)")
    sp.set_defaults(func=cmd_embed)

    sp = sub.add_parser("train", help="cross-validate and train the heads; writes a run folder")
    sp.add_argument("--task", default="both", choices=["esc50", "esc10", "both"],
                    help="ESC-50's tasks (default: both); another dataset (SOUNDLAB_DATASET) has one task: leave it out")
    sp.add_argument("--model", default="heads",
                    choices=["heads", "finetune", "cnn", "crnn", "wavecnn", "mfcc-svm", "mfcc-rf", "scratch", "yamnet"],
                    help="heads: heads on the backbone's embeddings (default); finetune: EfficientAT mn04 trained end "
                         "to end; cnn, crnn, wavecnn, mfcc-svm, mfcc-rf: a model trained from scratch on the same folds; "
                         "scratch: all five (yamnet: heads on YAMNet, the 0.1 spelling)")
    sp.add_argument("--backbone", default="efficientat", choices=[*BACKBONES, "both"],
                    help="the backbone of --model heads: efficientat (default: the backbone of the app's default "
                         "model), yamnet, or both (one run each)")
    sp.add_argument("--heads", help="comma-separated subset of attention,mlp,linear,logreg,ensemble")
    sp.add_argument("--max-epochs", type=int, help="epoch cap of the neural heads (default 200); the epochs of a "
                    "from-scratch model (default 60) or of fine-tuning (default 16)")
    sp.add_argument("--standardize", action="store_true",
                    help="heads only: fit the logistic regressions (logreg, linear) on standardised embeddings")
    sp.add_argument("--extra-train", metavar="PATH",
                    help="heads and finetune: also train on these labelled recordings from outside the dataset (a CSV "
                         "filename,label[,split] or a folder per class, as evaluate --external reads; foreign rows "
                         "are skipped). They join every training fold and the deployed model, never a test fold; "
                         "the run says what it was trained on")
    sp.add_argument("--extra-split", default="", metavar="S[,S]",
                    help="keep only the --extra-train CSV rows of these split values (e.g. A: train on split A and "
                         "evaluate on B)")
    sp.add_argument("--extra-weight", type=float, default=1.0, metavar="W",
                    help="each --extra-train window counts as W dataset clips in the fit (default 1)")
    sp.add_argument("--real-conditions", default="off", choices=["off", "score", "train", "rates", "rooms"],
                    help="heads and finetune. score: also score every held-out clip as another recording would give it "
                         "(band limit, room, noise, codec: 'ESC-50 under real conditions'); train: that, and train on "
                         "two such views of every clip too; rates: score, and train on the clip at 8 and 16 kHz; rooms: "
                         "score, and train on the clip played in two rooms (docs/models.md)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--labels", metavar="CSV",
                    help="train and test on corrected labels: a csv in ESC-50's metadata layout (filename, target, "
                         "category), e.g. the export of the Data issues page. Same folds as the official labels; the "
                         "run says its labels differ")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("fuse", help="a run of one fused model: the fine-tuned EfficientAT network and a head on "
                                     "the frozen backbone, combined clip by clip (geometric mean); trains nothing")
    sp.add_argument("--task", default="both", choices=["esc50", "esc10", "both"],
                    help="both (default): every task that has a fine-tuned run; for each, the newest fine-tuned run and "
                         "the newest run of heads on EfficientAT on the same clips and folds")
    sp.add_argument("--finetuned", metavar="RUN", help="the fine-tuned run (with --heads-run; default: the newest)")
    sp.add_argument("--heads-run", metavar="RUN", help="the run of heads on EfficientAT (default: the newest)")
    sp.add_argument("--head", help="the head to fuse (default: that run's default, its best by balanced accuracy)")
    sp.add_argument("--second-run", metavar="RUN",
                    help="also fuse a head on another backbone (a run of heads on YAMNet on the same clips and folds): "
                         "a third member that hears each window through YAMNet (costs its pass per window)")
    sp.add_argument("--second-head", help="the head of --second-run (default: that run's default)")
    sp.add_argument("--tag-evidence", action="store_true",
                    help="one more member per backbone: the class whose training clips its AudioSet tags describe "
                         "most alike (docs/models.md)")
    sp.add_argument("--class-balance", action="store_true",
                    help="divide out the training clips' class frequencies, so that a class with more clips in the "
                         "dataset is not favoured (ESC-50's dev subset has 8 to 40 per class; docs/models.md)")
    sp.add_argument("--learn-foreign", action="store_true",
                    help="the open-set check also learns what is none of the classes from the `foreign` rows of the "
                         "heads' --extra-train CSV (same splits); its score replaces the embedding distance "
                         "(docs/models.md)")
    sp.set_defaults(func=cmd_fuse)

    sp = sub.add_parser("evaluate", help="recompute the metrics of runs from their stored predictions; with "
                                         "--external, judge a labelled folder of your own recordings")
    sp.add_argument("--run", help="a run id (default: all runs; with --external, the preferred run)")
    sp.add_argument("--model", help="one model of the run (default: all of them; with --external, the run's default)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--external", metavar="PATH",
                    help="a folder with a subfolder per class (class key or name; 'foreign' for sounds of none of "
                         "the classes), or a CSV filename,label: every clip is classified as the Classify page does")
    sp.add_argument("--csv", metavar="FILE", help="with --external: every clip's answer, as CSV")
    sp.add_argument("--save", action="store_true",
                    help="with --external: store the evaluation in the run's folder, for the Metrics page")
    sp.add_argument("--name", help="with --external: the evaluation's name (default: the folder's or CSV's name)")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("issues", help="label issues, near-duplicates, outliers and under-performing groups of a "
                                      "run's clips (cleanlab), ranked")
    sp.add_argument("--run", help="a run id (default: the preferred run of heads on a backbone)")
    sp.add_argument("--csv", action="store_true", help="every row, as CSV (one block per kind)")
    sp.add_argument("--top", type=int, default=10, help="rows per kind in the text output (default 10)")
    sp.set_defaults(func=cmd_issues)

    sp = sub.add_parser("calibrate", help="recompute the open-set calibration of runs from their stored predictions "
                                          "and embeddings (writes openset.json in the run folder)")
    sp.add_argument("--run", help="a run id (default: every run of heads on a backbone)")
    sp.set_defaults(func=cmd_calibrate)

    sp = sub.add_parser("report", help="every model of the shipped runs, per task: accuracy, balanced accuracy, "
                                       "ESC-10 vs other classes, McNemar against the best YAMNet head")
    sp.add_argument("--markdown", action="store_true", help="the result tables of docs/results.md")
    sp.add_argument("--update", metavar="FILE", nargs="+",
                    help="rewrite the generated tables of these files (README.md, docs/results.md)")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("classify", help="top classes of audio files with the deployed head")
    sp.add_argument("files", nargs="+")
    sp.add_argument("--run", help="run id (default: the preferred run)")
    sp.add_argument("--head", help="head of the run (default: the run's best)")
    sp.add_argument("--top", type=int, default=5)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_classify)

    sp = sub.add_parser("transcribe", help="speech to text with Whisper (prints the transcript)")
    sp.add_argument("file")
    sp.add_argument("--model", help="hub id or local Whisper folder (default: SOUNDLAB_WHISPER_MODEL)")
    sp.add_argument("--engine", choices=["transformers", "faster-whisper"], help="default: SOUNDLAB_WHISPER_ENGINE")
    sp.add_argument("--language", help="ISO code such as en, de (default: detect)")
    sp.add_argument("--task", choices=["transcribe", "translate"], default="transcribe")
    sp.add_argument("--format", choices=["txt", "srt", "vtt", "json"], default="txt")
    sp.add_argument("--chunk-s", type=float, help="chunk length in seconds (5-30)")
    sp.add_argument("--stride-s", type=float, help="where to look for a pause before each cut, in seconds")
    sp.add_argument("--no-speech-gate", action="store_true", help="transcribe even when YAMNet hears no speech")
    sp.set_defaults(func=cmd_transcribe)

    sp = sub.add_parser("make-sample", help="rebuild the shipped sample (one FLAC clip per class)")
    sp.add_argument("source", help="an ESC-50 folder (meta/ and audio/) with at least one clip per class")
    sp.add_argument("--dest", help="output folder (default: the shipped sample folder)")
    sp.set_defaults(func=cmd_make_sample)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's Python-side start-up chatter
    try:
        with native_noise_filtered():
            return args.func(args)
    except SoundLabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a folder that cannot be written: one line, not a traceback
        import errno

        where = f" ({e.filename})" if e.filename else ""
        if e.errno == errno.ENOSPC:
            print(f"error: the disk is full{where}; nothing half-written was kept (caches, runs and the dataset are "
                  "written to a temporary file or folder and moved into place only when complete)", file=sys.stderr)
        else:
            print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130

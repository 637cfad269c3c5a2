"""Command line: ``python -m soundlab COMMAND``. Run with ``--help`` for the list."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from soundlab.config import get_settings
from soundlab.errors import SoundLabError


class ProgressBar:
    """A one-line progress bar on standard error (no dependency, works in any terminal)."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.stage = None
        self.t0 = time.monotonic()
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if stage != self.stage:
            if self.stage is not None:
                self.stream.write("\n")
            self.stage, self.t0 = stage, now
        elif now - self.last < 0.1 and not (total and done >= total):
            return
        self.last = now
        if stage == "download":
            rate = done / max(now - self.t0, 1e-6) / 2**20
            amount = f"{done / 2**20:.1f}" + (f"/{total / 2**20:.1f}" if total else "") + f" MB {rate:.1f} MB/s"
        else:
            amount = f"{done}/{total}" if total else ""
        if total:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{stage:9s} [{bar}] {100 * done / total:5.1f}% {amount}")
        else:
            self.stream.write(f"\r{stage:9s} {amount}")
        self.stream.flush()

    def close(self) -> None:
        if self.stage is not None:
            self.stream.write("\n")


def cmd_info(args: argparse.Namespace) -> int:
    from soundlab.dataset import resolve_dataset

    s = get_settings()
    status = resolve_dataset(s.esc50_root, s.sample_root)
    if status.problem:
        print(f"ESC-50 root: {status.problem}")
    if status.dataset is None:
        return 1
    ds = status.dataset
    print(f"Using the {ds.describe()}")
    present = ds.present
    print(f"Classes with clips: {present['target'].nunique()} of 50; folds: "
          + ", ".join(f"{f}: {n}" for f, n in present.groupby("fold").size().items()))
    print(f"ESC-10 clips present: {int(present['esc10'].sum())} of {int(ds.meta['esc10'].sum())}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from soundlab.dataset import DatasetError, load_dataset
    from soundlab.download import download_esc50

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
    from soundlab.sample import build_sample

    src = Path(args.source)
    out = build_sample(src, Path(args.dest) if args.dest else get_settings().sample_root)
    print(f"sample written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m soundlab", description="SoundLab command line.")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("info", help="which dataset the app uses and how much of it is on disk")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("download", help="download and install the official ESC-50 archive (~600 MB)")
    sp.add_argument("--dest", help="install here instead of SOUNDLAB_ESC50_ROOT")
    sp.add_argument("--url", help="archive URL (default: SOUNDLAB_ESC50_URL or the GitHub master zip)")
    sp.add_argument("--archive", help="install from a local ESC-50-master.zip instead of downloading")
    sp.add_argument("--force", action="store_true", help="download even if a full dataset is present")
    sp.set_defaults(func=cmd_download)

    sp = sub.add_parser("make-sample", help="rebuild the shipped sample (one FLAC clip per class)")
    sp.add_argument("source", help="an ESC-50 folder (meta/ and audio/) with at least one clip per class")
    sp.add_argument("--dest", help="output folder (default: the shipped sample folder)")
    sp.set_defaults(func=cmd_make_sample)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SoundLabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130

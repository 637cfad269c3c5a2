"""Where a page's server time goes: py-spy samples the running app while a browser visits the page. Run:

    .venv/bin/python bench/profile_pages.py --pages Classify,Metrics --visits 8

The app is started as bench/bench_pages.py starts it (the README's command, on 127.0.0.1); each page gets one visit to
warm the caches, then `--visits` visits in new browser contexts while py-spy (`pip install py-spy`: a sampling
profiler that attaches to a running process; not a runtime dependency) records the server at `--rate` Hz. Printed per
page: CPU seconds of the script thread per visit, split into the page's own code, Streamlit's work before and after
the script (e.g. garbage collection), and the functions (ours and libraries') with the most samples, cumulative.
`--raw DIR` keeps py-spy's raw stacks (one line per stack: frames separated by ";", then the sample count) for a
flame graph.

What it found (2-core machine, November 2026): on Classify, 85% of the script thread's CPU was two full garbage
collections after every run, one by Streamlit (runner.postScriptGC) and one inside keras.backend.clear_session, which
Streamlit calls after every run once keras is imported; both are now off (.streamlit/config.toml,
components/page.py), and the thread's CPU per warm visit fell from about 1.0 s to 0.13 s.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pages import (
    BenchError,
    PageSpec,
    app_server,
    cache_folder,
    check_chromium,
    install_signal_handlers,
    resolve_dataset,
    select_pages,
    visit,
)
from common import ROOT  # noqa: F401  (puts the repo on sys.path)

SCRIPT_THREAD = "_run_script_thread"
PAGE_CODE = "code_to_exec"


def find_py_spy() -> str:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise BenchError("py-spy is not installed: `.venv/bin/pip install py-spy` (a profiler, not needed by the app)")
    return exe


def parse_raw(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (file.py:123)` for library frames; our own files keep their folder."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for ours in ("pages/", "components/", "soundlab/", "Home.py"):
        if ours in where and ".venv" not in where and "site-packages" not in where:
            return f"{name} ({where[where.index(ours):]})"
    return f"{name} ({where.rsplit('/', 1)[-1]})"


def summarize(stacks: list[tuple[list[str], int]], rate: float, visits: int, top: int) -> None:
    script = [(s, c) for s, c in stacks if any(SCRIPT_THREAD in f for f in s)]
    total = sum(c for _, c in script)
    if not total:
        print("  no samples in a script thread (did the page run?)")
        return
    in_page = sum(c for s, c in script if any(PAGE_CODE in f for f in s))
    per = total / rate / visits
    print(f"  script thread: {per:.3f} CPU s per visit ({total} samples); the page's code {in_page / total:.0%}, "
          f"Streamlit around it {(total - in_page) / total:.0%}")
    cum: collections.Counter = collections.Counter()
    for s, c in script:
        for f in {short(f) for f in s}:
            cum[f] += c
    skip = ("process ", "_bootstrap", "Thread.run", "_run_script_thread", "ScriptRunner._run_script (", "code_to_exec",
            "exec_func_with_error_handling", "_mpa_v1", "Page.run", "<module> (")
    print(f"  {'samples':>7s} {'share':>6s} {'s/visit':>8s}  function (cumulative)")
    shown = 0
    for f, c in cum.most_common():
        if any(k in f for k in skip):
            continue
        print(f"  {c:7d} {c / total:6.1%} {c / rate / visits:8.3f}  {f[:110]}")
        shown += 1
        if shown >= top:
            break


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", default="Classify,Metrics", help="comma-separated page names of bench_pages.py")
    ap.add_argument("--visits", type=int, default=8, help="profiled visits per page (after one warm-up visit)")
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=25, help="functions listed per page")
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--raw", type=Path, default=None, help="keep py-spy's raw stacks in this folder")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    install_signal_handlers()
    try:
        py_spy = find_py_spy()
        check_chromium()
        dataset, clips = resolve_dataset(args.dataset)
        pages = select_pages(args.pages)
        profile(args, py_spy, dataset, clips, pages)
    except BenchError as e:
        sys.exit(f"profile_pages: {e}")
    except KeyboardInterrupt:
        sys.exit("profile_pages: interrupted (the server was stopped)")


def profile(args, py_spy: str, dataset: Path, clips: list[str], pages: list[PageSpec]) -> None:
    from tests.browser import launch_chromium

    out_dir = args.raw or Path(tempfile.mkdtemp(prefix="profile-pages-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with cache_folder(None) as cache, launch_chromium() as browser, app_server(dataset, cache) as server:
        print(f"app: {server.how}, pid {server.pid}; {args.visits} profiled visits per page at {args.rate} Hz")
        for spec in pages:
            kw = dict(clip=clips[0], n_clips=len(clips), timeout_s=args.timeout)
            warm = visit(browser, server, spec, "warm-up", **kw)
            if warm.error:
                raise BenchError(f"{spec.name}: {warm.error}")
            raw = out_dir / f"{spec.name.replace(' ', '_')}.txt"
            spy = subprocess.Popen([py_spy, "record", "-p", str(server.pid), "-o", str(raw), "-f", "raw",
                                    "-r", str(args.rate), "--nonblocking", "--subprocesses"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(1.0)  # py-spy attaches
            t0 = time.perf_counter()
            errors = [v.error for v in (visit(browser, server, spec, "warm", **kw) for _ in range(args.visits))
                      if v.error]
            wall = time.perf_counter() - t0
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            try:
                _, err = spy.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                raise BenchError("py-spy did not stop") from None
            if not raw.exists():
                raise BenchError(f"py-spy wrote nothing: {err.strip()[-300:]}")
            print(f"\n{spec.name} ({spec.what}): {args.visits} visits in {wall:.1f} s" +
                  (f"; {len(errors)} failed: {errors[0]}" if errors else ""))
            summarize(parse_raw(raw), args.rate, args.visits, args.top)
    print(f"\nraw stacks: {out_dir}")


if __name__ == "__main__":
    main()

"""Concurrent sessions against one app server: wall times per step, errors, server CPU per page view and server memory
(is there a per-session leak?). Run:

    .venv/bin/python bench/bench_load.py                        # 5, 10 and 20 concurrent sessions, then 100 churned
    .venv/bin/python bench/bench_load.py --sessions 5,10 --churn 40 --json test-output/bench-load.json

The app is started as bench/bench_pages.py starts it (scripts/run-app.sh on 127.0.0.1 and a free port, headless, the
dev dataset `.test-assets/ESC-50-dev` or `--dataset PATH`, a temporary SOUNDLAB_CACHE_DIR or `--cache-dir PATH`).
One headless Chromium (Debian's /usr/bin/chromium through Playwright's async API) holds one browser context per
session, as Streamlit's own load tests do. Each session walks a realistic path:

    Home             open the app (a new page load)                       -> the dataset counts
    Explore          open a random clip by its link (?clip=<file>)        -> waveform and mel spectrogram drawn
    Classify clip    sidebar link to Classify, then pick a random clip    -> its 50-class bars
    Classify upload  "Upload", then a random wav of the dataset           -> its 50-class bars
    Metrics          sidebar link to Metrics                              -> the summary metrics
    Metrics cell     click the largest off-diagonal confusion-matrix cell -> the list of its clips

(Home and the Explore link are page loads, so a walk is two Streamlit sessions; the rest is navigation inside the app.)
First one untimed warm-up walk, then each level of --sessions (default 5,10,20) starts that many walks at once; then
--churn sessions (default 100) come and go in batches of --churn-batch, each context closed after its walk; then,
unless --ttl-wait 0, a wait for Streamlit to drop the disconnected sessions (it keeps them server.disconnectedSessionTTL
= 120 s, up to 128 of them, for reconnection) and one probe walk.

Reported per level: wall time per step (p50, p95 nearest-rank) from the action to the content on screen; the script
time per step (the websocket's new_session -> script_finished messages as the browser receives them: an approximation
of the server-side script time, which Streamlit reports itself only with browser.gatherUsageStats on, off in this app);
errors (any `stException` element on the page, any timeout; a walk stops at its first error); server CPU seconds per
page view (utime+stime of the server's process tree over the level, children included, / the steps run); the CPU the
benchmark's own browser and driver used (same machine: it competes with the server); server RSS (summed over its
process tree) at start, after the warm-up, after each level, after each churn batch and after the TTL wait.
With every clip in play (the default), RSS also grows while the app's bounded per-clip caches fill (audio, mel,
envelope, classification: 64-256 entries each); `--clip-pool 8` keeps the walks on 8 clips, so those caches are full
after the warm-up and what still grows is per-session state.
Targets: <= 0.3 server CPU-s per warm page view; 20 concurrent sessions with zero errors; RSS flat after warm-up
(RSS after the churn, or after the TTL wait when measured, within 5% of RSS after the last level).
The whole run is bounded by --timeout (default 900 s): what does not fit is reported as not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import sys
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_pages import (  # first: it puts the repo on sys.path (through common) for tests.browser
    BARS_READY,
    EXCEPTIONS_JS,
    EXPLORE_READY,
    HOME_READY,
    METRICS_READY,
    SCRIPT_IDLE_JS,
    UPLOADER_READY,
    VIEWPORT,
    BenchError,
    WsMeter,
    app_server,
    cache_folder,
    check_chromium,
    common_args,
    fmt_bytes,
    fmt_s,
    install_signal_handlers,
    json_ready,
    loadavg,
    median,
    p95,
    resolve_dataset,
    tree_usage,
)

from tests.browser import CHROMIUM, CHROMIUM_ARGS

STEPS = ["home", "explore", "classify_clip", "classify_upload", "metrics", "metrics_cell"]
LABELS = {"home": "Home", "explore": "Explore clip (link)", "classify_clip": "Classify clip (nav+pick)",
          "classify_upload": "Classify upload", "metrics": "Metrics (nav)", "metrics_cell": "Metrics cell click"}
CPU_TARGET_S = 0.3
RSS_FLAT = 0.05
POLL_MS = 100

# the largest off-diagonal cell of Metrics' confusion grid (components/grid_select: its cells carry data-cell="t,p"
# and a title "true A → predicted B: N clips ..."); run on the grid's cells, which Playwright finds in the shadow root
CELL_JS = """cells => {
    let best = null;
    for (const c of cells) {
        const [t, p] = c.dataset.cell.split(",").map(Number), n = parseInt((c.title.match(/: (\\d+) clip/) || [])[1]);
        if (t !== p && n > 0 && (!best || n > best[0])) best = [n, c.dataset.cell];
    }
    return best && best[1];
}"""
CELL_HEADING = re.compile(r"^\d+ clips?: true .+, predicted ")


@dataclass
class Step:
    step: str
    wall_s: float = math.nan  # action -> content on screen
    end_s: float = math.nan  # action -> last script_finished
    script_s: float = math.nan  # sum of new_session -> script_finished
    ws_bytes: int = 0
    error: str = ""
    skipped: bool = False


@dataclass
class Walk:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not s.error and not s.skipped for s in self.steps)


class Session:
    """One visitor: a browser context with one tab, walking STEPS."""

    def __init__(self, page, meter: WsMeter, base: str, clips: list[str], wavs: list[Path], rng: random.Random,
                 deadline: float, step_timeout: float):
        self.page, self.meter, self.base, self.clips, self.wavs, self.rng = page, meter, base, clips, wavs, rng
        self.deadline, self.step_timeout = deadline, step_timeout

    def timeout_s(self) -> float:
        return max(0.0, min(self.step_timeout, self.deadline - time.monotonic()))

    async def ready(self, js: str) -> float:
        await self.page.wait_for_function(js, polling=POLL_MS, timeout=self.timeout_s() * 1000)
        return time.perf_counter()

    async def settle(self, since: int) -> float:
        """Until a script run that started after mark `since` has finished and the app shows no running script."""
        limit = time.monotonic() + self.timeout_s()
        while True:
            fin = self.meter.last_finished(since)
            if fin is not None and not self.meter.running() and await self.page.evaluate(SCRIPT_IDLE_JS):
                return fin.t
            if time.monotonic() > limit:
                raise TimeoutError(f"the script did not finish within {self.step_timeout:.0f} s")
            await asyncio.sleep(POLL_MS / 1000)

    async def nav(self, page_name: str) -> None:
        link = self.page.locator(f'[data-testid="stSidebarNav"] a[href$="/{page_name}"]').first
        await link.click(timeout=self.timeout_s() * 1000)

    # ---- the steps: each returns the perf_counter time its content was on screen -----------------------------------
    async def home(self) -> float:
        await self.page.goto(self.base, wait_until="commit", timeout=self.timeout_s() * 1000)
        return await self.ready(HOME_READY)

    async def explore(self) -> float:
        clip = self.rng.choice(self.clips)
        await self.page.goto(f"{self.base}/Explore?clip={urllib.parse.quote(clip)}", wait_until="commit",
                             timeout=self.timeout_s() * 1000)
        return await self.ready(EXPLORE_READY)

    async def classify_clip(self) -> float:
        i = self.meter.mark()
        await self.nav("Classify")
        await self.ready(BARS_READY)
        await self.settle(i)
        box = self.page.locator('[data-testid="stSelectbox"]').filter(has_text="Clip").first  # the label is "Clip"
        value = box.locator("input")  # holds the selection: "<file> · <class>"
        shown = await value.input_value(timeout=self.timeout_s() * 1000)
        clip = self.rng.choice([c for c in self.clips if c not in shown] or self.clips)
        i = self.meter.mark()
        await value.click(timeout=self.timeout_s() * 1000)
        await self.page.keyboard.type(clip.removesuffix(".wav"))
        await self.page.keyboard.press("Enter")
        await self.settle(i)  # the bars of the previous clip are on screen until the rerun replaces them
        await self.ready(BARS_READY)
        if clip not in await value.input_value(timeout=self.timeout_s() * 1000):
            raise RuntimeError(f"picking {clip} in the Clip box did not select it")
        return time.perf_counter()

    async def classify_upload(self) -> float:
        i = self.meter.mark()
        await self.page.get_by_role("radio", name="Upload", exact=True).click(timeout=self.timeout_s() * 1000)
        await self.ready(UPLOADER_READY)
        await self.settle(i)  # the dataset clip's bars are gone once this run has finished
        wav = self.rng.choice(self.wavs)
        await self.page.locator('[data-testid="stFileUploader"] input[type=file]').set_input_files(
            str(wav), timeout=self.timeout_s() * 1000)
        return await self.ready(BARS_READY)

    async def metrics(self) -> float:
        await self.nav("Metrics")
        return await self.ready(METRICS_READY)

    async def metrics_cell(self) -> float:
        cells = self.page.locator(".soundlab-grid [data-cell]")
        await cells.first.wait_for(timeout=self.timeout_s() * 1000)
        cell = await cells.evaluate_all(CELL_JS)
        if cell is None:
            raise RuntimeError("no off-diagonal confusion-matrix cell with clips")
        await self.page.locator(f'.soundlab-grid [data-cell="{cell}"]').click(timeout=self.timeout_s() * 1000)
        await self.page.get_by_text(CELL_HEADING).first.wait_for(timeout=self.timeout_s() * 1000)
        return time.perf_counter()

    async def run_step(self, name: str) -> Step:
        s = Step(name)
        if self.timeout_s() <= 0:
            s.skipped, s.error = True, "not run: time budget (--timeout) used up"
            return s
        i0, t0 = self.meter.mark(), time.perf_counter()
        try:
            shown = await asyncio.wait_for(getattr(self, name)(), timeout=self.timeout_s() + 5)
            s.wall_s = shown - t0
            s.end_s = max(await self.settle(i0), shown) - t0
            exc = await self.page.evaluate(EXCEPTIONS_JS)
            if exc:
                s.error = f"exception on the page: {exc[0][:160]}"
        except Exception as e:  # noqa: BLE001 - every failure of a step is a reported error, the load test goes on
            msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            timeout = isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ or "Timeout " in msg
            s.error = f"{'timeout' if timeout else 'error'}: {msg}"
        runs = self.meter.script_runs(i0)
        s.script_s = sum(b - a for a, b, _ in runs) if runs else math.nan
        s.ws_bytes = self.meter.bytes_since(i0)
        return s


async def walk(browser, base: str, clips: list[str], wavs: list[Path], rng: random.Random, deadline: float,
               step_timeout: float, shots: Path | None = None) -> Walk:
    """One session's path; with `shots`, a screenshot of the page after each step (<shots>-<step>.png)."""
    w = Walk()
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        session = Session(page, WsMeter(page), base, clips, wavs, rng, deadline, step_timeout)
        for name in STEPS:
            if w.steps and (w.steps[-1].error or w.steps[-1].skipped):
                w.steps.append(Step(name, skipped=True))  # the walk stops at its first error
                continue
            w.steps.append(await session.run_step(name))
            if shots is not None:
                with contextlib.suppress(Exception):  # a screenshot is a bonus, never a failed step
                    await page.screenshot(path=f"{shots}-{name}.png", full_page=False)
    finally:
        with contextlib.suppress(Exception):
            await context.close()
    return w


# ---- levels -------------------------------------------------------------------------------------------------------------

@dataclass
class Level:
    name: str
    sessions: int
    walks: list[Walk] = field(default_factory=list)
    wall_s: float = math.nan
    server_cpu_s: float = math.nan
    client_cpu_s: float = math.nan
    rss_after: int = 0
    views: int = 0
    not_run: str = ""

    @property
    def errors(self) -> list[str]:
        return [f"{LABELS[s.step]}: {s.error}" for w in self.walks for s in w.steps if s.error]

    @property
    def cpu_per_view(self) -> float:
        return self.server_cpu_s / self.views if self.views else math.nan


async def run_level(browser, server, name: str, n: int, args, clips, wavs, rng, deadline: float) -> Level:
    lv = Level(name, n)
    if deadline - time.monotonic() < 20:
        lv.not_run = "time budget (--timeout) used up"
        return lv
    cpu0, client0 = tree_usage(server.pid)[0], tree_usage(os.getpid())[0]
    t0 = time.perf_counter()
    shots = [None] * n
    if args.screenshots is not None:  # the first session of the level shows what every visitor saw under this load
        args.screenshots.mkdir(parents=True, exist_ok=True)
        shots[0] = args.screenshots / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    lv.walks = list(await asyncio.gather(*(walk(browser, server.url, clips, wavs, random.Random(rng.random()),
                                                deadline, args.step_timeout, shots[k]) for k in range(n))))
    lv.wall_s = time.perf_counter() - t0
    await asyncio.sleep(1.0)  # closing contexts: the server notices the websockets go
    cpu1, lv.rss_after, _ = tree_usage(server.pid)
    lv.server_cpu_s, lv.client_cpu_s = cpu1 - cpu0, tree_usage(os.getpid())[0] - client0
    lv.views = sum(1 for w in lv.walks for s in w.steps if not s.skipped)
    return lv


def print_level(lv: Level) -> None:
    if lv.not_run:
        print(f"\n== {lv.name}: not run ({lv.not_run})")
        return
    ok = sum(w.ok for w in lv.walks)
    print(f"\n== {lv.name}: {lv.sessions} session(s) at once, {ok}/{len(lv.walks)} walks complete, "
          f"{len(lv.errors)} error(s), {lv.wall_s:.1f} s")
    print(f"   {'step':26s} {'wall p50':>8s} {'wall p95':>8s} {'end p50':>8s} {'script p50':>10s} {'ws/view':>9s} "
          f"{'done':>5s}")
    for name in STEPS:
        steps = [s for w in lv.walks for s in w.steps if s.step == name]
        done = [s for s in steps if not s.error and not s.skipped]
        print(f"   {LABELS[name]:26s} {fmt_s(median([s.wall_s for s in done])):>8s} "
              f"{fmt_s(p95([s.wall_s for s in done])):>8s} {fmt_s(median([s.end_s for s in done])):>8s} "
              f"{fmt_s(median([s.script_s for s in done])):>10s} "
              f"{fmt_bytes(median([float(s.ws_bytes) for s in done])):>9s} {len(done):>2d}/{len(steps):<2d}")
    verdict = "pass" if lv.cpu_per_view <= CPU_TARGET_S else "FAIL"
    print(f"   server CPU {lv.server_cpu_s:.1f} s / {lv.views} page views = {lv.cpu_per_view:.2f} s per view "
          f"(target <= {CPU_TARGET_S}: {verdict}); benchmark's browser+driver CPU {lv.client_cpu_s:.1f} s; "
          f"server RSS after {lv.rss_after / 2**20:.0f} MB")
    for e in sorted(set(lv.errors))[:8]:
        print(f"   error: {e} (x{lv.errors.count(e)})")


async def run_all(args, server, clips: list[str], wavs: list[Path], started: float) -> dict:
    from playwright.async_api import async_playwright

    deadline = started + args.timeout
    rng = random.Random(args.seed)
    rss: list[tuple[str, int]] = [("server idle", tree_usage(server.pid)[1])]
    out: dict = {"levels": [], "rss": rss}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            warm = await run_level(browser, server, "warm-up (1 walk, untimed for the targets)", 1, args, clips, wavs,
                                   rng, deadline)
            print_level(warm)
            rss.append(("after warm-up", warm.rss_after))
            out["warmup"] = warm
            for n in args.sessions:
                lv = await run_level(browser, server, f"{n} concurrent", n, args, clips, wavs, rng, deadline)
                print_level(lv)
                out["levels"].append(lv)
                if not lv.not_run:
                    rss.append((f"after {n} concurrent", lv.rss_after))
            out["churn"], out["probes"] = [], []
            for wave in range(1, args.waves + 1):
                name = "churn" if args.waves == 1 else f"churn wave {wave}"
                churn, done, batch_no = [], 0, 0
                while done < args.churn:
                    batch_no += 1
                    k = min(args.churn_batch, args.churn - done)
                    lv = await run_level(browser, server, f"{name} batch {batch_no}", k, args, clips, wavs, rng,
                                         deadline)
                    if lv.not_run:
                        print(f"\n{name} stopped after {done} sessions: {lv.not_run}")
                        break
                    churn.append(lv)
                    done += k
                    rss.append((f"{name}: after {done} sessions", lv.rss_after))
                    print(f"{name}: {done}/{args.churn} sessions gone, {len(lv.errors)} error(s) in this batch, "
                          f"server RSS {lv.rss_after / 2**20:.0f} MB", flush=True)
                out["churn"] += churn
                if args.ttl_wait > 0 and churn:
                    if deadline - time.monotonic() > args.ttl_wait + 30:
                        print(f"\nwaiting {args.ttl_wait:.0f} s for the disconnected sessions to expire ...", flush=True)
                        await asyncio.sleep(args.ttl_wait)
                        probe = await run_level(browser, server, f"probe after the TTL wait ({name})", 1, args, clips,
                                                wavs, rng, deadline)
                        if not probe.not_run:
                            rss.append((f"after the TTL wait + 1 walk ({name})", probe.rss_after))
                            out["probes"].append(probe)
                    else:
                        print(f"\nno time left for the {args.ttl_wait:.0f} s TTL wait (--timeout)")
                if args.signal_after_wave:  # e.g. bench/memprobe: the server reports what it holds
                    os.kill(server.pid, args.signal_after_wave)
                    await asyncio.sleep(5)
        finally:
            with contextlib.suppress(Exception):
                await browser.close()
    return out


def verdicts(out: dict, args) -> list[str]:
    lines = []
    levels = [lv for lv in out["levels"] if not lv.not_run]
    if levels:
        cpu = ", ".join(f"{lv.sessions}: {lv.cpu_per_view:.2f}" for lv in levels)
        ok = all(lv.cpu_per_view <= CPU_TARGET_S for lv in levels)
        lines.append(f"<= {CPU_TARGET_S} server CPU-s per warm page view: {cpu} -> {'pass' if ok else 'FAIL'}")
    top = max(levels, key=lambda lv: lv.sessions, default=None)
    if top is not None:
        lines.append(f"{top.sessions} concurrent sessions with zero errors: {len(top.errors)} error(s) "
                     f"-> {'pass' if not top.errors and top.sessions >= 20 else 'FAIL' if top.errors else 'n/a (<20)'}")
    rss = dict(out["rss"])
    base = next((v for k, v in reversed(out["rss"]) if k.startswith("after ") and "concurrent" in k), None)
    waves = sorted({k.split(":")[0].split("(")[-1].rstrip(")") for k, _ in out["rss"] if k.startswith("churn")})
    churned = 0
    for wave in waves:  # the last figure of each wave: after its TTL wait, else after its last batch
        keys = [k for k, _ in out["rss"] if k.startswith(wave) or k.endswith(f"({wave})")]
        if not base or not keys:
            continue
        last_key = keys[-1]
        churned += sum(lv.sessions for lv in out.get("churn", []) if lv.name.startswith(wave))
        growth = rss[last_key] - base
        flat = rss[last_key] <= base * (1 + RSS_FLAT)
        lines.append(f"RSS flat after warm-up: {base / 2**20:.0f} MB after the levels -> {rss[last_key] / 2**20:.0f} MB "
                     f"{last_key.replace(wave + ': ', '')} ({growth / 2**20:+.0f} MB, "
                     f"{growth / max(1, churned) / 2**20:+.2f} MB per churned walk so far) -> "
                     f"{'pass' if flat else 'FAIL'} (rule: within +{RSS_FLAT:.0%})")
    return lines


def print_summary(out: dict, args) -> None:
    print("\nServer RSS (sum over its process tree):")
    for k, v in out["rss"]:
        print(f"   {k:32s} {v / 2**20:8.0f} MB")
    print("   (Streamlit keeps a disconnected session up to server.disconnectedSessionTTL = 120 s, at most 128: RSS "
          "right after churn includes them; the TTL wait and probe walk let them expire.)")
    print("\nTargets:")
    for line in verdicts(out, args):
        print(f"   {line}")
    print("\nwall = action -> content on screen; end = action -> last script_finished; script = new_session -> "
          "script_finished as received by the browser (an approximation of the server-side script time; Streamlit's "
          f"own exec_time is not sent with usage stats off). Load average at the end: {loadavg()}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(ap)
    ap.add_argument("--sessions", default="5,10,20", help="concurrency levels (default 5,10,20)")
    ap.add_argument("--churn", type=int, default=100, help="sessions that come and go after the levels (default 100)")
    ap.add_argument("--churn-batch", type=int, default=10, help="churn sessions at once (default 10)")
    ap.add_argument("--waves", type=int, default=1,
                    help="churn waves (default 1); a second wave tells memory the allocator keeps from real growth")
    ap.add_argument("--signal-after-wave", type=int, default=0,
                    help="send this signal to the server after each wave (10 = SIGUSR1 for bench/memprobe)")
    ap.add_argument("--ttl-wait", type=float, default=130,
                    help="seconds to wait after the churn for disconnected sessions to expire (default 130; 0: skip)")
    ap.add_argument("--timeout", type=float, default=900, help="bound on the whole run in seconds (default 900)")
    ap.add_argument("--step-timeout", type=float, default=120, help="seconds one step may take (default 120)")
    ap.add_argument("--clip-pool", type=int, default=0,
                    help="draw the clips of every walk from this many (fixed) clips, so the app's per-clip caches are "
                         "full after the warm-up and RSS growth is per-session state only (default 0: all clips)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="save a screenshot after each step of the first session of each level in this folder")
    args = ap.parse_args()
    started = time.monotonic()
    install_signal_handlers()
    try:
        args.sessions = [int(x) for x in args.sessions.split(",") if x.strip()]
        if not args.sessions or min(args.sessions) < 1 or args.churn < 0 or args.churn_batch < 1:
            raise ValueError
    except ValueError:
        sys.exit("bench_load: --sessions takes positive integers (e.g. 5,10,20); --churn >= 0, --churn-batch >= 1")
    try:
        check_chromium()
        dataset, clips = resolve_dataset(args.dataset)
        n_on_disk = len(clips)
        if args.clip_pool > 0:
            clips = sorted(random.Random(args.seed).sample(clips, min(args.clip_pool, len(clips))))
        wavs = [dataset / "audio" / c for c in clips]
        print(f"dataset: {dataset} ({n_on_disk} clips on disk, walks draw from {len(clips)}); levels {args.sessions}, churn {args.churn} in batches of "
              f"{args.churn_batch}; time budget {args.timeout:.0f} s; {os.cpu_count()} cores, load average {loadavg()}")
        with cache_folder(args.cache_dir) as cache, app_server(dataset, cache, port=args.port,
                                                               allow_install=args.allow_install,
                                                               timeout_s=args.start_timeout) as server:
            print(f"server: {server.how} at {server.url}; cache {cache}", flush=True)
            out = asyncio.run(asyncio.wait_for(run_all(args, server, clips, wavs, started),
                                               timeout=max(10.0, args.timeout - (time.monotonic() - started)) + 60))
    except BenchError as e:
        sys.exit(f"bench_load: {e}")
    except TimeoutError:
        sys.exit(f"bench_load: the run exceeded --timeout {args.timeout:.0f} s (the server was stopped)")
    except KeyboardInterrupt:
        sys.exit("bench_load: interrupted (the server was stopped)")
    print_summary(out, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {"dataset": str(dataset), "clips": len(clips), "args": {k: str(v) for k, v in vars(args).items()},
                "targets": {"cpu_s_per_view": CPU_TARGET_S, "rss_flat": RSS_FLAT},
                "rss": [{"when": k, "bytes": v} for k, v in out["rss"]],
                "levels": [asdict(lv) | {"errors": lv.errors, "cpu_per_view": lv.cpu_per_view}
                           for lv in [out.get("warmup")] + out["levels"] + out.get("churn", []) + out.get("probes", [])
                           if lv is not None],
                "verdicts": verdicts(out, args)}
        args.json.write_text(json.dumps(json_ready(data), indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

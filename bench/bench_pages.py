"""Page load times in a real browser: from navigation to the content a user came for, per page, cold and warm. Run:

    .venv/bin/python bench/bench_pages.py                       # every page, 5 warm visits each
    .venv/bin/python bench/bench_pages.py --pages Home,Explore --repeats 3 --json test-output/bench-pages.json

The app is started as the README's start command does (`scripts/run-app.sh`, on 127.0.0.1 and a free port, headless),
with SOUNDLAB_ESC50_ROOT at the dev dataset (`.test-assets/ESC-50-dev`, or `--dataset PATH`) and SOUNDLAB_CACHE_DIR
at a new temporary folder (or `--cache-dir PATH`, e.g. `.cache` for the app's own disk caches). When run-app.sh would
(re)install the requirements first (its install stamp for requirements.txt is missing), the same `streamlit run`
command it ends with is run directly instead, and the output says so (`--allow-install` runs the script anyway).

Measured per page, in headless Chromium (Playwright, Debian's /usr/bin/chromium), each visit in a new browser
context (a new visitor: a new Streamlit session):
* ready: navigation -> the content the user came for is on screen (in-app visits: the page change inside the open app,
  see below -> the content)
    Home         the dataset counts ("Clips on disk  N / 2000")
    Explore      a clip opened by its link (?clip=<file>): the picture of its waveform and mel spectrogram loaded
    Explore plotly  the same with "Interactive charts" on (&explore-interactive=true): 2 plotly charts drawn
    Classify     the first dataset clip (the page's default source and clip; the clip has no URL key): the
                 50-class probability bars drawn (HTML)
    Metrics      the summary metrics (accuracy, balanced accuracy, ...)
    Data issues  the counts per kind of issue
    Transcribe   the file uploader
* drawn: navigation -> the script has finished and no element still shows Streamlit's grey placeholder (its code
  is fetched when its kind first appears on the page; React shows a waiting element at most every 0.5 s while others
  still wait, so the content can wait for a slower element's code, e.g. the data grid's): the whole page on screen;
* script end: navigation -> the script has finished (the websocket's script_finished message, once the app's
  data-test-script-state is notRunning with no running status widget); it can come before "ready" when the browser
  is still drawing (plotly) after the last message;
* script: the time between the websocket's new_session (script started) and script_finished messages as they reach
  the browser: an approximation of the server-side script time (Streamlit's own exec_time, its PageProfile message,
  is only sent with browser.gatherUsageStats on, which this app turns off);
* ws bytes: the payload bytes of every websocket message the page received (large plotly figures show up here),
  and the largest single message (its element type, and a plotly chart's title);
* server CPU: utime+stime of the server's process tree (/proc, children included) over the visit, 0.5 s of quiet
  after it settled included (audio files and static assets are served then too).

Three kinds of visit per page:
* cold: the page's first visit after a server start (a new visitor, by a link to the page);
* warm: --repeats later visits by new visitors, each in a fresh browser context (or --returning);
* in-app: --in-app visits by someone who already has the app open: the tab opens Home (untimed; for Home itself,
  Transcribe), then moves to the page
  inside the app, as the sidebar's links do (the client changes its URL and asks the server for the page's script over
  the open websocket; Streamlit's JavaScript is already running). This is how people move between pages once the app
  is open.
A new visitor's figure includes starting Streamlit's own client in a new tab (about 480 kB of index.js, 860 kB of
protobuf code, fonts, the websocket and the session), which no page can avoid; the (floor) row measures it on a one-line
Streamlit page with the app's config (`--no-floor` skips it).

Cold = the page's first visit after a server start (at once, while the server still warms the pages' libraries in the
background; `--after-warmup`: once it has, as for a visitor who comes later). By default (`--cold fresh`) the server is restarted for each page,
so a page's cold visit does not profit from what earlier pages loaded (one server at a time); `--cold shared` keeps
one server for all pages (later pages then find the shared caches warm). Warm = median (and p95, the nearest-rank
95th percentile: the maximum for fewer than 20 visits) of --repeats later visits, each in a fresh context.
`--returning`: warm visits are new tabs of one context instead (the app's JavaScript already in the browser cache): the
difference to the default shows how much of a new visitor's wait is the browser fetching and parsing Streamlit's
lazy-loaded JavaScript (plotly.js among it) rather than the server.
Targets: warm median <= 1.5 s, cold <= 4 s (ready times); the in-app median is judged against the same 1.5 s. The browser runs on the same machine and takes CPU from
the server: measure on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import ROOT, loop_time  # noqa: I001

from tests.browser import CHROMIUM, free_port

DEFAULT_DATASET = ROOT / ".test-assets" / "ESC-50-dev"
HOST = "127.0.0.1"
VIEWPORT = {"width": 1400, "height": 2200}  # as the browser tests
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
WARM_TARGET_S, COLD_TARGET_S = 1.5, 4.0
QUIET_S = 0.5


class BenchError(RuntimeError):
    """A problem that ends the benchmark with one line (no traceback)."""


# ---- inputs -----------------------------------------------------------------------------------------------------------

def dataset_clips(root: Path) -> list[str]:
    """The clips of an ESC-50 folder that are both listed in meta/esc50.csv and on disk, sorted (counted, never
    assumed)."""
    meta, audio = root / "meta" / "esc50.csv", root / "audio"
    if not meta.is_file() or not audio.is_dir():
        raise BenchError(f"dataset not found: {root} has no meta/esc50.csv and audio/ (build the dev set with "
                         "`.venv/bin/python -m tests.assets prepare`, or pass --dataset PATH)")
    with meta.open(newline="") as f:
        listed = {row["filename"] for row in csv.DictReader(f)}
    clips = sorted(p.name for p in audio.glob("*.wav") if p.name in listed)
    if not clips:
        raise BenchError(f"dataset has no clips: {audio} holds no .wav file listed in {meta}")
    return clips


def check_chromium() -> None:
    if not Path(CHROMIUM).exists():
        raise BenchError(f"chromium not found at {CHROMIUM} (install Debian's chromium: scripts/run-tests.sh does, "
                         "or set SOUNDLAB_CHROMIUM)")
    try:
        import playwright  # noqa: F401
    except ImportError as e:
        raise BenchError("playwright is not installed in this environment (requirements-dev.txt)") from e


# ---- the server's process tree (/proc) ----------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, CPU ticks incl. reaped children, RSS pages), for every process readable in /proc."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "; field 3 (state) is fields[0]
        ppid, utime, stime, cutime, cstime, rss = (int(fields[i]) for i in (1, 11, 12, 13, 14, 21))
        table[int(d)] = (ppid, utime + stime + cutime + cstime, rss)
    return table


def tree_usage(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, process count) of `pid` and its descendants. CPU includes children already reaped
    (cutime/cstime), so nothing a short-lived child used is lost; RSS is summed (shared pages count twice)."""
    table = _proc_table()
    if pid not in table:
        return math.nan, 0, 0
    children: dict[int, list[int]] = {}
    for p, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(p)
    todo, cpu, rss, n = [pid], 0, 0, 0
    while todo:
        p = todo.pop()
        _, ticks, pages = table[p]
        cpu, rss, n = cpu + ticks, rss + pages, n + 1
        todo += children.get(p, [])
    return cpu / CLK_TCK, rss * PAGE_SIZE, n


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def cpu_pressure(seconds: float = 2.0) -> float | None:
    """Share of `seconds` during which some runnable task waited for a core (Linux PSI, /proc/pressure/cpu "some"),
    measured while the benchmark does nothing: about 0 on a quiet machine. On a shared VM another tenant's load shows
    here (and not always in the load average); every page time is then slower. None where PSI is not available."""
    def total() -> int:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]  # some avg10=.. avg60=.. avg300=.. total=<us>
        return int(line.rsplit("total=", 1)[1])

    try:
        t0, w0 = total(), time.monotonic()
        time.sleep(seconds)
        return (total() - t0) / 1e6 / (time.monotonic() - w0)
    except (OSError, IndexError, ValueError):
        return None


def pressure_text(p: float | None) -> str:
    return "not available" if p is None else f"{p:.0%} of the time a task waited for a core"


# ---- the server -------------------------------------------------------------------------------------------------------

def run_app_would_install() -> bool:
    """True when scripts/run-app.sh would run pip before starting (scripts/env.sh: its stamp file is missing)."""
    venv = Path(os.environ.get("SOUNDLAB_VENV", ROOT / ".venv"))
    if not (venv / "bin" / "python").exists():
        return True
    reqs = (ROOT / "requirements.txt").read_bytes()
    digest = hashlib.sha256(reqs + reqs).hexdigest()[:16]  # env.sh hashes requirements.txt and $REQS (the same file)
    return not (venv / f".installed-requirements.txt-{digest}").exists()


@dataclass
class Server:
    url: str
    pid: int
    log: Path
    how: str


_LIVE: dict[int, subprocess.Popen] = {}


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it has not gone in 10 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError):  # anything the group left behind
        os.killpg(proc.pid, signal.SIGKILL)
    _LIVE.pop(proc.pid, None)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE.values()):
        _stop(proc)


def _sigterm(signum, frame):  # a kill of the benchmark still stops its server (the finally blocks run)
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGHUP, _sigterm)


@contextlib.contextmanager
def app_server(dataset: Path, cache_dir: Path, *, port: int | None = None, allow_install: bool = False,
               timeout_s: float = 180, floor_dir: Path | None = None, env: dict[str, str] | None = None):
    """Start the app as scripts/run-app.sh does, in its own process group, on 127.0.0.1; wait for
    /_stcore/health; yield a Server; always stop the whole group. With `floor_dir`: the same Streamlit, started the
    same way, on the floor app in that folder (`floor_app`) instead of Home.py. `env`: more settings."""
    port = port or free_port(HOST)
    args = ["--server.address", HOST, "--server.port", str(port), "--server.headless", "true"]
    if floor_dir is None and (allow_install or not run_app_would_install()):
        cmd, how = ["bash", str(ROOT / "scripts" / "run-app.sh"), *args], "scripts/run-app.sh"
        env_path = os.environ.get("PATH", "")
    else:  # what run-app.sh execs once its environment is set up (scripts/env.sh: PATH=$VENV/bin:$PATH; cd $ROOT)
        venv = Path(os.environ.get("SOUNDLAB_VENV", ROOT / ".venv"))
        if floor_dir is None:
            cmd = [str(venv / "bin" / "python"), "scripts/serve.py", *args]
            how = "python scripts/serve.py (what run-app.sh runs; the script itself would reinstall first)"
        else:
            cmd = [str(venv / "bin" / "python"), "-m", "streamlit", "run", "hello.py", *args]
            how = "python -m streamlit run hello.py (a one-line page, with the app's .streamlit/config.toml)"
        env_path = f"{venv / 'bin'}:{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": env_path, "SOUNDLAB_ESC50_ROOT": str(dataset), "SOUNDLAB_CACHE_DIR": str(cache_dir),
           "PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"),  # as run-app.sh
           **(env or {})}
    log = Path(tempfile.mkstemp(prefix="bench-streamlit-", suffix=".log")[1])
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=floor_dir or ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _LIVE[proc.pid] = proc
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise BenchError(f"the app exited early (code {proc.returncode}); its log {log} ends:\n"
                                 + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"the app did not answer /_stcore/health within {timeout_s:.0f} s (log: {log})")
            time.sleep(0.3)
        yield Server(url, proc.pid, log, how)
    except BaseException:
        _stop(proc)
        print(f"(the app's log is kept: {log})", file=sys.stderr)
        raise
    else:
        _stop(proc)
        log.unlink(missing_ok=True)


@contextlib.contextmanager
def floor_app():
    """A folder holding a one-line Streamlit page (`st.write`) and a copy of the app's .streamlit/config.toml: what any
    Streamlit page costs a new visitor on this machine (the framework's own JavaScript, websocket and session), the
    floor under every page's figure."""
    d = Path(tempfile.mkdtemp(prefix="bench-streamlit-floor-"))
    try:
        (d / ".streamlit").mkdir()
        shutil.copy(ROOT / ".streamlit" / "config.toml", d / ".streamlit" / "config.toml")
        (d / "hello.py").write_text('import streamlit as st\n\nst.write("Hello from Streamlit")\n')
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- what the page received over the websocket ----------------------------------------------------------------------

_FINISHED_NAMES: dict[int, str] = {}


def _forward_msg():
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not _FINISHED_NAMES:
        enum = ForwardMsg.DESCRIPTOR.fields_by_name["script_finished"].enum_type
        _FINISHED_NAMES.update({v.number: v.name for v in enum.values})
    return ForwardMsg


def decode(data: bytes) -> tuple[str, str]:
    """(message type, detail) of one ForwardMsg: e.g. ("delta", "plotly_chart"), ("script_finished",
    "FINISHED_SUCCESSFULLY"); ("?", "") when it does not decode."""
    try:
        msg = _forward_msg().FromString(data)
    except Exception:  # noqa: BLE001 - not a ForwardMsg (another protocol version): counted, not typed
        return "?", ""
    kind = msg.WhichOneof("type") or "?"
    if kind == "delta":
        d = msg.delta.WhichOneof("type") or ""
        return kind, (msg.delta.new_element.WhichOneof("type") or "") if d == "new_element" else d
    if kind == "script_finished":
        return kind, _FINISHED_NAMES.get(msg.script_finished, str(msg.script_finished))
    return kind, ""


def describe_message(data: bytes) -> str:
    """Element type of a delta message, with a plotly chart's title when it has one."""
    kind, detail = decode(data)
    if kind == "delta" and detail == "plotly_chart":
        with contextlib.suppress(Exception):
            spec = json.loads(_forward_msg().FromString(data).delta.new_element.plotly_chart.spec)
            title = spec.get("layout", {}).get("title", {})
            title = title.get("text", "") if isinstance(title, dict) else str(title)
            traces = ",".join(sorted({t.get("type", "scatter") for t in spec.get("data", [])}))
            return f"plotly_chart[{traces}] {title!r}" if title else f"plotly_chart[{traces}]"
    return f"{kind}:{detail}" if detail else kind


@dataclass
class Frame:
    t: float
    size: int
    kind: str
    detail: str


class WsMeter:
    """Every message a page receives on Streamlit's websocket: time, size, type. Works with the sync and the async
    Playwright API (its handlers are plain functions)."""

    def __init__(self, page):
        self.frames: list[Frame] = []
        self._biggest: list[tuple[int, int, bytes]] = []  # (size, index, payload) of the largest message
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        if "/_stcore/stream" in ws.url:
            ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        t = time.perf_counter()
        data = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
        kind, detail = decode(bytes(data))
        self.frames.append(Frame(t, len(data), kind, detail))
        if not self._biggest or len(data) > self._biggest[0][0]:
            self._biggest = [(len(data), len(self.frames) - 1, bytes(data))]

    def mark(self) -> int:
        return len(self.frames)

    def since(self, i: int) -> list[Frame]:
        return self.frames[i:]

    def bytes_since(self, i: int) -> int:
        return sum(f.size for f in self.frames[i:])

    def running(self) -> bool:
        """A script run has started (new_session) and not finished yet, as far as the messages tell."""
        for f in reversed(self.frames):
            if f.kind == "script_finished":
                return False
            if f.kind == "new_session":
                return True
        return False

    def last_finished(self, i: int) -> Frame | None:
        return next((f for f in reversed(self.frames[i:]) if f.kind == "script_finished"), None)

    def script_runs(self, i: int) -> list[tuple[float, float, str]]:
        """(start, end, status) of each script run whose messages arrived since mark `i` (start = new_session)."""
        runs, start = [], None
        for f in self.frames[i:]:
            if f.kind == "new_session":
                start = f.t
            elif f.kind == "script_finished" and start is not None:
                runs.append((start, f.t, f.detail))
                start = None
        return runs

    def biggest_since(self, i: int) -> tuple[int, str]:
        """(bytes, description) of the largest message since mark `i`."""
        if self._biggest and self._biggest[0][1] >= i:
            size, _, data = self._biggest[0]
            return size, describe_message(data)
        frames = self.frames[i:]
        if not frames:
            return 0, ""
        f = max(frames, key=lambda f: f.size)
        return f.size, f"{f.kind}:{f.detail}" if f.detail else f.kind

    def big_elements(self, i: int, top: int = 3) -> list[tuple[int, str]]:
        """The largest delta messages since mark `i` by element type (size, type)."""
        sizes = sorted(((f.size, f.detail or f.kind) for f in self.frames[i:]), reverse=True)
        return sizes[:top]


STALL_S = 4.0  # by default, a visit slower than this (the cold target) gets its longest waits in the notes


class PageLog:
    """What the browser did during a visit, with times: requests (sent, finished or failed), the websocket opening,
    Streamlit's messages (from a WsMeter) and console lines. Kept so that a slow visit explains itself: `gaps` lists
    the longest stretches in which nothing happened, each with the event before and after it (a stalled request, a
    websocket that opened late, a script that started late)."""

    def __init__(self, page):
        self.events: list[tuple[float, str]] = []
        page.on("request", lambda r: self._add(f"request {self._short(r.url)}"))
        page.on("requestfinished", lambda r: self._add(f"finished {self._short(r.url)}"))
        page.on("requestfailed", lambda r: self._add(f"FAILED {self._short(r.url)}: {r.failure}"))
        page.on("websocket", lambda ws: self._add(f"websocket opened {self._short(ws.url)}"))
        page.on("console", lambda m: self._add(f"console {m.type}: {m.text[:120]}"))

    @staticmethod
    def _short(url: str) -> str:
        return url.split("://", 1)[-1].split("/", 1)[-1][:80] or "/"

    def _add(self, what: str) -> None:
        self.events.append((time.perf_counter(), what))

    def gaps(self, meter: WsMeter, t0: float, t1: float, top: int = 3, min_s: float = 0.5) -> list[str]:
        """The `top` longest stretches of at least `min_s` between `t0` and `t1` with no event, in time order."""
        evs = sorted([(t, w) for t, w in self.events if t0 <= t <= t1]
                     + [(f.t, f"message {f.kind}" + (f":{f.detail}" if f.detail else "")) for f in meter.frames
                        if t0 <= f.t <= t1] + [(t0, "navigation"), (t1, "content on screen")])
        spans = sorted(((b[0] - a[0], i) for i, (a, b) in enumerate(itertools.pairwise(evs))), reverse=True)
        out = []
        for d, i in sorted(spans[:top], key=lambda x: x[1]):
            if d >= min_s:
                out.append(f"{evs[i][0] - t0:.2f} s {evs[i][1]} -> {d:.2f} s of nothing -> {evs[i + 1][1]}")
        return out or [f"none as long as {min_s} s (the time went to many short steps)"]


# ---- page readiness ----------------------------------------------------------------------------------------------------

SCRIPT_IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && ['notRunning', 'compilationError'].includes(app.getAttribute('data-test-script-state'))
           && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
}"""

# everything drawn: the script has finished and no element still shows Streamlit's placeholder while its code loads
# (each element kind's JavaScript is fetched when the kind first appears; React reveals a waiting element at most every
# 0.5 s while others still wait, so an element can show well after its own code arrived: `drawn` is when none waits)
DRAWN_JS = f"""() => ({SCRIPT_IDLE_JS})() && !document.querySelector('[data-testid="stSkeleton"]')"""

EXCEPTIONS_JS = """() => [...document.querySelectorAll('[data-testid="stException"]')]
                          .map(e => e.innerText.split('\\n').slice(0, 2).join(' '))"""


# a page's headline figures (components.page.figures): a markdown block with the label and the value as a heading
FIGURES_JS = """[...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"]')]
                .filter(m => m.querySelector('h3'))"""


def figure_ready_js(*labels: str) -> str:
    """Every figure named in `labels` is on screen with a number in it (the labels are unique to their page: no stale
    match from the page before)."""
    return f"""() => {{ const f = {FIGURES_JS};
                       return {json.dumps(list(labels))}.every(l => f.some(m => m.innerText.includes(l)
                                                                               && /\\d/.test(m.innerText))); }}"""


HOME_READY = figure_ready_js("Clips on disk")
HOME_COUNT = f"""() => {{ const m = {FIGURES_JS}.find(m => m.innerText.includes('Clips on disk'));
                         const r = m && m.innerText.match(/(\\d+) \\/ (\\d+)/); return r ? +r[1] : null; }}"""
EXPLORE_READY = """() => [...document.querySelectorAll('[data-testid="stMain"] img')]
                         .some(i => i.complete && i.naturalWidth > 0 && /mel spectrogram/i.test(i.alt))"""
EXPLORE_PLOTLY_READY = """() => document.querySelectorAll('.js-plotly-plot').length >= 2
                         && !!document.querySelector('.js-plotly-plot .heatmaplayer, .js-plotly-plot .hm')
                         && !!document.querySelector('.js-plotly-plot .scatterlayer .trace')"""
BARS_READY = """() => [...document.querySelectorAll('[data-testid="stMain"] img')]
    .some(i => i.alt.startsWith('Class probabilities') && i.complete && i.naturalWidth > 0)"""
METRICS_READY = figure_ready_js("Balanced accuracy")
ISSUES_READY = figure_ready_js("Label issues", "Near-duplicates", "Outliers", "Under-performing groups")
UPLOADER_READY = """() => !!document.querySelector('[data-testid="stFileUploader"] input[type=file]')"""
FLOOR_READY = """() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
                       .some(m => m.innerText.includes('Hello from Streamlit'))"""


@dataclass(frozen=True)
class PageSpec:
    name: str
    path: str  # may hold {clip}
    ready_js: str
    what: str


PAGES = [
    PageSpec("Home", "", HOME_READY, "dataset counts"),
    PageSpec("Explore", "Explore?clip={clip}", EXPLORE_READY, "waveform + mel of a linked clip"),
    PageSpec("Explore plotly", "Explore?clip={clip}&explore-interactive=true", EXPLORE_PLOTLY_READY,
             "the same as interactive plotly charts"),
    PageSpec("Classify", "Classify", BARS_READY, "50-class bars, first dataset clip"),
    PageSpec("Metrics", "Metrics", METRICS_READY, "summary metrics"),
    PageSpec("Data issues", "Data_issues", ISSUES_READY, "issue counts"),
    PageSpec("Transcribe", "Transcribe", UPLOADER_READY, "file uploader"),
]
FLOOR = PageSpec("(floor)", "", FLOOR_READY, "a one-line Streamlit page: the framework's own cost")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def select_pages(names: str | None) -> list[PageSpec]:
    if not names:
        return PAGES
    by = {_norm(p.name): p for p in PAGES}
    out = []
    for n in names.split(","):
        if _norm(n) not in by:
            raise BenchError(f"unknown page {n.strip()!r}: choose from {', '.join(p.name for p in PAGES)}")
        out.append(by[_norm(n)])
    return out


# ---- one visit ----------------------------------------------------------------------------------------------------------

@dataclass
class Visit:
    page: str
    kind: str  # cold / warm
    ready_s: float = math.nan
    drawn_s: float = math.nan  # navigation -> script finished and no element waiting for its code (DRAWN_JS)
    settled_s: float = math.nan
    script_s: float = math.nan  # sum of the script runs' new_session -> script_finished
    script_runs: int = 0
    ws_bytes: int = 0
    ws_messages: int = 0
    biggest_bytes: int = 0
    biggest: str = ""
    server_cpu_s: float = math.nan
    reran_after_settle: bool = False
    error: str = ""
    notes: list[str] = field(default_factory=list)


def settle_sync(page, meter: WsMeter, since: int, timeout_s: float) -> float:
    """Wait until a script run that started after mark `since` has finished and the app shows no running script;
    returns the perf_counter time of the last script_finished message."""
    deadline = time.perf_counter() + timeout_s
    while True:
        fin = meter.last_finished(since)
        if fin is not None and not meter.running() and page.evaluate(SCRIPT_IDLE_JS):
            return fin.t
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the script did not finish within {timeout_s:.0f} s")
        page.wait_for_timeout(50)  # also lets Playwright deliver the websocket events


NAVIGATE_JS = """path => { history.pushState(null, '', path); window.dispatchEvent(new PopStateEvent('popstate')); }"""


def visit(browser, server: Server, spec: PageSpec, kind: str, *, clip: str, n_clips: int,
          timeout_s: float, context=None, in_app: bool = False, explain_slower_s: float = STALL_S) -> Visit:
    """One visit in a new browser context (or a new tab of `context`: a returning visitor, with the browser's cache of
    the app's JavaScript warm, but a new Streamlit session): navigation -> content -> script finished -> 0.5 s quiet.

    `explain_slower_s`: a visit slower than this gets its longest waits in its notes (`PageLog.gaps`).

    `in_app`: a user who already has the app open moves to the page. The tab first opens Home (Transcribe when the
    page is Home; untimed, until it has settled), then changes page inside the app as the sidebar's links do: the client changes its URL and asks the
    server for the page's script over the open websocket (history.pushState + popstate, which is also how Explore's
    `?clip=` link is followed: the sidebar's links carry no query). Timed from that change to the content."""
    from playwright.sync_api import Error as PlaywrightError

    v = Visit(spec.name, kind)
    own = context is None
    context = browser.new_context(viewport=VIEWPORT) if own else context
    page = None
    try:
        page = context.new_page()
        meter = WsMeter(page)
        log = PageLog(page)
        path = spec.path.format(clip=urllib.parse.quote(clip))
        since, cpu0, t0 = 0, math.nan, math.nan  # set again once the visit's timed part starts
        try:
            if in_app:  # Home is reached from Transcribe (a light page), every other page from Home
                start, start_ready = ("Transcribe", UPLOADER_READY) if spec.name == "Home" else ("", HOME_READY)
                page.goto(f"{server.url}/{start}", wait_until="commit", timeout=timeout_s * 1000)
                page.wait_for_function(start_ready, polling=50, timeout=timeout_s * 1000)
                settle_sync(page, meter, 0, timeout_s)
                page.wait_for_timeout(QUIET_S * 1000)
            since = meter.mark()
            cpu0 = tree_usage(server.pid)[0]
            t0 = time.perf_counter()
            if in_app:
                page.evaluate(NAVIGATE_JS, f"/{path}")
            else:
                page.goto(f"{server.url}/{path}", wait_until="commit", timeout=timeout_s * 1000)
            page.wait_for_function(spec.ready_js, polling=50, timeout=timeout_s * 1000)
            v.ready_s = time.perf_counter() - t0
            if v.ready_s > explain_slower_s:  # say where the wait was, so that a rare stall can be explained
                v.notes.append(f"{kind} visit took {v.ready_s:.1f} s; longest waits: "
                               + "; ".join(log.gaps(meter, t0, t0 + v.ready_s)))
            page.wait_for_function(DRAWN_JS, polling=20, timeout=timeout_s * 1000)
            v.drawn_s = time.perf_counter() - t0
            v.settled_s = settle_sync(page, meter, since, timeout_s) - t0
            page.wait_for_timeout(QUIET_S * 1000)
            last = meter.frames[-1] if meter.frames else None
            v.reran_after_settle = any(f.kind == "new_session" and f.t > t0 + v.settled_s for f in meter.frames)
            if last and v.reran_after_settle:
                v.notes.append("a new script run started after the page had settled")
            if spec.name == "Home":
                shown = page.evaluate(HOME_COUNT)
                if shown != n_clips:
                    v.notes.append(f"Home shows {shown} clips on disk, the folder has {n_clips}")
            exc = page.evaluate(EXCEPTIONS_JS)
            if exc:
                v.error = f"exception on the page: {exc[0][:160]}"
        except (PlaywrightError, TimeoutError) as e:
            v.error = ("timeout: " if "Timeout" in type(e).__name__ or "Timeout" in str(e)[:80] else "error: ") \
                + str(e).splitlines()[0][:160]
            if not math.isnan(t0):  # the timed part had started: where it waited
                v.notes.append(f"{kind} visit failed; longest waits: "
                               + "; ".join(log.gaps(meter, t0, time.perf_counter())))
        v.server_cpu_s = tree_usage(server.pid)[0] - cpu0
        runs = meter.script_runs(since)
        v.script_runs = len(runs)
        v.script_s = sum(b - a for a, b, _ in runs) if runs else math.nan
        v.ws_bytes, v.ws_messages = meter.bytes_since(since), len(meter.since(since))
        v.biggest_bytes, v.biggest = meter.biggest_since(since)
    finally:
        if own:
            context.close()
        elif page is not None:
            page.close()
    return v


# ---- statistics and output -------------------------------------------------------------------------------------------

def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (the maximum for fewer than 20 values)."""
    vals = sorted(v for v in values if not math.isnan(v))
    return vals[max(0, math.ceil(0.95 * len(vals)) - 1)] if vals else math.nan


def median(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def fmt_s(x: float) -> str:
    return "   -  " if math.isnan(x) else f"{x:6.2f}"


def fmt_bytes(n: float) -> str:
    if math.isnan(n):
        return "-"
    for unit, size in (("MB", 2**20), ("kB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def summarize(spec: PageSpec, visits: list[Visit]) -> dict:
    cold = next((v for v in visits if v.kind == "cold"), None)
    warm = [v for v in visits if v.kind == "warm"]
    ok_warm = [v for v in warm if not v.error]
    in_app = [v for v in visits if v.kind == "in-app"]
    s = {
        "page": spec.name, "content": spec.what,
        "cold_ready_s": cold.ready_s if cold and not cold.error else math.nan,
        "cold_settled_s": cold.settled_s if cold and not cold.error else math.nan,
        "warm_ready_median_s": median([v.ready_s for v in ok_warm]),
        "warm_ready_p95_s": p95([v.ready_s for v in ok_warm]),
        "warm_settled_median_s": median([v.settled_s for v in ok_warm]),
        "warm_drawn_median_s": median([v.drawn_s for v in ok_warm]),
        "warm_script_median_s": median([v.script_s for v in ok_warm]),
        "cold_ws_bytes": cold.ws_bytes if cold else math.nan,
        "warm_ws_bytes_median": median([float(v.ws_bytes) for v in warm]),
        "biggest_message": max(((v.biggest_bytes, v.biggest) for v in visits), default=(0, "")),
        "cold_server_cpu_s": cold.server_cpu_s if cold else math.nan,
        "warm_server_cpu_median_s": median([v.server_cpu_s for v in warm]),
        "errors": [f"{v.kind}: {v.error}" for v in visits if v.error],
        "notes": sorted({f"{v.kind}: {n}" for v in visits for n in v.notes}),
        "warm_visits": len(warm),
        "in_app_ready_median_s": median([v.ready_s for v in in_app if not v.error]),
        "in_app_ready_p95_s": p95([v.ready_s for v in in_app if not v.error]),
        "in_app_drawn_median_s": median([v.drawn_s for v in in_app if not v.error]),
        "in_app_server_cpu_median_s": median([v.server_cpu_s for v in in_app]),
        "in_app_visits": len(in_app),
    }
    warm_ok = s["warm_ready_median_s"] <= WARM_TARGET_S if warm else None
    cold_ok = s["cold_ready_s"] <= COLD_TARGET_S if cold else None
    s["pass"] = bool((warm_ok is not False) and (cold_ok is not False) and not s["errors"])
    s["in_app_pass"] = bool(in_app) and s["in_app_ready_median_s"] <= WARM_TARGET_S
    return s


def print_table(summaries: list[dict]) -> None:
    print()
    print(f"{'page':14s} {'cold':>6s} {'warm':>6s} {'p95':>6s} {'drawn':>6s} {'script':>7s} {'script':>6s}  "
          f"{'target (warm<=1.5, cold<=4)':27s} {'in-app':>6s} {'in-app':>9s} {'ws cold':>9s} {'ws warm':>9s} "
          f"{'CPU cold':>8s} {'CPU warm':>8s}")
    print(f"{'':14s} {'ready':>6s} {'median':>6s} {'ready':>6s} {'median':>6s} {'end':>7s} {'time':>6s}  {'':27s} "
          f"{'median':>6s} "
          f"{'(<=1.5)':>9s} {'bytes':>9s} {'bytes':>9s} {'s/view':>8s} {'s/view':>8s}")
    for s in summaries:
        if s["page"] == FLOOR.name:
            print(f"{s['page']:14s} {fmt_s(s['cold_ready_s'])} {fmt_s(s['warm_ready_median_s'])} "
                  f"{fmt_s(s['warm_ready_p95_s'])} {fmt_s(s['warm_drawn_median_s'])} {fmt_s(s['warm_settled_median_s']):>7s} "
                  f"{fmt_s(s['warm_script_median_s'])}  {'(reference, no target)':27s}")
            continue
        in_app = ("pass" if s["in_app_pass"] else "FAIL") if s["in_app_visits"] else "-"
        verdict = "pass" if s["pass"] else "FAIL"
        why = []
        if not math.isnan(s["warm_ready_median_s"]) and s["warm_ready_median_s"] > WARM_TARGET_S:
            why.append("warm")
        if s["warm_visits"] and math.isnan(s["warm_ready_median_s"]):
            why.append("no warm visit ok")
        if math.isnan(s["cold_ready_s"]) or s["cold_ready_s"] > COLD_TARGET_S:
            why.append("cold")
        if s["errors"]:
            why.append("errors")
        target = verdict + (f" ({', '.join(why)})" if why and not s["pass"] else "")
        print(f"{s['page']:14s} {fmt_s(s['cold_ready_s'])} {fmt_s(s['warm_ready_median_s'])} "
              f"{fmt_s(s['warm_ready_p95_s'])} {fmt_s(s['warm_drawn_median_s'])} {fmt_s(s['warm_settled_median_s']):>7s} "
              f"{fmt_s(s['warm_script_median_s'])}  {target:27s} {fmt_s(s['in_app_ready_median_s'])} {in_app:>9s} "
              f"{fmt_bytes(s['cold_ws_bytes']):>9s} "
              f"{fmt_bytes(s['warm_ws_bytes_median']):>9s} {fmt_s(s['cold_server_cpu_s']):>8s} "
              f"{fmt_s(s['warm_server_cpu_median_s']):>8s}")
    print("\nLargest single websocket message per page:")
    for s in summaries:
        size, what = s["biggest_message"]
        print(f"  {s['page']:14s} {fmt_bytes(size):>9s}  {what}")
    problems = [(s["page"], x) for s in summaries for x in s["errors"] + s["notes"]]
    if problems:
        print("\nErrors and notes:")
        for page, x in problems:
            print(f"  {page}: {x}")


# ---- main ---------------------------------------------------------------------------------------------------------------

def json_ready(x):
    """NaN -> None (JSON has no NaN), recursively; dataclasses as dicts."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_ready(v) for v in x]
    return x


def common_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--dataset", type=Path, default=None,
                    help=f"ESC-50 folder the app uses (default: {DEFAULT_DATASET.relative_to(ROOT)})")
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="SOUNDLAB_CACHE_DIR for the app (default: a new temporary folder, removed afterwards)")
    ap.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--allow-install", action="store_true",
                    help="run scripts/run-app.sh even when it would (re)install the requirements first")
    ap.add_argument("--start-timeout", type=float, default=180, help="seconds to wait for /_stcore/health")
    ap.add_argument("--json", type=Path, default=None, help="write every measurement to this file")


@contextlib.contextmanager
def cache_folder(path: Path | None):
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    d = Path(tempfile.mkdtemp(prefix="bench-soundlab-cache-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def resolve_dataset(path: Path | None) -> tuple[Path, list[str]]:
    root = (path or DEFAULT_DATASET).resolve()
    return root, dataset_clips(root)


def wait_for_warmup(server: Server, timeout_s: float = 60) -> float | None:
    """Seconds until the server's log says its background warm-up finished (components/warmup.py), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if "SoundLab warmed up" in server.log.read_text(errors="replace"):
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def non_negative_seconds(text: str) -> float:
    """An argparse type: seconds, 0 or more (0 explains every visit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(ap)
    ap.add_argument("--repeats", type=int, default=5, help="warm visits per page (default 5)")
    ap.add_argument("--pages", default=None, help=f"comma-separated, of: {', '.join(p.name for p in PAGES)}")
    ap.add_argument("--cold", choices=["fresh", "shared"], default="fresh",
                    help="fresh: a server start per page (default); shared: one server for all pages")
    ap.add_argument("--after-warmup", action="store_true",
                    help="make each cold visit once the server has warmed the pages' libraries (its console says "
                         "'SoundLab warmed up', scripts/serve.py): a visitor who arrives after the start, not at once")
    ap.add_argument("--timeout", type=float, default=120, help="seconds one visit may take")
    ap.add_argument("--returning", action="store_true",
                    help="warm visits are new tabs of one browser context per page (a returning visitor: the app's "
                         "JavaScript is in the browser cache; each tab is still a new Streamlit session)")
    ap.add_argument("--in-app", type=int, default=None, metavar="N",
                    help="in-app visits per page (default: --repeats): Home opened first, then the page reached inside "
                         "the app, as the sidebar's links do; 0 skips them")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip the floor: a one-line Streamlit page measured the same way first (the framework's own "
                         "cost for a new visitor on this machine)")
    ap.add_argument("--explain-slower", type=non_negative_seconds, default=STALL_S, metavar="S",
                    help=f"a visit slower than S seconds gets its longest waits (what happened before and after "
                         f"each) in the notes (default {STALL_S:.0f}, the cold target)")
    args = ap.parse_args()
    if args.in_app is None:
        args.in_app = args.repeats
    install_signal_handlers()
    try:
        check_chromium()
        dataset, clips = resolve_dataset(args.dataset)
        pages = select_pages(args.pages)
        run(args, dataset, clips, pages)
    except BenchError as e:
        sys.exit(f"bench_pages: {e}")
    except KeyboardInterrupt:
        sys.exit("bench_pages: interrupted (the server was stopped)")


def measure_page(browser, server: Server, spec: PageSpec, args, clips: list[str], *, in_app: bool = True
                 ) -> list[Visit]:
    """A page's cold visit (the first after the server started), its warm visits (new visitors, or new tabs of one
    context with --returning) and its in-app visits (--in-app), each printed as it ends."""
    visits = []
    returning = None
    if args.returning:  # its first tab fills the browser cache: untimed
        returning = browser.new_context(viewport=VIEWPORT)
        visit(browser, server, spec, "prime", clip=clips[0], n_clips=len(clips), timeout_s=args.timeout,
              context=returning)
    kinds = ["cold"] + ["warm"] * args.repeats + ["in-app"] * (args.in_app if in_app else 0)
    try:
        for kind in kinds:
            v = visit(browser, server, spec, kind, clip=clips[0], n_clips=len(clips), timeout_s=args.timeout,
                      context=returning if kind == "warm" else None, in_app=kind == "in-app",
                      explain_slower_s=args.explain_slower)
            visits.append(v)
            print(f"  {spec.name:12s} {v.kind:6s}  ready {fmt_s(v.ready_s)} s  drawn {fmt_s(v.drawn_s)} s  "
                  f"script end {fmt_s(v.settled_s)} s  "
                  f"script {fmt_s(v.script_s)} s ({v.script_runs} run(s))  ws {fmt_bytes(v.ws_bytes)} "
                  f"in {v.ws_messages} msgs  server CPU {fmt_s(v.server_cpu_s)} s"
                  + (f"  ERROR {v.error}" if v.error else "")
                  + "".join(f"\n    note: {n}" for n in v.notes), flush=True)
    finally:
        if returning is not None:
            returning.close()
    return visits


def run(args, dataset: Path, clips: list[str], pages: list[PageSpec]) -> None:
    from tests.browser import launch_chromium

    pressure_before, loop_before = cpu_pressure(), loop_time()
    print(f"dataset: {dataset} ({len(clips)} clips on disk); Explore opens {clips[0]}; machine: {os.cpu_count()} "
          f"cores, load average {loadavg()}; before starting (nothing of the benchmark running): CPU pressure "
          f"{pressure_text(pressure_before)}, a fixed Python loop {loop_before:.3f} s")
    visits: list[Visit] = []
    summaries = []
    with cache_folder(args.cache_dir) as cache, launch_chromium() as browser:
        print(f"cache: {cache}; cold visits: {args.cold}; {args.repeats} warm visit(s) per page, each "
              + ("a new tab of one context (returning visitor)" if args.returning else "a new context (new visitor)"))
        if not args.no_floor:
            with floor_app() as d, app_server(dataset, cache, port=args.port, timeout_s=args.start_timeout,
                                              floor_dir=d) as server:
                print(f"floor: {server.how}")
                floor_visits = measure_page(browser, server, FLOOR, args, clips, in_app=False)
            visits += floor_visits
            summaries.append(summarize(FLOOR, floor_visits))
        server_cm = None
        server: Server | None = None
        try:
            for spec in pages:
                if server is None or args.cold == "fresh":
                    if server_cm is not None:
                        server_cm.__exit__(None, None, None)
                    server_cm = app_server(dataset, cache, port=args.port, allow_install=args.allow_install,
                                           timeout_s=args.start_timeout)
                    t = time.perf_counter()
                    server = server_cm.__enter__()
                    cpu, rss, n = tree_usage(server.pid)
                    print(f"server started in {time.perf_counter() - t:.1f} s ({server.how}) at {server.url}: "
                          f"{rss / 2**20:.0f} MB RSS, {cpu:.1f} CPU s, {n} process(es)")
                    if args.after_warmup:
                        waited = wait_for_warmup(server)
                        print(f"  warm-up finished {waited:.1f} s later" if waited is not None else
                              "  (no warm-up line in the server's log within 60 s: cold visit anyway)")
                page_visits = measure_page(browser, server, spec, args, clips)
                visits += page_visits
                summaries.append(summarize(spec, page_visits))
                _, rss, _ = tree_usage(server.pid)
                print(f"  server RSS after {spec.name}: {rss / 2**20:.0f} MB")
        finally:
            if server_cm is not None:
                server_cm.__exit__(None, None, None)
    print_table(summaries)
    print(f"\nready = navigation -> content on screen; drawn = navigation -> script finished and no element still waiting "
          f"for its code (Streamlit's grey placeholders gone); script end = navigation -> script_finished; script time = "
          f"new_session -> script_finished as the browser saw them (warm medians). Warm = {args.repeats} "
          f"{'returning visitors (browser cache warm)' if args.returning else 'new visitors (fresh contexts)'}; "
          f"in-app = {args.in_app} visits that open Home (for Home: Transcribe) first and then change to the page inside "
          f"the app, timed from that change. (floor) = a one-line Streamlit page, measured as the warm visits. Load average at the end: {loadavg()} (figures are only meaningful on an idle machine).")
    pressure_after, loop_after = cpu_pressure(), loop_time()
    print(f"With nothing of the benchmark running: CPU pressure before {pressure_text(pressure_before)}, after "
          f"{pressure_text(pressure_after)}; a fixed Python loop {loop_before:.3f} s before, {loop_after:.3f} s after. "
          "Pressure above a few percent, or a slower loop than on other runs, means something else (another process, or "
          "another tenant of a shared VM, which the load average may not show) takes the cores: every figure above is "
          "then slower; compare pages with the (floor) row of the same run.")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {"dataset": str(dataset), "clips": len(clips), "cold_mode": args.cold, "repeats": args.repeats,
               "returning": args.returning, "in_app": args.in_app, "floor": not args.no_floor,
               "idle_machine": {"cpu_pressure": [pressure_before, pressure_after], "loop_s": [loop_before, loop_after]},
               "targets": {"warm_s": WARM_TARGET_S, "cold_s": COLD_TARGET_S},
               "summaries": summaries, "visits": [asdict(v) for v in visits]}
        args.json.write_text(json.dumps(json_ready(out), indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

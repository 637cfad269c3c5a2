"""Transcription as a user of the app waits for it: the Transcribe page in headless Chromium, the app started as the
README's start command does, alone and while another visitor moves through other pages. Run:

    .venv/bin/python bench/bench_transcribe_app.py                 # both engines, whisper-base, 2 rounds
    .venv/bin/python bench/bench_transcribe_app.py --engines transformers --rounds 1

Per engine and round, a fresh server (SOUNDLAB_WHISPER_MODEL = the local whisper-base folder of that engine): the
page transcribes the 7 s English clip first (loading the model, untimed), then the 58 s clip. Measured for the
58 s clip: from the upload to the transcript on screen (wall), and the page's own "Time taken" and real-time factor.
"beside a visitor": meanwhile a second browser context opens Metrics, Explore and Classify in turn, as a colleague
using the same instance would (their page views are counted).

Why both: `bench_transcribe.py` measures the engine beside one busy Python thread (the worst case for the GIL the
app's sessions share); this is the same work beside real sessions, with the browser on the same cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_pages import DEFAULT_DATASET, app_server, install_signal_handlers  # noqa: I001
from common import loop_time

from tests.assets import shared, whisper_models
from tests.browser import CHROMIUM, CHROMIUM_ARGS

MODELS = {"transformers": "whisper-base-hf", "faster-whisper": "whisper-base-ct2"}
OTHER_PAGES = ("Metrics", "Explore", "Classify")
TRANSCRIPT = """() => document.querySelector('[data-testid="stTextArea"] textarea')?.value || ''"""
IDLE = """() => { const app = document.querySelector('[data-testid="stApp"]');
                  return app && app.getAttribute('data-test-script-state') !== 'running'; }"""


def metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.inner_text().replace(label, "").split("\n")[-1].strip()


def transcribe(page, clip: Path, before: str, timeout_s: float, other=None, url: str = "") -> tuple[float, int]:
    """Upload `clip`, wait for a new transcript; while waiting, `other` (a page) visits other pages of the app at
    `url` (the transcript is then looked for after each of its visits: the wall time is up to one visit late, the
    page's own time taken is exact)."""
    t0 = time.perf_counter()
    page.locator('[data-testid="stFileUploader"] input[type=file]').set_input_files(str(clip))
    views, i = 0, 0
    while time.perf_counter() - t0 < timeout_s:
        if other is not None:
            other.goto(f"{url}/{OTHER_PAGES[i % len(OTHER_PAGES)]}")
            other.wait_for_function(IDLE, timeout=60_000)
            i, views = i + 1, views + 1
        else:
            page.wait_for_timeout(100)
        if page.evaluate(TRANSCRIPT) not in ("", before) and page.evaluate(IDLE):
            return time.perf_counter() - t0, views
    raise RuntimeError(f"no transcript of {clip.name} within {timeout_s:.0f} s")


def one_round(pw, engine: str, beside: bool, args) -> str:
    env = {"SOUNDLAB_WHISPER_ENGINE": engine, "SOUNDLAB_WHISPER_MODEL": str(whisper_models() / MODELS[engine])}
    if args.threads:
        env["SOUNDLAB_WHISPER_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-app-") as cache, \
            app_server(args.dataset, Path(cache), env=env) as server:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/Transcribe")
            page.locator('[data-testid="stFileUploader"] input[type=file]').wait_for(state="attached",
                                                                                      timeout=120_000)
            transcribe(page, shared("speech", "en-short.wav"), "", 300)
            other = browser.new_context().new_page() if beside else None
            wall, views = transcribe(page, shared("speech", "en-long.wav"), page.evaluate(TRANSCRIPT), 600, other,
                                     server.url)
            where = f"beside a visitor ({views} page views)" if beside else "alone"
            return (f"{engine:15s} {where:32s} wall {wall:5.1f} s   page: time taken {metric(page, 'Time taken')}, "
                    f"RTF {metric(page, 'Real-time factor')}")
        finally:
            browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="transformers,faster-whisper")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--threads", type=int, help="SOUNDLAB_WHISPER_THREADS for the app (default: its default)")
    args = ap.parse_args()
    install_signal_handlers()
    from playwright.sync_api import sync_playwright

    print(f"whisper-base, the 58 s clip; the machine's speed: a fixed Python loop {loop_time():.3f} s")
    with sync_playwright() as pw:
        for r in range(args.rounds):
            for engine in args.engines.split(","):
                for beside in (False, True):
                    print(f"round {r + 1}: {one_round(pw, engine.strip(), beside, args)}", flush=True)
    print(f"the fixed Python loop after the runs: {loop_time():.3f} s")


if __name__ == "__main__":
    main()

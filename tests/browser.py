"""Helpers for the browser tests: run the app with `streamlit run`, drive Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.assets import ROOT

CHROMIUM = os.environ.get("SOUNDLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
# Classify's answer: its one large line ("A dog barking — 98%"), the only h2 in the page's main area
ANSWER = '[data-testid="stMain"] [data-testid="stMarkdownContainer"] h2'
APP_LOGS: list[Path] = []  # the server logs of the apps started by `start_app`, newest last (for failure reports)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start_app(env: dict[str, str], *, host: str = "127.0.0.1", port: int | None = None,
              script: str = "app.py", netns: str | None = None, timeout_s: float = 90):
    """Start the app (app.py: Home.py and pages/ with the middleware scripts/run-app.sh serves them with) and wait until
    it answers its health check; stop it afterwards."""
    port = port or free_port(host if netns is None else "127.0.0.1")
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.address", host, "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    log = tempfile.NamedTemporaryFile("w+", prefix="streamlit-", suffix=".log", delete=False)
    APP_LOGS.append(Path(log.name))
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{Path(log.name).read_text()}")
            try:
                if netns:
                    ok = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sf", f"{url}/_stcore/health"],
                                        capture_output=True).returncode == 0
                else:
                    ok = urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200
                if ok:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start in {timeout_s} s:\n{Path(log.name).read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def launch_chromium(extra_args: list[str] | None = None):
    """Playwright driving Debian's Chromium with a fresh profile (no browser download needed)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: run scripts/run-tests.sh, which installs chromium with apt-get.")
    from playwright.sync_api import sync_playwright

    # Playwright starts Chromium with a new temporary profile (a fresh user-data dir) each launch.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + (extra_args or []))
        try:
            yield browser
        finally:
            browser.close()


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' status widget).

    On a timeout the error says what the page showed, what the script state was and what the app server logged last,
    and a screenshot is saved: a run that hangs on a machine we never see must be diagnosable from CI's output.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
        page.wait_for_function(
            """() => {
                const app = document.querySelector('[data-testid="stApp"]');
                return app && app.getAttribute('data-test-script-state') !== 'running'
                       && !document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]');
            }""",
            timeout=timeout_ms,
        )
    except PlaywrightTimeout as e:
        raise AssertionError(f"the app did not finish its script run in {timeout_ms / 1000:.0f} s\n"
                             + describe_failure(page, "timeout")) from e
    page.wait_for_timeout(300)


def wait_for_url(page, part: str, timeout_ms: int = 90_000) -> None:
    """Wait until the page's address holds `part` (e.g. "clip=x.wav": a selection reached the script, which wrote it to
    the URL); on a timeout, say what the page showed (`describe_failure`)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("part => location.href.includes(part)", arg=part, timeout=timeout_ms)
    except PlaywrightTimeout as e:
        raise AssertionError(f"the address never held {part!r} in {timeout_ms / 1000:.0f} s\n"
                             + describe_failure(page, "url")) from e


def go_back(page, timeout_s: float = 30) -> None:
    """The browser's Back button, pressed once the browser holds the page's address as its current history entry.

    Playwright's `go_back` moves to the entry before the one the *browser process* holds as current. Streamlit pushes
    an entry when the page changes (`history.pushState` in the page), and that entry reaches the browser process a
    moment later: Back pressed in between leaves the app for the entry before (a CI run went back to about:blank
    instead of Explore). On a timeout the error lists the history the browser held."""
    cdp = page.context.new_cdp_session(page)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            history = cdp.send("Page.getNavigationHistory")
            here = page.evaluate("location.href")
            if history["entries"][history["currentIndex"]]["url"] == here:
                break
            if time.monotonic() > deadline:
                entries = [("> " if i == history["currentIndex"] else "  ") + e["url"]
                           for i, e in enumerate(history["entries"])]
                raise AssertionError(f"the browser's history never reached {here} in {timeout_s:.0f} s:\n"
                                     + "\n".join(entries) + "\n" + describe_failure(page, "history"))
            time.sleep(0.1)
    finally:
        cdp.detach()
    page.go_back()


def describe_failure(page, name: str) -> str:
    """What a failing browser test saw: URL, script state, status widget, visible text, screenshot, server log tail."""
    lines = [f"url: {page.url}"]
    try:
        lines.append("script state: " + str(page.evaluate(
            "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state')")))
        lines.append("status widget: " + str(page.evaluate(
            "() => document.querySelector('[data-testid=stStatusWidget]')?.innerText")))
        lines.append("page text (first 1500 chars): " + page.inner_text("body")[:1500].replace("\n", " | "))
        lines.append(f"screenshot: {screenshot(page, 'failure-' + name)}")
    except Exception as e:  # noqa: BLE001 - a report of a failure must not fail itself
        lines.append(f"(could not read the page: {e})")
    if APP_LOGS and APP_LOGS[-1].is_file():
        tail = APP_LOGS[-1].read_text(errors="replace").splitlines()[-40:]
        lines.append("app server log (last 40 lines):\n" + "\n".join(tail))
    return "\n".join(lines)


def no_exception(page) -> list[str]:
    """Texts of any exception boxes on the page (should be empty)."""
    return [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

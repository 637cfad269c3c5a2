"""The README's start command (scripts/run-app.sh runs scripts/serve.py): the server starts, serves the app, and warms
the pages' libraries in the background without getting in the way."""

import contextlib
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.assets import ROOT
from tests.browser import free_port


def test_warm_up_runs_every_step():
    from components import warmup

    times = warmup.run(steps=warmup.LIBRARIES)
    assert set(times) == {name for name, _ in warmup.LIBRARIES} and all(t >= 0 for t in times.values())


def test_warm_up_loads_the_classify_pages_default_model_into_the_pages_cache(monkeypatch):
    """The model step fills the cache the Classify page reads: its first visitor after a start loads nothing."""
    from components import classify_view, loaders, warmup
    from soundlab import classify, runs
    from soundlab.models import backbone

    assert set(warmup.run(steps=warmup.MODELS)) == {name for name, _ in warmup.MODELS}
    run = runs.preferred([r for r in loaders.runs()[0] if r.classifies_audio])  # what the page opens with

    def no_second_load(*args, **kwargs):
        raise AssertionError("the warmed model was loaded again")

    monkeypatch.setattr(classify, "load_classifier", no_second_load)
    monkeypatch.setattr(backbone, "load_backbone", no_second_load)
    clf = loaders.classifier(run, run.default_model, loaders.backbone(run.backbone_key))
    assert clf.run.id == run.id and clf.kind == run.default_model
    assert classify_view.other_backbones(clf)  # the other backbones, whose tags the page shows, are loaded too


@pytest.mark.parametrize("value, steps", [("", "STEPS"), ("models", "STEPS"), ("libraries", "LIBRARIES"),
                                          ("bogus", "LIBRARIES"), ("off", None)])
def test_soundlab_warmup_chooses_the_steps(monkeypatch, capsys, value, steps):
    from components import warmup

    started = []
    monkeypatch.setattr(warmup.threading, "Thread", lambda **kw: started.append(kw["kwargs"]["steps"]) or
                        type("T", (), {"start": lambda self: None})())
    monkeypatch.setenv("SOUNDLAB_WARMUP", value)
    thread = warmup.start()
    assert (thread is None) == (steps is None)
    assert started == ([getattr(warmup, steps)] if steps else [])
    if steps == "STEPS":  # Streamlit's warning about the loaders' spinners is dropped for the warm-up thread, once
        log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
        assert sum(isinstance(f, warmup._NoContextWarning) for f in log.filters) == 1
    if value == "bogus":  # named on the console, and the server still starts
        assert "SOUNDLAB_WARMUP must be models, libraries or off, got 'bogus'" in capsys.readouterr().err


def test_the_warm_up_hides_streamlits_context_warning_for_its_own_thread_only():
    from components import warmup

    record = logging.LogRecord("streamlit", logging.WARNING, __file__, 1, "Thread '%s': missing ScriptRunContext! This "
                               "warning can be ignored when running in bare mode.", (warmup.THREAD_NAME,), None)
    record.threadName = warmup.THREAD_NAME
    assert not warmup._NoContextWarning().filter(record)
    record.threadName = "ScriptRunner.scriptThread"  # a page's own thread: still warned about
    assert warmup._NoContextWarning().filter(record)


def test_serve_starts_the_app_and_warms_up(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "SOUNDLAB_CACHE_DIR": str(tmp_path / "cache")}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "scripts/serve.py", "--server.port", str(port), "--server.address",
                                 "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        served = warmed = False
        while time.monotonic() < deadline and not (served and warmed):
            assert proc.poll() is None, log.read_text()
            try:
                served = served or urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200
            except OSError:
                pass
            warmed = "SoundLab warmed up in the background" in log.read_text()
            time.sleep(0.5)
        assert served and warmed, log.read_text()
        text = log.read_text()
        # the warm-up ran niced, but no thread it leaves behind is (TensorFlow's, torch's and OpenBLAS's pools, and the
        # inference thread the model step started, would run every later classification at low priority); jemalloc's
        # purger, idle, may be
        niced = []
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                stat = (task / "stat").read_text()
                name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
                if int(fields[16]) != 0:  # field 19 of stat, the nice value
                    niced.append(name)
        assert set(niced) <= {"jemalloc_bg_thd"}, niced
        assert "SoundLab warm-up of" not in text  # no step failed (a step's failure is named so)
        assert "the Classify page's default model" in text.split("SoundLab warmed up in the background")[1]
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        assert b"<div id=\"root\">" in page or b"root" in page
        # app.py's middleware: each page's HTML tells the client where the app's root is (none for Streamlit's own)
        import app

        assert app.root_script(0) in page
        explore = urllib.request.urlopen(f"http://127.0.0.1:{port}/Explore?clip=x.wav", timeout=10).read()
        assert app.root_script(1) in explore and explore.count(b"BACKEND_BASE_URL") == 1
        assert b"BACKEND_BASE_URL" not in urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                                                 timeout=10).read()
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_sets_a_short_thread_switch_interval(monkeypatch):
    """scripts/serve.py sets Python's switch interval to 0.5 ms before Streamlit starts (a classification beside
    another busy thread: 290-300 ms at 5 ms, 52-64 ms at 0.5 ms; bench/bench_classify.py)."""
    import importlib.util

    from streamlit.web import cli

    from components import warmup

    spec = importlib.util.spec_from_file_location("serve_under_test", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    seen = {}
    monkeypatch.setattr(warmup, "start", lambda: seen.setdefault("warm", sys.getswitchinterval()))
    monkeypatch.setattr(cli, "main", lambda prog_name: seen.setdefault("run", (sys.getswitchinterval(), sys.argv)) and 0)
    monkeypatch.setattr(sys, "argv", ["serve.py", "--server.port", "1"])
    before = sys.getswitchinterval()
    try:
        serve.main()
    finally:
        sys.setswitchinterval(before)
    assert seen["warm"] == seen["run"][0] == serve.SWITCH_INTERVAL_S == 0.0005
    assert seen["run"][1][:2] == ["streamlit", "run"] and seen["run"][1][-2:] == ["--server.port", "1"]


def test_the_server_parses_http_in_c_and_runs_on_uvloop():
    """requirements.txt installs streamlit[performance]; uvicorn's "auto" choices must then pick httptools and uvloop
    (pure-Python h11 cost 2.6-3.0 ms of server CPU per request against 0.85 ms: bench/bench_pages.py)."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = uvicorn.Config(lambda scope, receive, send: None)  # Streamlit leaves http and loop at "auto"
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory().__module__.startswith("uvloop")


def test_page_depth_counts_segments_below_the_base_url_path():
    from app import page_depth

    assert page_depth("/", "") == 0
    assert page_depth("/Explore", "") == 1
    assert page_depth("/Explore/", "") == 1
    assert page_depth("/soundlab/Explore", "soundlab") == 1
    assert page_depth("/soundlab", "/soundlab/") == 0
    assert page_depth("/other/Explore", "soundlab") is None  # outside the base
    for own in ("/_stcore/health", "/static/js/index.js", "/media/x.jpg", "/component/webrtc/index.html",
                "/app/static/x.png", "/soundlab/_stcore/stream"):
        assert page_depth(own, "soundlab" if own.startswith("/soundlab") else "") is None


def _through_middleware(path: str, headers: list, body: bytes, *, status: int = 200, method: str = "GET",
                        chunks: int = 1) -> tuple[dict, bytes]:
    """One request through app.AppRootInPage in front of an ASGI app that answers with `body` in `chunks` parts."""
    import asyncio
    import concurrent.futures

    from app import AppRootInPage

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        step = -(-len(body) // chunks) or 1
        parts = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, AppRootInPage(inner, base_url_path="")(scope, receive, send)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_middleware_adds_the_root_script_to_streamlits_page_html_only():
    import gzip

    from app import root_script

    html = b'<!DOCTYPE html><html><head><title>x</title></head><body><div id="root"></div></body></html>'
    page_type = [(b"content-type", b"text/html; charset=utf-8")]
    start, out = _through_middleware("/Data_issues", page_type, html, chunks=3)
    assert out == html.replace(b"<head>", b"<head>" + root_script(1))
    assert dict(start["headers"])[b"content-length"] == str(len(out)).encode()
    # gzip-encoded (Streamlit compresses HTML for browsers that accept it): sent decoded, with the script
    start, out = _through_middleware("/", [*page_type, (b"content-encoding", b"gzip")], gzip.compress(html))
    assert out == html.replace(b"<head>", b"<head>" + root_script(0))
    assert b"content-encoding" not in dict(start["headers"])
    # untouched: other HTML (no Streamlit root), other types, Streamlit's own paths, errors, other methods
    other = b"<html><head></head><body>component</body></html>"
    assert _through_middleware("/Explore", page_type, other)[1] == other
    assert _through_middleware("/Explore", [(b"content-type", b"application/json")], b'{"a": 1}')[1] == b'{"a": 1}'
    assert _through_middleware("/component/x/index.html", page_type, html)[1] == html
    assert _through_middleware("/Explore", page_type, html, status=304)[1] == html
    assert _through_middleware("/Explore", page_type, html, method="HEAD")[1] == html


@pytest.mark.browser
def test_the_root_script_finds_the_root_in_a_browser(browser):
    """The script itself, in Chromium: the page's address minus `depth` segments, behind a path prefix too; a host's own
    window.__streamlit is kept."""
    from app import root_script

    def html(head: bytes):
        return lambda route: route.fulfill(content_type="text/html", body=b"<html><head>" + head + b"</head></html>")

    page = browser.new_page()
    try:
        cases = [("http://example.test/Explore", 1, "http://example.test/"),
                 ("http://example.test/", 0, "http://example.test/"),
                 ("http://example.test/proxy/8501/Data_issues?x=1", 1, "http://example.test/proxy/8501/"),
                 ("http://example.test/soundlab/Explore/", 1, "http://example.test/soundlab/")]
        for url, depth, root in cases:
            page.route("**/*", html(root_script(depth)))
            page.goto(url)
            assert page.evaluate("window.__streamlit.BACKEND_BASE_URL") == root, url
            page.unroute("**/*")
        page.route("**/*", html(b"<script>window.__streamlit={BACKEND_BASE_URL:'http://host.test/'}</script>"
                                + root_script(1)))
        page.goto("http://example.test/Explore")
        assert page.evaluate("window.__streamlit.BACKEND_BASE_URL") == "http://host.test/"
    finally:
        page.close()

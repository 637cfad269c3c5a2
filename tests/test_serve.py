"""The README's start command (scripts/run-app.sh runs scripts/serve.py): the server starts, serves the app, and warms
the pages' libraries in the background without getting in the way."""

import os
import subprocess
import sys
import time
import urllib.request

from tests.assets import ROOT
from tests.browser import free_port


def test_warm_up_runs_every_step():
    from components import warmup

    times = warmup.run()
    assert set(times) == {name for name, _ in warmup.STEPS} and all(t >= 0 for t in times.values())


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
        assert "failed" not in log.read_text()
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        assert b"<div id=\"root\">" in page or b"root" in page
    finally:
        proc.terminate()
        proc.wait(20)


def test_the_server_parses_http_in_c_and_runs_on_uvloop():
    """requirements.txt installs streamlit[performance]; uvicorn's "auto" choices must then pick httptools and uvloop
    (pure-Python h11 cost 2.6-3.0 ms of server CPU per request against 0.85 ms: bench/bench_pages.py)."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = uvicorn.Config(lambda scope, receive, send: None)  # Streamlit leaves http and loop at "auto"
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory().__module__.startswith("uvloop")

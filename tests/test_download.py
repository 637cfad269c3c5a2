"""soundlab.download against a real HTTP server on 127.0.0.1 serving a small zip in the official layout."""

import io
import socket
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from soundlab.data import esc50
from soundlab.data.download import download_esc50, verify_archive
from soundlab.errors import DownloadError
from tests.assets import ROOT, shared


def make_zip(n_wavs=2000, top="ESC-50-master/"):
    """The official archive's layout with tiny (100-sample) clips: the real csv, 2000 wav files."""
    csv = shared("data", "esc50", "meta", "esc50.csv").read_text()
    names = [line.split(",")[0] for line in csv.strip().split("\n")[1:]]
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(top + "README.md", "ESC-50 test archive\n")
        zf.writestr(top + "meta/esc50.csv", csv)
        for name in names[:n_wavs]:
            wav = io.BytesIO()
            sf.write(wav, (0.1 * rng.standard_normal(100)).astype(np.float32), 44_100, format="WAV", subtype="PCM_16")
            zf.writestr(top + "audio/" + name, wav.getvalue())
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_zip():
    return make_zip()


class Server:
    """Serves one payload; can drop the connection once, ignore Range, and records requests."""

    def __init__(self, payload: bytes, *, drop_after=None, ranges=True):
        self.payload, self.drop_after, self.ranges = payload, drop_after, ranges
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = 0
                if rng and outer.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(outer.payload) - 1}/{len(outer.payload)}")
                else:
                    self.send_response(200)
                body = outer.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"v1"')
                self.end_headers()
                if outer.drop_after is not None:
                    cut, outer.drop_after = outer.drop_after, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ESC-50/archive/master.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(payload, **kw):
        servers.append(Server(payload, **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_download_installs_a_complete_dataset(tmp_path, serve, good_zip):
    server = serve(good_zip)
    stages = []
    dest = tmp_path / "data" / "ESC-50"
    download_esc50(dest, url=server.url, progress=lambda s, d, t: stages.append((s, d, t)))
    ds = esc50.load_dataset(dest)
    assert ds.kind == "full" and ds.n_present == 2000
    assert (dest / "README.md").is_file()
    assert {s for s, _, _ in stages} == {"download", "verify", "extract"}
    last_download = [x for x in stages if x[0] == "download"][-1]
    assert last_download[1] == last_download[2] == len(good_zip)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["ESC-50"]  # staging cleaned up


def test_dropped_connection_resumes(tmp_path, serve, good_zip):
    server = serve(good_zip, drop_after=len(good_zip) // 3)
    dest = tmp_path / "ESC-50"
    download_esc50(dest, url=server.url, retries=2)
    assert esc50.load_dataset(dest).kind == "full"
    assert server.requests == [None, f"bytes={len(good_zip) // 3}-"]


def test_interrupted_download_resumes_on_the_next_call(tmp_path, serve, good_zip):
    dest = tmp_path / "ESC-50"
    staging = tmp_path / ".ESC-50.download"
    staging.mkdir()
    (staging / "ESC-50-master.zip.part").write_bytes(good_zip[:100_000])
    server = serve(good_zip)
    download_esc50(dest, url=server.url)
    assert server.requests == ["bytes=100000-"]
    assert esc50.load_dataset(dest).n_present == 2000


def test_server_without_range_support_restarts(tmp_path, serve, good_zip):
    dest = tmp_path / "ESC-50"
    staging = tmp_path / ".ESC-50.download"
    staging.mkdir()
    (staging / "ESC-50-master.zip.part").write_bytes(b"stale bytes from another file")
    server = serve(good_zip, ranges=False)
    download_esc50(dest, url=server.url)
    assert esc50.load_dataset(dest).n_present == 2000


def test_corrupt_zip_is_refused_and_the_old_dataset_kept(tmp_path, serve, good_zip):
    dest = tmp_path / "ESC-50"
    (dest / "meta").mkdir(parents=True)
    (dest / "keep.txt").write_text("the partial dataset the user already had")
    corrupt = bytearray(good_zip)
    middle = len(corrupt) // 2
    corrupt[middle : middle + 64] = bytes(64)
    server = serve(bytes(corrupt))
    with pytest.raises(DownloadError, match="corrupt|not a valid zip"):
        download_esc50(dest, url=server.url)
    assert (dest / "keep.txt").read_text().startswith("the partial")
    assert not (tmp_path / ".ESC-50.download" / "ESC-50-master.zip.part").exists()  # next call starts clean
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ESC-50.tmp")] == []


def test_html_instead_of_zip(tmp_path, serve):
    server = serve(b"<html><body>Rate limit exceeded</body></html>")
    with pytest.raises(DownloadError, match="not a valid zip archive"):
        download_esc50(tmp_path / "ESC-50", url=server.url)
    assert not (tmp_path / "ESC-50").exists()


def test_incomplete_archive_is_refused(tmp_path, serve):
    server = serve(make_zip(n_wavs=1999))
    with pytest.raises(DownloadError, match="holds 1999 wav files"):
        download_esc50(tmp_path / "ESC-50", url=server.url)
    assert not (tmp_path / "ESC-50").exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/master.zip", "https://esc50.invalid/master.zip"])
def test_offline_fails_fast_and_says_what_to_do(tmp_path, url):
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_esc50(tmp_path / "ESC-50", url=url, timeout_s=5)
    assert time.monotonic() - t0 < 10  # fails at once (no retries, no long wait); generous for a busy machine
    message = str(info.value)
    assert "offline" in message and "SOUNDLAB_ESC50_ROOT" in message and "--archive" in message


def test_verify_rejects_unsafe_paths(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil/meta/esc50.csv", "x")
    (tmp_path / "evil.zip").write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="unsafe paths"):
        verify_archive(tmp_path / "evil.zip")


def test_cli_download_with_progress_and_local_archive(tmp_path, serve, good_zip):
    server = serve(good_zip)
    env = {"PATH": "/usr/bin:/bin", "SOUNDLAB_ESC50_ROOT": str(tmp_path / "ESC-50")}
    run = subprocess.run([sys.executable, "-m", "soundlab", "download", "--url", server.url], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "100.0%" in run.stderr and "installed at" in run.stdout
    again = subprocess.run([sys.executable, "-m", "soundlab", "download"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already complete" in again.stdout
    (tmp_path / "ESC-50-master.zip").write_bytes(good_zip)
    local = subprocess.run([sys.executable, "-m", "soundlab", "download", "--archive",
                            str(tmp_path / "ESC-50-master.zip"), "--dest", str(tmp_path / "copy")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    assert "SOUNDLAB_ESC50_ROOT=" in local.stdout  # says how to point the app at it


def test_cli_offline_message(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SOUNDLAB_ESC50_ROOT": str(tmp_path / "ESC-50"),
           "SOUNDLAB_ESC50_URL": "https://esc50.invalid/master.zip"}
    run = subprocess.run([sys.executable, "-m", "soundlab", "download"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "offline" in run.stderr and "Traceback" not in run.stderr


def _disk_full(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_extracting_is_a_clear_error_and_keeps_the_old_dataset(tmp_path, serve, good_zip,
                                                                                  monkeypatch):
    dest = tmp_path / "ESC-50"
    (dest / "meta").mkdir(parents=True)
    (dest / "keep.txt").write_text("the partial dataset the user already had")
    server = serve(good_zip)
    monkeypatch.setattr(zipfile.ZipFile, "extract", _disk_full)
    with pytest.raises(DownloadError, match="disk is full") as e:
        download_esc50(dest, url=server.url)
    assert "untouched" in str(e.value)
    assert (dest / "keep.txt").read_text().startswith("the partial")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ESC-50.tmp")] == []


def test_a_full_disk_while_downloading_is_not_retried_as_a_network_error(tmp_path, serve, good_zip, monkeypatch):
    import builtins

    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            _disk_full()

    def fake_open(path, mode="r", *a, **kw):
        f = real_open(path, mode, *a, **kw)
        return Full(f) if str(path).endswith(".part") and "b" in mode and ("w" in mode or "a" in mode) else f

    server = serve(good_zip)
    monkeypatch.setattr(builtins, "open", fake_open)
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="disk is full"):
        download_esc50(tmp_path / "ESC-50", url=server.url)
    assert time.monotonic() - t0 < 10  # at once, no retries
    assert not (tmp_path / "ESC-50").exists()

"""Download and install the official ESC-50 archive, safely.

The archive (GitHub's ``master.zip``, about 600 MB) is fetched into a staging folder next to the
destination, resumed with an HTTP Range request if a previous attempt was interrupted, checked
(zip CRCs, the metadata csv, 2000 wav files), extracted into a temporary folder and only then
renamed into place. A failed or interrupted download never leaves a half dataset where the app
looks. Progress goes to a callback so the CLI can draw a bar and the Home page an ``st.progress``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from soundlab.data.esc50 import N_CLIPS, load_dataset
from soundlab.errors import DatasetError, DownloadError

# progress(stage, done, total): stage is "download", "verify" or "extract"; total may be None
Progress = Callable[[str, int, int | None], None]
CHUNK = 1 << 20


def _offline_message(url: str, reason: object) -> str:
    host = urllib.parse.urlparse(url).hostname or url
    return (
        f"Cannot reach {host} ({reason}); this machine looks offline. To use a copy of ESC-50 you "
        "already have, set SOUNDLAB_ESC50_ROOT to the folder that holds meta/esc50.csv and audio/ "
        "(e.g. ESC-50-master), or fetch ESC-50-master.zip on another machine and run "
        "`python -m soundlab download --archive ESC-50-master.zip`."
    )


def fetch(url: str, part: Path, *, timeout_s: float = 20.0, progress: Progress | None = None,
          retries: int = 3, retry_wait_s: float = 0.5) -> Path:
    """Download `url` into `part`, resuming from its current size. Returns `part` when complete.

    Raises
    ------
    DownloadError
        Offline (at once, no retries), an HTTP error, or the connection dropped more than
        `retries` times in a row without progress. The partial file is kept for the next attempt.
    """
    meta_path = part.with_suffix(part.suffix + ".json")
    validator = {}
    if meta_path.is_file():
        try:
            validator = json.loads(meta_path.read_text())
        except ValueError:
            validator = {}
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "soundlab-download/1"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if validator.get("etag") or validator.get("last_modified"):
                headers["If-Range"] = validator.get("etag") or validator["last_modified"]
        req = urllib.request.Request(url, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=timeout_s)
        except urllib.error.HTTPError as e:
            if e.code == 416 and have and validator.get("total") == have:
                return part  # already complete
            if e.code == 416:  # our partial file does not fit the remote one: start over
                part.unlink(missing_ok=True)
                failures += 1
                if failures > retries:
                    raise DownloadError(f"download of {url} failed: HTTP 416 repeatedly") from None
                continue
            raise DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            if have == 0 and failures == 0:  # could not even connect: offline, fail fast
                raise DownloadError(_offline_message(url, getattr(e, "reason", e))) from None
            failures += 1
            if failures > retries:
                raise DownloadError(f"download of {url} failed after {retries} retries: "
                                    f"{getattr(e, 'reason', e)}. Run the command again to resume.") from None
            time.sleep(retry_wait_s)
            continue
        with resp:
            if resp.status == 206:
                start = have
                mode = "ab"
            else:  # 200: the server sent the whole file (no range support, or it changed)
                start = 0
                mode = "wb"
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            total = start + expected if expected is not None else None
            validator = {"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"),
                         "total": total}
            meta_path.write_text(json.dumps(validator))
            got = 0
            try:
                with open(part, mode) as f:
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        try:
                            f.write(chunk)
                        except OSError as e:  # our side (a full disk), not the network: stop, do not retry
                            raise DownloadError(_write_failure(part, e)) from None
                        got += len(chunk)
                        if progress:
                            progress("download", start + got, total)
            except (OSError, http.client.HTTPException) as e:
                dropped: object = e
            else:
                dropped = None
        if dropped is None and (expected is None or got >= expected):
            meta_path.unlink(missing_ok=True)
            return part
        # connection dropped: resume from what we have
        failures = 0 if got else failures + 1
        if failures > retries:
            raise DownloadError(
                f"download of {url} keeps dropping ({dropped or 'connection closed early'}); "
                f"{part.stat().st_size} bytes are kept in {part}. Run the command again to resume."
            )
        time.sleep(retry_wait_s)


def _write_failure(path: Path, e: OSError) -> str:
    import errno

    what = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
    return (f"cannot write {path}: {what}. Nothing was installed and any dataset already there is untouched; "
            "free some space and run the download again (it resumes).")


def verify_archive(zip_path: Path, *, expected_clips: int = N_CLIPS) -> str:
    """Check an ESC-50 zip without extracting it. Returns the folder inside that holds meta/ and audio/.

    Raises
    ------
    DownloadError
        Not a zip, a damaged member (CRC), a missing csv, or not `expected_clips` wav files.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            bad = zf.testzip()
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DownloadError(f"{zip_path.name} is not a valid zip archive ({e}); it is corrupt or incomplete.") from None
    except Exception as e:  # zlib.error and friends from a damaged member
        raise DownloadError(f"{zip_path.name} is corrupt: {e}") from None
    if bad is not None:
        raise DownloadError(f"{zip_path.name} is corrupt: member {bad} fails its checksum.")
    unsafe = [n for n in names if n.startswith("/") or ".." in Path(n).parts]
    if unsafe:
        raise DownloadError(f"{zip_path.name} holds unsafe paths (e.g. {unsafe[0]}); refusing to extract it.")
    csvs = [n for n in names if n.endswith("meta/esc50.csv")]
    if not csvs:
        raise DownloadError(f"{zip_path.name} has no meta/esc50.csv: it is not the ESC-50 archive.")
    top = csvs[0][: -len("meta/esc50.csv")]
    wavs = [n for n in names if n.startswith(top + "audio/") and n.endswith(".wav")]
    if len(wavs) != expected_clips:
        raise DownloadError(
            f"{zip_path.name} holds {len(wavs)} wav files in {top}audio/; the ESC-50 archive has {expected_clips}."
        )
    return top


def install_archive(zip_path: Path, dest: Path, *, expected_clips: int = N_CLIPS,
                    progress: Progress | None = None) -> Path:
    """Verify `zip_path`, extract it beside `dest` and rename it into place. Returns `dest`."""
    zip_path, dest = Path(zip_path), Path(dest)
    if progress:
        progress("verify", 0, None)
    top = verify_archive(zip_path, expected_clips=expected_clips)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = [m for m in zf.infolist() if m.filename.startswith(top)]
            for i, m in enumerate(members):
                try:
                    zf.extract(m, tmp)
                except OSError as e:
                    raise DownloadError(_write_failure(tmp / m.filename, e)) from None
                if progress and (i % 200 == 0 or i == len(members) - 1):
                    progress("extract", i + 1, len(members))
        new_root = tmp / top if top else tmp
        try:
            ds = load_dataset(new_root)
        except DatasetError as e:
            raise DownloadError(f"the archive's metadata is not valid: {e}") from None
        if ds.n_present != expected_clips:
            raise DownloadError(f"after extraction {ds.n_present} of {expected_clips} clips match the metadata.")
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            dest.rename(old)
        try:
            new_root.rename(dest)
        except OSError:
            if old is not None:
                old.rename(dest)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def download_esc50(dest: Path, *, url: str, timeout_s: float = 20.0, progress: Progress | None = None,
                   archive: Path | None = None, expected_clips: int = N_CLIPS, retries: int = 3,
                   keep_archive: bool = False) -> Path:
    """Fetch (or take `archive`), verify and install ESC-50 at `dest`.

    The download is staged in ``dest.parent/.{dest.name}.download/`` and resumed from there on
    the next call if interrupted. A corrupt archive is deleted so the next call starts clean.

    Raises
    ------
    DownloadError
        Offline, HTTP or network failure, corrupt or incomplete archive. `dest` is untouched.
    """
    dest = Path(dest)
    if archive is not None:
        archive = Path(archive)
        if not archive.is_file():
            raise DownloadError(f"archive not found: {archive}")
        return install_archive(archive, dest, expected_clips=expected_clips, progress=progress)
    staging = dest.parent / f".{dest.name}.download"
    staging.mkdir(parents=True, exist_ok=True)
    part = staging / "ESC-50-master.zip.part"
    fetch(url, part, timeout_s=timeout_s, progress=progress, retries=retries)
    try:
        install_archive(part, dest, expected_clips=expected_clips, progress=progress)
    except DownloadError:
        part.unlink(missing_ok=True)  # a corrupt download must not be resumed
        raise
    if not keep_archive:
        shutil.rmtree(staging, ignore_errors=True)
    return dest

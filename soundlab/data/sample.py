"""Build the shipped sample: one real ESC-50 clip per class, FLAC (lossless), with attribution.

The sample is what a fresh clone shows before the dataset is downloaded. It has the official
layout (``meta/esc50.csv`` with all 2000 rows, ``audio/*.flac`` for the 50 clips it holds), so the
data layer treats it like a partial dataset.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from soundlab.data.esc50 import load_dataset

# Sounds the Classify page offers to try with one click: sample clips of classes people know, and two sounds that are
# none of the 50 (made here, see examples/README.md) to show the "not one of the 50" answer
EXAMPLES = (("Dog", "audio/2-117271-A-0.flac"), ("Rooster", "audio/2-95258-B-1.flac"),
            ("Crying baby", "audio/5-198411-E-20.flac"), ("Siren", "audio/4-102871-A-42.flac"),
            ("Church bells", "audio/4-125825-A-46.flac"), ("Rain", "audio/1-17367-A-10.flac"),
            ("Speech", "examples/speech-en.ogg"), ("Piano", "examples/piano.ogg"))


def examples(sample_root: Path) -> dict[str, Path]:
    """The example sounds that are on disk: {label: path}."""
    return {label: Path(sample_root) / rel for label, rel in EXAMPLES if (Path(sample_root) / rel).is_file()}


LICENSE_TEXT = """\
# Licence and attribution of the sample clips

These {n} clips are taken unchanged (re-encoded losslessly from 16-bit WAV to FLAC) from the
ESC-50 dataset:

> K. J. Piczak. ESC: Dataset for Environmental Sound Classification. Proceedings of the 23rd
> Annual ACM Conference on Multimedia, Brisbane, Australia, 2015. doi:10.1145/2733373.2806390
> https://github.com/karolpiczak/ESC-50

ESC-50 is licensed under the Creative Commons Attribution-NonCommercial 3.0 licence
(CC BY-NC 3.0, https://creativecommons.org/licenses/by-nc/3.0/). The clips of its ESC-10 subset
are also available under Creative Commons Attribution 3.0 (CC BY 3.0,
https://creativecommons.org/licenses/by/3.0/). The clips were extracted by K. J. Piczak from
recordings on freesound.org; each clip's source recording is linked below by its Freesound id
(`src_file`). `meta/esc50.csv` is the official ESC-50 metadata, unchanged.

Because of the NC term, the sample (like ESC-50 itself) may not be used commercially.

| file | class | category | ESC-10 | licence | Freesound source |
|---|---|---|---|---|---|
"""


def activity(y: np.ndarray, sr: int) -> float:
    """Share of 50 ms frames within 30 dB of the clip's loudest frame (how much of it is sound)."""
    hop = int(0.05 * sr)
    n = len(y) // hop
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    return float(np.mean(20 * np.log10(rms / rms.max()) > -30))


def pick_clips(source: Path) -> list[str]:
    """One present clip per class: the one with the most sound in it (ties: first by name)."""
    ds = load_dataset(source)
    chosen = []
    for _target, group in ds.present.groupby("target"):
        scores = []
        for _, row in group.iterrows():
            y, sr = sf.read(row["path"], dtype="float32")
            scores.append((-activity(y if y.ndim == 1 else y.mean(axis=1), sr), row["filename"]))
        chosen.append(min(scores)[1])
    missing = set(range(50)) - set(ds.present["target"])
    if missing:
        raise ValueError(f"{source} has no clip for targets {sorted(missing)}")
    return chosen


def build_sample(source: Path, dest: Path) -> Path:
    """Write ``dest/meta/esc50.csv``, ``dest/audio/*.flac`` and ``dest/LICENSE.md`` from `source`."""
    ds = load_dataset(source)
    names = pick_clips(source)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "meta").mkdir(parents=True)
    (dest / "audio").mkdir()
    shutil.copyfile(source / "meta" / "esc50.csv", dest / "meta" / "esc50.csv")
    lines = [LICENSE_TEXT.format(n=len(names))]
    for name in names:
        row = ds.clip(name)
        data, sr = sf.read(row["path"], dtype="int16")
        sf.write(dest / "audio" / (Path(name).stem + ".flac"), data, sr, format="FLAC", subtype="PCM_16")
        lic = "CC BY 3.0 (ESC-10) / CC BY-NC 3.0" if row["esc10"] else "CC BY-NC 3.0"
        lines.append(f"| {Path(name).stem}.flac | {row['class_name']} | {row['supercategory']} | "
                     f"{'yes' if row['esc10'] else 'no'} | {lic} | https://freesound.org/s/{row['src_file']}/ |\n")
    (dest / "LICENSE.md").write_text("".join(lines))
    return dest

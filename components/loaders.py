"""Every Streamlit cache of the app lives here (STYLE.md section 4).

Functions take plain values (paths as str, file stamps, parameters) so that a changed file or a
changed widget makes a new cache entry. Pages call these; the work itself is in `soundlab`.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import streamlit as st

from soundlab import audio, dataset, dsp
from soundlab.config import get_settings


def _stamp(path: Path) -> tuple:
    """Cheap change detector for a file or folder: (mtime_ns, size), or None if absent."""
    try:
        s = os.stat(path)
        return (s.st_mtime_ns, s.st_size)
    except OSError:
        return ()


def _dataset_stamp(root: Path) -> tuple:
    # the audio folder's mtime changes when files are added or removed
    return (_stamp(root / "meta" / "esc50.csv"), _stamp(root / "audio"), _stamp(root))


@st.cache_data(show_spinner="Reading the ESC-50 metadata ...", max_entries=8)
def _dataset_status(esc50_root: str, sample_root: str, stamps: tuple) -> dataset.DatasetStatus:
    return dataset.resolve_dataset(Path(esc50_root), Path(sample_root))


def dataset_status() -> dataset.DatasetStatus:
    """The dataset the app uses (full/partial ESC-50, else the shipped sample), re-read when it changes."""
    s = get_settings()
    stamps = (_dataset_stamp(s.esc50_root), _dataset_stamp(s.sample_root))
    return _dataset_status(str(s.esc50_root), str(s.sample_root), stamps)


@st.cache_data(show_spinner=False, max_entries=64)
def clip_audio(path: str, stamp: tuple) -> audio.Audio:
    """Decoded clip at its own rate, mono (cached per file version)."""
    return audio.load(path, allow_silent=True)


def load_clip(path: str | Path) -> audio.Audio:
    return clip_audio(str(path), _stamp(Path(path)))


@st.cache_data(show_spinner=False, max_entries=256)
def _mel(path: str, stamp: tuple, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = clip_audio(path, stamp)
    p = dsp.MelParams(**params)
    S_db = dsp.mel_spectrogram_db(y=a.y, sr=a.sr, params=p)
    times = dsp.frame_times(S_db.shape[1], sr=a.sr, hop_length=p.hop_length)
    return S_db, times, dsp.mel_frequencies(sr=a.sr, params=p)


def clip_mel(path: str | Path, params: dsp.MelParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S_db [n_mels, t], frame times [t], band centre Hz [n_mels]) of a clip."""
    return _mel(str(path), _stamp(Path(path)), asdict(params))


@st.cache_data(show_spinner=False, max_entries=256)
def _envelope(path: str, stamp: tuple, max_points: int):
    a = clip_audio(path, stamp)
    return dsp.envelope(y=a.y, sr=a.sr, max_points=max_points)


def clip_envelope(path: str | Path, max_points: int = 2000):
    """(t, lo, hi) min/max envelope of a clip for the waveform chart."""
    return _envelope(str(path), _stamp(Path(path)), max_points)


@st.cache_data(show_spinner="Drawing one spectrogram per class ...", max_entries=8)
def _gallery(items: tuple[tuple[int, str, str, str], ...], stamps: tuple, params: dict) -> list[tuple]:
    from components.charts import spectrogram_image

    p = dsp.MelParams(**params)
    out = []
    for (target, class_name, filename, path), stamp in zip(items, stamps, strict=False):
        S_db, _, _ = _mel(path, stamp, params)
        out.append((target, class_name, filename, spectrogram_image(S_db, top_db=p.top_db)))
    return out


def class_gallery(ds: dataset.Dataset, params: dsp.MelParams) -> list[tuple[int, str, str, np.ndarray]]:
    """One spectrogram thumbnail per class, from the first present clip of each class."""
    first = ds.present.sort_values(["target", "filename"]).drop_duplicates("target")
    items = tuple((int(r.target), r.class_name, r.filename, r.path) for r in first.itertuples())
    stamps = tuple(_stamp(Path(i[3])) for i in items)
    return _gallery(items, stamps, asdict(params))

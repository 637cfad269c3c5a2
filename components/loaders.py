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


# ---- models -----------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading YAMNet ...", max_entries=2)
def _backbone(spec: str, artifacts_dir: str, stamp: tuple):
    from soundlab.backbones import load_backbone

    return load_backbone(spec, Path(artifacts_dir))


def backbone():
    """The YAMNet backbone named by SOUNDLAB_YAMNET (one shared, thread-safe object). Raises ModelError."""
    s = get_settings()
    return _backbone(s.yamnet, str(s.artifacts_dir), _stamp(s.artifacts_dir / "yamnet.tflite"))


def _runs_stamp(artifacts_dir: Path) -> tuple:
    root = artifacts_dir / "runs"
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple((e.name, _stamp(Path(e.path) / "run.json")) for e in entries if e.is_dir())


@st.cache_data(show_spinner=False, max_entries=4)
def _runs(artifacts_dir: str, stamp: tuple):
    from soundlab import runs

    return runs.list_runs(Path(artifacts_dir))


def runs():
    """(usable runs newest first, messages about unusable run folders), re-read when a run changes."""
    s = get_settings()
    return _runs(str(s.artifacts_dir), _runs_stamp(s.artifacts_dir))


def runs_with_warnings(family: str | None = None):
    """The usable runs (of one family, if given); a warning on the page for each unusable run folder."""
    all_runs, problems = runs()
    for problem in problems:
        st.warning(f"Skipped an unusable run folder: {problem}")
    return [r for r in all_runs if family is None or r.family == family]


@st.cache_resource(show_spinner="Loading the classifier head ...", max_entries=8)
def _classifier(run_path: str, kind: str, stamp: tuple, fingerprint: str, _run, _backbone):
    from soundlab.classify import load_classifier

    return load_classifier(_run, kind, _backbone)


def classifier(run, kind: str, bb):
    """Backbone + head `kind` of `run`, loaded once and shared. Raises ModelError."""
    head_file = run.head_path(kind)
    return _classifier(str(run.path), kind, (_stamp(run.path / "run.json"), _stamp(head_file)), bb.fingerprint,
                       run, bb)


@st.cache_data(show_spinner="Classifying ...", max_entries=64)
def _classify_file(path: str, stamp: tuple, run_id: str, kind: str, fingerprint: str, _clf):
    from soundlab.classify import classify_audio

    return classify_audio(_clf, path, limits=get_settings().audio_limits)


def classify_file(clf, path: str | Path):
    """Result of classifying a file on disk (cached per file version, run, head and backbone)."""
    return _classify_file(str(path), _stamp(Path(path)), clf.run.id, clf.kind, clf.backbone.fingerprint, clf)


@st.cache_data(show_spinner=False, max_entries=16)
def _oof(run_path: str, kind: str, stamp: tuple, _run):
    from soundlab import runs as runs_mod

    return runs_mod.read_oof(_run, kind)


def oof(run, kind: str):
    """The stored out-of-fold predictions of a head (cached per file version). Raises RunError."""
    return _oof(str(run.path), kind, _stamp(run.path / run.head(kind)["oof"]), run)


def oof_row(run, kind: str, filename: str):
    """The out-of-fold prediction of one clip, or None (not in the run, or the file is unusable)."""
    from soundlab.runs import RunError

    try:
        table = oof(run, kind)
    except RunError:
        return None
    rows = table[table["filename"] == filename]
    return None if rows.empty else rows.iloc[0]


# ---- metrics ----------------------------------------------------------------------------------

@st.cache_data(show_spinner="Reading the stored predictions ...", max_entries=16)
def _predictions(run_path: str, kind: str, stamp: tuple, _run, _meta):
    from soundlab import evaluate

    return evaluate.load_predictions(_run, kind, _meta)


def predictions(run, kind: str, ds):
    """A head's out-of-fold predictions joined with the dataset in use. Raises RunError."""
    s = get_settings()
    stamp = (_stamp(run.path / run.head(kind)["oof"]), _dataset_stamp(s.esc50_root), _dataset_stamp(s.sample_root),
             ds.kind, str(ds.root))
    return _predictions(str(run.path), kind, stamp, run, ds.meta if ds is not None else None)


@st.cache_data(show_spinner=False, max_entries=8)
def _run_embeddings(run_path: str, stamp: tuple, _run):
    from soundlab import evaluate

    return evaluate.load_embeddings(_run)


def run_embeddings(run):
    """Mean YAMNet embedding of every clip of a run. Raises RunError."""
    return _run_embeddings(str(run.path), _stamp(run.path / "embeddings.npz"), run)


@st.cache_data(show_spinner="Computing the embedding map ...", max_entries=8)
def _embedding_map(run_path: str, stamp: tuple, method: str, _pooled):
    from soundlab import evaluate

    return evaluate.embedding_map(_pooled, method)


def embedding_map(run, method: str):
    emb = run_embeddings(run)
    return emb, _embedding_map(str(run.path), _stamp(run.path / "embeddings.npz"), method, emb.pooled)


# ---- transcription -------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=2)
def _whisper(engine: str, model: str, threads: int):
    from soundlab.transcribe import load_engine

    return load_engine(engine, model, threads=threads)


def whisper(engine: str, model: str):
    """A Whisper engine, loaded once per (engine, model) and shared. Raises ModelError."""
    with st.spinner(f"Loading the Whisper model {model} ({engine}) ..."):
        return _whisper(engine, model, get_settings().whisper_threads)

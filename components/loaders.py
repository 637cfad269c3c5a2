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

from soundlab import audio, dsp
from soundlab.config import get_settings
from soundlab.data import esc50
from soundlab.errors import RunError
from soundlab.storage import file_stamp


def _dataset_stamp(root: Path) -> tuple:
    # the audio folder's mtime changes when files are added or removed
    return (file_stamp(root / "meta" / "esc50.csv"), file_stamp(root / "audio"), file_stamp(root))


# a resource: one DatasetStatus shared by every session, read-only (as data, each page view unpickled a copy of the
# 2,000-row table, and recomputed what Dataset derives from it)
@st.cache_resource(show_spinner="Reading the dataset's metadata ...", max_entries=8)
def _dataset_status(esc50_root: str, sample_root: str, dataset: tuple, separator: str, stamps: tuple):
    from soundlab.data import layouts

    kind, where = dataset
    return layouts.resolve(kind, Path(where) if where else None, Path(esc50_root), Path(sample_root),
                           separator=separator, setting=get_settings().dataset_setting)


def dataset_status() -> esc50.DatasetStatus:
    """The dataset the app uses (SOUNDLAB_DATASET: ESC-50 by default, full or partial, else the shipped sample;
    UrbanSound8K, a CSV or a folder per class), re-read when it changes."""
    from soundlab.data import layouts

    s = get_settings()
    kind, where = s.dataset
    stamps = (_dataset_stamp(s.esc50_root), _dataset_stamp(s.sample_root), layouts.stamp(kind, where))
    return _dataset_status(str(s.esc50_root), str(s.sample_root), (kind, str(where) if where else ""),
                           s.group_separator, stamps)


@st.cache_data(show_spinner=False, max_entries=64)
def clip_audio(path: str, stamp: tuple) -> audio.Audio:
    """Decoded clip at its own rate, mono (cached per file version)."""
    return audio.load(path, allow_silent=True)


def load_clip(path: str | Path) -> audio.Audio:
    return clip_audio(str(path), file_stamp(path))


@st.cache_data(show_spinner=False, max_entries=256)
def _mel(path: str, stamp: tuple, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = clip_audio(path, stamp)
    p = dsp.MelParams(**params)
    S_db = dsp.mel_spectrogram_db(y=a.y, sr=a.sr, params=p)
    times = dsp.frame_times(S_db.shape[1], sr=a.sr, hop_length=p.hop_length)
    return S_db, times, dsp.mel_frequencies(sr=a.sr, params=p)


def clip_mel(path: str | Path, params: dsp.MelParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S_db [n_mels, t], frame times [t], band centre Hz [n_mels]) of a clip."""
    return _mel(str(path), file_stamp(path), asdict(params))


@st.cache_data(show_spinner=False, max_entries=256)
def _envelope(path: str, stamp: tuple, max_points: int):
    a = clip_audio(path, stamp)
    return dsp.envelope(y=a.y, sr=a.sr, max_points=max_points)


def clip_envelope(path: str | Path, max_points: int = 2000):
    """(t, lo, hi) min/max envelope of a clip for the waveform chart."""
    return _envelope(str(path), file_stamp(path), max_points)


@st.cache_data(show_spinner=False, max_entries=128)
def _picture(path: str, stamp: tuple, params: dict) -> bytes:
    from components import pictures

    a = clip_audio(path, stamp)
    t, lo, hi = _envelope(path, stamp, 2000)
    S_db, times, freqs = _mel(path, stamp, params)
    return pictures.clip_picture(t, lo, hi, S_db, times, freqs, duration_s=a.duration_s,
                             top_db=dsp.MelParams(**params).top_db)


def clip_picture(path: str | Path, params: dsp.MelParams) -> bytes:
    """Waveform and mel spectrogram of a clip as one JPEG (see `components.pictures`), cached per file version and
    settings: drawing it again costs nothing, and the browser needs no plotly.js for it."""
    return _picture(str(path), file_stamp(path), asdict(params))


@st.cache_data(show_spinner=False, max_entries=256)
def _thumbnail(path: str, stamp: tuple) -> bytes:
    from components.pictures import jpeg, spectrogram_image

    params = dsp.MelParams()
    S_db, _, _ = _mel(path, stamp, asdict(params))
    return jpeg(spectrogram_image(S_db, top_db=params.top_db, size=(240, 96)))


def clip_thumbnail(path: str | Path) -> bytes:
    """A small mel spectrogram of a clip as JPEG bytes (for lists of clips), cached per file version."""
    return _thumbnail(str(path), file_stamp(path))


@st.cache_data(show_spinner="Drawing one spectrogram per class ...", max_entries=8)
def _gallery(items: tuple[tuple[int, str, str, str], ...], stamps: tuple, params: dict) -> list[tuple]:
    from components.pictures import spectrogram_image

    p = dsp.MelParams(**params)
    out = []
    for (target, class_name, filename, path), stamp in zip(items, stamps, strict=False):
        S_db, _, _ = _mel(path, stamp, params)
        out.append((target, class_name, filename, spectrogram_image(S_db, top_db=p.top_db)))
    return out


def class_gallery(ds: esc50.Dataset, params: dsp.MelParams) -> list[tuple[int, str, str, np.ndarray]]:
    """One spectrogram thumbnail per class, from the first present clip of each class."""
    first = ds.present.sort_values(["target", "filename"]).drop_duplicates("target")
    items = tuple((int(r.target), r.class_name, r.filename, r.path) for r in first.itertuples())
    stamps = tuple(file_stamp(i[3]) for i in items)
    return _gallery(items, stamps, asdict(params))


# ---- models -----------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the backbone ...", max_entries=4)
def _backbone(key: str, spec: tuple, artifacts_dir: str, stamp: tuple):
    from soundlab.models.backbone import load_backbone

    return load_backbone(key, get_settings())


def backbone(key: str = "yamnet"):
    """The backbone registered as `key` (one shared, thread-safe object), reloaded when one of its files changes
    (a replaced model file has a new size or time: the next page run loads it, and runs notice the new fingerprint).
    Raises ModelError."""
    from soundlab.models.backbone import status

    s = get_settings()
    stamp = tuple(file_stamp(where) if present else None for _, where, present in status(key, s).files)
    return _backbone(key, (s.yamnet, str(s.efficientat)), str(s.artifacts_dir), stamp)


@st.cache_data(show_spinner=False, max_entries=4)
def _tag_names(key: str, artifacts_dir: str, efficientat: str) -> list[str]:
    from soundlab.models.backbone import tag_names_of

    return tag_names_of(key, get_settings())


def tag_names(key: str) -> list[str]:
    """A backbone's AudioSet tag names, read from its label file (no model is loaded). Raises ModelError."""
    s = get_settings()
    return _tag_names(key, str(s.artifacts_dir), s.efficientat)


def _runs_stamp(artifacts_dir: Path) -> tuple:
    root = artifacts_dir / "runs"
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple((e.name, file_stamp(Path(e.path) / "run.json")) for e in entries if e.is_dir())


# a resource: one list of runs shared by every session, read-only (as data, every page view unpickled its own copy of
# every run, garbage for the collector each time)
@st.cache_resource(show_spinner=False, max_entries=4)
def _runs(artifacts_dir: str, stamp: tuple):
    from soundlab import runs

    return runs.list_runs(Path(artifacts_dir))


def all_runs():
    """(usable runs of every dataset newest first, messages about unusable run folders), re-read when a run
    changes."""
    s = get_settings()
    return _runs(str(s.artifacts_dir), _runs_stamp(s.artifacts_dir))


def dataset_id() -> str:
    """The id of the dataset in use (`Description.id`; ESC-50's when the chosen one cannot be used)."""
    ds = dataset_status().dataset
    return ds.desc.id if ds is not None else "esc50"


def runs():
    """(usable runs of the dataset in use newest first, messages about unusable run folders)."""
    from soundlab.runs import of_dataset

    found, problems = all_runs()
    return of_dataset(found, dataset_id()), problems


def runs_with_warnings(*, classifies_audio: bool | None = None):
    """The usable runs (only those Classify can serve, or only the others, if asked); a warning on the page
    for each unusable run folder."""
    all_runs, problems = runs()
    for problem in problems:
        st.warning(f"Skipped an unusable run folder: {problem}")
    return [r for r in all_runs if classifies_audio is None or r.classifies_audio == classifies_audio]


@st.cache_resource(show_spinner="Loading the classifier head ...", max_entries=8)
def _classifier(run_path: str, kind: str, stamp: tuple, fingerprint: str, _run, _backbone):
    from soundlab.classify import load_classifier

    return load_classifier(_run, kind, _backbone, other_backbone=backbone)  # a fused model's second: the shared one


def classifier(run, kind: str, bb):
    """Backbone + head `kind` of `run`, loaded once and shared. Raises ModelError."""
    return _classifier(str(run.path), kind, (file_stamp(run.path / "run.json"), file_stamp(run.model_path(kind))),
                       bb.fingerprint, run, bb)


@st.cache_data(show_spinner="Classifying ...", max_entries=64)
def _classify_file(path: str, stamp: tuple, run_id: str, kind: str, fingerprint: str, _clf):
    from soundlab.classify import classify_audio

    return classify_audio(_clf, path, limits=get_settings().classify_limits)


def classify_file(clf, path: str | Path):
    """Result of classifying a file on disk (cached per file version, run, head and backbone)."""
    return _classify_file(str(path), file_stamp(path), clf.run.id, clf.kind, clf.backbone.fingerprint, clf)


@st.cache_data(show_spinner=False, max_entries=64)
def _clip_tags(key: str, fingerprint: str, path: str, stamp: tuple, _bb):
    from soundlab.classify import tag_audio

    return tag_audio(_bb, path, limits=get_settings().classify_limits)


def clip_tags(bb, path: str | Path) -> np.ndarray:
    """A backbone's AudioSet tags of a file on disk (cached per file version and backbone). Raises AudioError."""
    return _clip_tags(bb.key, bb.fingerprint, str(path), file_stamp(path), bb)


@st.cache_data(show_spinner=False, max_entries=16)
def _oof(run_path: str, name: str, stamp: tuple, _run):
    from soundlab import runs as runs_mod

    return runs_mod.read_oof(_run, name)


def oof(run, name: str):
    """The stored out-of-fold predictions of a model (cached per file version). Raises RunError."""
    return _oof(str(run.path), name, file_stamp(run.path / run.model(name)["oof"]), run)


def oof_row(run, name: str, filename: str):
    """The out-of-fold prediction of one clip, or None (not in the run, or the file is unusable)."""
    try:
        table = oof(run, name)
    except RunError:
        return None
    rows = table[table["filename"] == filename]
    return None if rows.empty else rows.iloc[0]


# ---- metrics ----------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=32)
def confusion_figure(cm: np.ndarray, labels: tuple[str, ...], *, normalize: bool, title: str, height: int,
                     selected: tuple[int, int] | None = None):
    """`plotly_charts.confusion_figure`, built once per matrix and settings and shared: st.plotly_chart only serializes
    it, and building it (plotly validating its layout) is costly (bench/RESULTS.md)."""
    from components import plotly_charts

    return plotly_charts.confusion_figure(cm, list(labels), normalize=normalize, selected=selected, title=title,
                                   height=height)


# a resource, not data: one Predictions shared by every session (no copy per page view), which also keeps what the
# report functions derive from it (predictions.memoized); nothing changes it
@st.cache_resource(show_spinner="Reading the stored predictions ...", max_entries=32)
def _predictions(run_path: str, name: str, stamp: tuple, _run, _meta):
    from soundlab import predictions

    return predictions.load_predictions(_run, name, _meta)


def predictions(run, name: str, ds):
    """A model's out-of-fold predictions joined with the dataset in use. Raises RunError."""
    s = get_settings()
    from soundlab.data import layouts

    stamp = (file_stamp(run.path / run.model(name)["oof"]), _dataset_stamp(s.esc50_root),
             _dataset_stamp(s.sample_root), layouts.stamp(*s.dataset), ds.kind if ds is not None else None,
             str(ds.root) if ds is not None else "")
    return _predictions(str(run.path), name, stamp, run, ds.meta if ds is not None else None)


def task_predictions(all_runs, task: str, ds) -> tuple[list, list[str]]:
    """The predictions of every model of every run of `task`, and a message per model that cannot be used."""
    pool, problems = [], []
    for r in all_runs:
        if r.task != task:
            continue
        for name in r.model_names:
            try:
                pool.append(predictions(r, name, ds))
            except RunError as e:
                problems.append(f"{r.id} · {name}: {e}")
    return pool, problems


@st.cache_data(show_spinner=False, max_entries=8)
def _run_embeddings(run_path: str, stamp: tuple, _run):
    from soundlab import predictions

    return predictions.load_embeddings(_run)


def run_embeddings(run):
    """The pooled embedding of every clip of a run. Raises RunError."""
    return _run_embeddings(str(run.path), file_stamp(run.path / "embeddings.npz"), run)


@st.cache_data(show_spinner="Computing the embedding map ...", max_entries=8)
def _embedding_map(run_path: str, stamp: tuple, method: str, _pooled):
    from soundlab import predictions

    return predictions.embedding_map(_pooled, method)


def embedding_map(run, method: str):
    """(embeddings of the clips on the map, their 2-D coordinates, how many clips the run has): every clip, or a
    seeded sample of `predictions.MAP_MAX_POINTS` of a larger run (the page says so). Raises RunError."""
    from soundlab import predictions

    emb = run_embeddings(run)
    shown = predictions.subset_embeddings(emb, predictions.map_sample(len(emb.filenames)))
    return shown, _embedding_map(str(run.path), file_stamp(run.path / "embeddings.npz"), method, shown.pooled), \
        len(emb.filenames)


@st.cache_data(show_spinner=False, max_entries=16)
def _map_view(run_path: str, stamps: tuple, model: str, method: str, color_by: str, classes: tuple, _p, _emb, _xy):
    from components import plotly_charts
    from soundlab import predictions

    pts = predictions.map_points(_p, _emb, _xy, classes=list(classes), color_by=color_by)
    fig = plotly_charts.embedding_scatter(pts[["x", "y"]].to_numpy(), list(pts["color"]), list(pts["hover"]),
                                   keys=list(pts["filename"]),
                                   title=f"{len(pts)} clips, mean embedding ({method.upper()}); click a point to listen")
    return pts, fig


def map_view(run, model: str, p, emb, xy, *, method: str, color_by: str, classes: list[int]):
    """(points, scatter figure) of the embedding map, cached per run, model, projection, colouring and class filter:
    building the figure (plotly express, one trace per class) is costly (bench/RESULTS.md)."""
    stamps = (file_stamp(run.path / run.model(model)["oof"]), file_stamp(run.path / "embeddings.npz"))
    return _map_view(str(run.path), stamps, model, method, color_by, tuple(classes), p, emb, xy)


# ---- transcription -------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=2)
def _whisper(engine: str, model: str, threads: int):
    from soundlab.asr.engines import load_engine

    return load_engine(engine, model, threads=threads)


def whisper(engine: str, model: str):
    """A Whisper engine, loaded once per (engine, model) and shared. Raises ModelError."""
    with st.spinner(f"Loading the Whisper model {model} ({engine}) ..."):
        return _whisper(engine, model, get_settings().whisper_threads)


# ---- data issues, review, search -------------------------------------------------------------------------------

@st.cache_data(show_spinner="Looking for issues in the data (cleanlab) ...", max_entries=8)
def _issues(run_path: str, model: str, stamps: tuple, _run, _others):
    from soundlab import issues

    return issues.find(_run, model, others=_others, cache_dir=get_settings().cache_dir)


def data_issues(run, model: str, others: list):
    """The data issues of a run's clips (cached in memory and on disk). Raises RunError."""
    stamps = tuple((r.id, file_stamp(r.path / r.model(r.default_model)["oof"]), file_stamp(r.path / "embeddings.npz"))
                   for r in [run, *others]) + (file_stamp(run.path / run.model(model)["oof"]),)
    return _issues(str(run.path), model, stamps, run, list(others))


def review_store():
    """The review log (SQLite, setting SOUNDLAB_REVIEW_DB). Raises ReviewError for a damaged file."""
    from soundlab.review import ReviewStore

    return ReviewStore(get_settings().review_db)


@st.cache_resource(show_spinner=False, max_entries=8)
def _sound_index(run_path: str, stamp: tuple, _run):
    from soundlab import runs as runs_mod
    from soundlab.search import SoundIndex

    names, vectors, _ = runs_mod.read_sound_embeddings(_run)
    return SoundIndex.build(names, vectors)


def sound_index(run):
    """Every clip of a run in its backbone's embedding space, for "find clips that sound like this". RunError."""
    return _sound_index(str(run.path), file_stamp(run.path / "embeddings.npz"), run)


@st.cache_data(show_spinner=False, max_entries=64)
def _clip_embedding(key: str, fingerprint: str, path: str, stamp: tuple, _bb):
    from soundlab.classify import embed_audio

    return embed_audio(_bb, path, limits=get_settings().classify_limits)


def clip_embedding(bb, path) -> np.ndarray:
    """A backbone's mean embedding of a file on disk (cached per file version). Raises AudioError."""
    return _clip_embedding(bb.key, bb.fingerprint, str(path), file_stamp(path), bb)

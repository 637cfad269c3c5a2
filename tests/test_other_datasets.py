"""Datasets beyond ESC-50: UrbanSound8K's layout, a CSV, a folder per class (`soundlab.data.layouts`), built by the
tests from real ESC-50 dev clips; their validation; and `train`, `classify` and every page on them end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings
from soundlab.data import layouts, protocol
from soundlab.errors import DatasetError, SettingsError
from tests import assets
from tests.apptest import EXPLORE, HOME, figures, run, texts

ROOT = Path(__file__).resolve().parents[1]
METRICS = str(ROOT / "pages" / "3_Metrics.py")
CLASSIFY = str(ROOT / "pages" / "2_Classify.py")
ISSUES = str(ROOT / "pages" / "5_Data_issues.py")


@pytest.fixture(scope="session")
def us8k(tmp_path_factory):
    """An UrbanSound8K-layout folder: the ten ESC-10 classes, 10 folds by source recording, 6 real clips a class."""
    return assets.urbansound8k_layout(tmp_path_factory.mktemp("layouts") / "UrbanSound8K", per_class=6)


@pytest.fixture(scope="session")
def folder(tmp_path_factory):
    """A folder per class: dog, rain, chainsaw, 8 real clips each, named {source recording}-{take}.wav."""
    return assets.folder_layout(tmp_path_factory.mktemp("layouts") / "my-sounds", per_class=8)


def _csv_dataset(tmp_path: Path, rows: list[dict], files: dict[str, Path] | None = None) -> Path:
    """A CSV dataset in `tmp_path`: the listing and its files (linked from the dev clips)."""
    for name, src in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, tmp_path / name)
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path / "labels.csv"


def _dev_clips(n: int) -> list[Path]:
    return sorted((assets.dev_dataset() / "audio").glob("*.wav"))[:n]


# ---- layouts and their protocols --------------------------------------------------------------------------------

def test_urbansound8k_layout_uses_its_ten_official_folds(us8k):
    ds = layouts.load_urbansound8k(us8k)
    n_files = sum(1 for _ in (us8k / "audio").rglob("*.wav"))
    assert ds.kind == "full" and ds.n_present == n_files and ds.n_classes == 10 and ds.desc.n_folds == 10
    assert ds.desc.group.startswith("Freesound") and not ds.desc.notes
    assert {"salience", "start", "end"} <= set(ds.extra_columns)
    proto = protocol.for_dataset(ds)
    assert proto.name == "urbansound8k-official" and proto.task == "urbansound8k" and proto.n_classes == 10
    assert sorted(proto.clips["fold"].unique()) == list(range(1, 11))
    assert not protocol.sources_split_across_folds(proto.clips)  # no fsID on both sides
    # the official folds are the csv's: each clip keeps the fold folder it sits in
    assert (proto.clips["filename"].str.extract(r"^fold(\d+)/")[0].astype(int) == proto.clips["fold"]).all()
    with pytest.raises(Exception, match="its task is urbansound8k"):
        protocol.for_dataset(ds, "esc10")


def test_folder_per_class_groups_by_the_name_before_the_separator(folder):
    ds = layouts.load_folder(folder)
    assert ds.n_classes == 3 and ds.n_present == sum(1 for _ in folder.rglob("*.wav")) and ds.desc.n_folds == 0
    row = ds.clip(ds.present["filename"].iloc[0])
    assert row["src_file"] == Path(row["filename"]).stem.split("-")[0]
    proto = protocol.for_dataset(ds)
    assert proto.name == "folder-grouped" and "grouped by recording" in proto.description
    assert sorted(proto.clips["fold"].unique()) == [1, 2, 3, 4, 5] and not protocol.sources_split_across_folds(proto.clips)
    # another separator: no stem holds "+", so every file is its own group
    assert layouts.load_folder(folder, separator="+").meta["src_file"].nunique() == ds.n_present


def test_a_folder_of_phone_recordings(tmp_path):
    """.m4a files (AAC, as phones record) are listed and checked like wavs; a damaged one is a note, not a crash."""
    from soundlab import audio
    from tests.assets import ffmpeg_bytes

    for i, clip in enumerate(_dev_clips(4)):
        a = audio.load(clip)
        (tmp_path / "phone" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "phone" / f"c{i % 2}" / f"rec{i}-1.m4a").write_bytes(ffmpeg_bytes(a.y, a.sr))
    (tmp_path / "phone" / "c0" / "damaged-1.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(2000))
    ds = layouts.load_folder(tmp_path / "phone")
    assert ds.n_classes == 2 and ds.n_present == 4
    assert "damaged-1.m4a: could not decode this file as audio" in " ".join(ds.desc.notes)


def test_csv_with_folds_groups_and_categories(tmp_path):
    clips = _dev_clips(12)
    rows = [{"filename": f"a/{p.name}", "label": ["cat", "dog", "bird"][i % 3], "fold": i % 2 + 1,
             "group": f"g{i}", "category": "Animals" if i % 3 else "Birds", "recorder": "zoom"}
            for i, p in enumerate(clips)]
    ds = layouts.load_csv(_csv_dataset(tmp_path, rows, {r["filename"]: p for r, p in zip(rows, clips, strict=True)}))
    assert ds.kind == "full" and ds.n_classes == 3 and ds.desc.categories == ("Animals", "Birds")
    assert ds.extra_columns == ["recorder"] and ds.desc.id == f"csv:{tmp_path.name}/labels.csv"
    proto = protocol.for_dataset(ds, n_splits=2)
    assert proto.name == "csv-own-folds" and "own 2-fold" in proto.description


def test_csv_without_groups_says_leakage_cannot_be_ruled_out(tmp_path):
    clips = _dev_clips(10)
    rows = [{"filename": p.name, "label": "x" if i % 2 else "y"} for i, p in enumerate(clips)]
    ds = layouts.load_csv(_csv_dataset(tmp_path, rows, {p.name: p for p in clips}))
    assert any("no group column" in n for n in ds.desc.notes)
    proto = protocol.for_dataset(ds)
    assert proto.name == "csv-stratified" and "leakage cannot be ruled out" in proto.description


# ---- validation ---------------------------------------------------------------------------------------------------

def test_validation_messages(tmp_path):
    clips = _dev_clips(6)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.wav"
    shutil.copy(clips[0], outside)
    (tmp_path / "link.wav").symlink_to(outside)
    rows = ([{"filename": p.name, "label": "a", "fold": 1 + i % 2, "group": "same"} for i, p in enumerate(clips[:4])]
            + [{"filename": clips[4].name, "label": "lonely", "fold": 1, "group": "other"},
               {"filename": "../../etc/passwd", "label": "a", "fold": 2, "group": "x"},
               {"filename": "broken.wav", "label": "a", "fold": 2, "group": "y"},
               {"filename": "link.wav", "label": "a", "fold": 2, "group": "z"},
               {"filename": "gone.wav", "label": "a", "fold": 1, "group": "w"}])
    ds = layouts.load_csv(_csv_dataset(tmp_path, rows, {p.name: p for p in clips[:5]}))
    notes = " ".join(ds.desc.notes)
    assert "1 class has one clip only (lonely)" in notes
    assert "folds share 1 groups (same)" in notes and ds.desc.folds_leak
    assert "../../etc/passwd: its path leaves the dataset folder" in notes
    assert "broken.wav: not readable as audio" in notes
    assert "link.wav: it resolves outside the dataset folder" in notes
    assert "1 listed files are not on disk (e.g. gone.wav)" in notes
    assert ds.kind == "partial" and ds.n_present == 5
    with pytest.raises(DatasetError, match="clip name"):
        ds.clip("../../etc/passwd")
    proto = protocol.for_dataset(ds, n_splits=2)  # the shared group makes SoundLab's own folds, never a leak
    assert proto.name == "csv-grouped" and not protocol.sources_split_across_folds(proto.clips)


@pytest.mark.parametrize(("text", "message"), [
    ("label\nx\n", "lacks the column(s) filename"),
    ("filename,label\n", "has a header but no rows"),
    ("filename,label\na.wav,\n", "have no label"),
    ("filename,label\na.wav,x\na.wav,y\n", "listed twice"),
    ("filename,label,fold\na.wav,x,zero\n", "fold must be a whole number"),
    ("filename,label\nnope.wav,x\n", "none of the 1 listed files can be used"),
])
def test_csv_problems_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        layouts.load_csv(tmp_path / "labels.csv")


def test_urbansound8k_missing_columns(tmp_path):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "UrbanSound8K.csv").write_text("slice_file_name,fold\nx.wav,1\n")
    with pytest.raises(DatasetError, match="lacks the column.s. fsID, classID, class"):
        layouts.load_urbansound8k(tmp_path)


@pytest.mark.parametrize("value", ["bogus", "folder:", "csv", "esc50:/x"])
def test_dataset_setting_is_checked(monkeypatch, value):
    monkeypatch.setenv("SOUNDLAB_DATASET", value)
    with pytest.raises(SettingsError, match="SOUNDLAB_DATASET"):
        get_settings()


def test_an_unusable_dataset_falls_back_to_esc50_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("SOUNDLAB_DATASET", f"folder:{tmp_path / 'nothing-here'}")
    status = layouts.from_settings(get_settings())
    assert status.dataset is not None and status.dataset.desc.is_esc50
    assert "cannot be used: dataset folder not found" in status.problem and "Showing ESC-50 instead" in status.problem
    at = run(HOME)
    assert not at.exception and "cannot be used" in texts(at, "warning")


# ---- train, classify and the pages on each layout -----------------------------------------------------------------

def _env(setting: str, artifacts: Path, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDLAB_") or k == "SOUNDLAB_SHARED"}
    return {**env, "SOUNDLAB_DATASET": setting, "SOUNDLAB_ARTIFACTS_DIR": str(artifacts),
            "SOUNDLAB_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="session")
def trained(us8k, folder, tmp_path_factory):
    """One run of logistic-regression heads on YAMNet per layout, trained by the CLI as a user would, in an artifacts
    folder that also holds the shipped runs (of ESC-50: the app must not list them for another dataset)."""
    art = tmp_path_factory.mktemp("artifacts")
    for item in DEFAULT_ARTIFACTS_DIR.iterdir():
        (art / item.name).symlink_to(item, target_is_directory=item.is_dir()) if item.name != "runs" else None
    shutil.copytree(DEFAULT_ARTIFACTS_DIR / "runs", art / "runs", symlinks=True)
    cache = tmp_path_factory.mktemp("cache")
    out = {}
    for key, setting in (("urbansound8k", f"urbansound8k:{us8k}"), ("folder", f"folder:{folder}")):
        proc = subprocess.run([sys.executable, "-m", "soundlab", "train", "--heads", "logreg", "--backbone", "yamnet"],
                              cwd=ROOT,
                              env=_env(setting, art, cache), capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[key] = (setting, Path(proc.stdout.strip().splitlines()[-1]))
    return art, cache, out


@pytest.mark.slow
@pytest.mark.parametrize("key", ["urbansound8k", "folder"])
def test_train_and_classify_on_another_dataset(trained, key):
    art, cache, out = trained
    setting, path = out[key]
    info = json.loads((path / "run.json").read_text())
    kind, where = setting.split(":", 1)
    ds = layouts.load(kind, Path(where))
    assert info["dataset"]["key"] == key and info["dataset"]["id"] == ds.desc.id
    assert info["protocol"]["name"] == ("urbansound8k-official" if key == "urbansound8k" else "folder-grouped")
    assert len(info["classes"]) == ds.n_classes and info["coverage"]["clips_present"] == ds.n_present
    clip = ds.present.iloc[0]
    proc = subprocess.run([sys.executable, "-m", "soundlab", "classify", "--json", clip["path"]], cwd=ROOT,
                          env=_env(setting, art, cache), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["run"] == path.name  # the run of this dataset, not a shipped ESC-50 run
    assert {t["class"] for t in result["results"][0]["top"]} <= set(ds.meta["class_name"]) | set(ds.meta["category"])


@pytest.mark.slow
@pytest.mark.parametrize("key", ["urbansound8k", "folder"])
def test_every_page_on_another_dataset(trained, monkeypatch, key):
    art, cache, out = trained
    setting, path = out[key]
    for name, value in _env(setting, art, cache).items():
        if name.startswith("SOUNDLAB_"):
            monkeypatch.setenv(name, value)
    ds = layouts.from_settings(get_settings()).dataset
    n = ds.n_classes
    clip = ds.present["filename"].iloc[0]

    at = run(HOME)
    assert not at.exception
    metrics = figures(at)
    assert metrics["In use"] == ds.title and metrics["Classes"] == f"{n} / {n}"
    page = " ".join(str(m.value) for m in at.markdown)
    assert path.name in page and "runs of other datasets not listed" in page

    at = run(EXPLORE, {"clip": clip})
    assert not at.exception and at.title[0].value == f"Explore {ds.title}"
    labels = {w.label for w in at.sidebar.multiselect}
    assert "Class" in labels and "Category" not in labels  # no categories in these layouts
    assert ("Fold" in labels) == (key == "urbansound8k") and not any(t.label == "ESC-10 only" for t in at.sidebar.toggle)
    assert at.selectbox(key="explore-clip").value == clip
    at = run(EXPLORE, {"explore-view": "Classes"})
    assert not at.exception and len([i for i in at.get("image")]) == n
    at = run(EXPLORE, {"clip": "../../etc/passwd"})
    assert not at.exception and "clip name" in texts(at, "error")

    at = run(CLASSIFY, {"clip": clip})
    assert not at.exception and at.selectbox(key="classify-run").value == path.name  # only this dataset's runs
    from soundlab.runs import load_run

    assert at.selectbox(key="classify-run").options == [load_run(path).title]  # the run's name for people
    assert any(str(m.value).startswith("## ") for m in at.markdown)  # an answer

    at = run(METRICS, {"metrics-section": "Confusion", "metrics-cm-plotly": "true"})
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    z = figure["data"][0]["z"]  # plotly sends it packed: {"dtype", "bdata", "shape": "n, n"}
    assert (z["shape"] if isinstance(z, dict) else f"{len(z)}, {len(z[0])}") == f"{n}, {n}"  # sized to the classes
    assert len(at.get("plotly_chart")) == 1  # no category matrix without categories
    at = run(METRICS, {"metrics-section": "Confusion"})  # the default: the HTML grid
    grids = at.get("bidi_component")
    assert not at.exception and len(grids) == 1  # no category matrix without categories
    assert json.loads(grids[0].proto.json)["html"].count('class="row"') == n  # a row per class

    at = run(ISSUES)
    assert not at.exception and set(figures(at)) >= {"Label issues", "Near-duplicates"}

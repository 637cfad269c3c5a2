"""The ESC-50 data layer (soundlab.data.esc50, soundlab.data.dataset): metadata validation, categories, presence, safe clip paths, filters."""

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from soundlab.config import SAMPLE_ROOT
from soundlab.data import esc50, protocol
from soundlab.errors import DatasetError
from tests.assets import shared


@pytest.fixture
def csv_text():
    return shared("data", "esc50", "meta", "esc50.csv").read_text()


def _write_root(tmp_path, csv_text, clips=()):
    (tmp_path / "meta").mkdir(parents=True, exist_ok=True)
    (tmp_path / "audio").mkdir(exist_ok=True)
    (tmp_path / "meta" / "esc50.csv").write_text(csv_text)
    for name in clips:
        sf.write(tmp_path / "audio" / name, np.full(4410, 0.1, np.float32), 44_100)
    return tmp_path


def test_official_metadata_reads_typed(csv_text, tmp_path):
    meta = esc50.read_metadata(_write_root(tmp_path, csv_text) / "meta" / "esc50.csv")
    assert len(meta) == 2000 and meta["target"].nunique() == 50
    assert meta["fold"].dtype.kind == "i" and meta["esc10"].dtype == bool and meta["esc10"].sum() == 400
    row = meta.set_index("filename").loc["1-100032-A-0.wav"]
    assert row["class_name"] == "Dog" and row["supercategory"] == "Animals"
    assert meta.groupby("supercategory", observed=True).size().tolist() == [400] * 5
    assert esc50.class_name_of("crying_baby") == "Crying baby"


def test_official_quirk_sources_across_folds(csv_text, tmp_path):
    meta = esc50.read_metadata(_write_root(tmp_path, csv_text) / "meta" / "esc50.csv")
    assert protocol.sources_split_across_folds(meta) == ["131943", "134049", "209698", "234879"]


@pytest.mark.parametrize("edit, match", [
    (lambda lines: lines[:1001], "1000 rows, the official file has 2000"),
    (lambda lines: [lines[0]], "header but no rows"),
    (lambda lines: [lines[0].replace(",take", "")] + [",".join(line.split(",")[:-1]) for line in lines[1:]], "missing column take"),
    (lambda lines: lines[:2] + [lines[2].replace(",1,14,", ",7,14,")] + lines[3:], "fold must be 1-5 .line 3"),
    (lambda lines: lines[:2] + [lines[2].replace(",14,chirping_birds", ",14,dog")] + lines[3:], "target 14 maps to several classes"),
    (lambda lines: lines + [lines[1]], "duplicate filenames"),
    (lambda lines: lines[:1] + [lines[1].replace("1-100032-A-0.wav", "../../etc/passwd")] + lines[2:], "filename must look like"),
    (lambda lines: lines[:1] + [lines[1].replace(",True,", ",maybe,")] + lines[2:], "esc10 must be True or False"),
])
def test_invalid_metadata_is_described(csv_text, tmp_path, edit, match):
    lines = csv_text.strip().split("\n")
    root = _write_root(tmp_path, "\n".join(edit(lines)) + "\n")
    with pytest.raises(DatasetError, match=match):
        esc50.read_metadata(root / "meta" / "esc50.csv")


def test_not_a_csv(tmp_path):
    p = tmp_path / "esc50.csv"
    p.write_bytes(b"\xff\xfe\x00garbage\x00\x01")
    with pytest.raises(DatasetError):
        esc50.read_metadata(p)


def test_presence_and_formats(csv_text, tmp_path):
    root = _write_root(tmp_path, csv_text, clips=["1-100032-A-0.wav", "1-100038-A-14.flac"])
    (root / "audio" / "1-100032-A-0.txt").write_text("not audio")
    ds = esc50.load_dataset(root)
    assert ds.kind == "partial" and ds.n_present == 2
    assert ds.clip_path("1-100038-A-14.wav").suffix == ".flac"
    assert "2 of 2000" in ds.describe()


def test_dev_dataset_facts(dev_root, n_dev):
    ds = esc50.load_dataset(dev_root)
    assert ds.n_present == n_dev and 737 <= n_dev < 2000 and ds.kind == "partial"
    present = ds.present
    assert present["target"].nunique() == 50
    assert int(present["esc10"].sum()) == 400  # ESC-10 is complete
    assert (present["fold"] == 4).sum() == 400


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "/etc/passwd", "1-100032-A-0.wav/../../x", "..%2F..%2Fetc%2Fpasswd",
    "1-100032-A-0.mp3", "", "1-100032-A-0.wav\x00.png", "x" * 500,
])
def test_bad_clip_names_are_rejected(dev_root, name):
    ds = esc50.load_dataset(dev_root)
    with pytest.raises(DatasetError, match="not an ESC-50 clip name"):
        ds.clip_path(name)


def test_unknown_and_absent_clips(dev_root):
    ds = esc50.load_dataset(dev_root)
    with pytest.raises(DatasetError, match="not listed"):
        ds.clip("1-999999-A-0.wav")
    absent = ds.meta[~ds.meta["present"]].iloc[0]["filename"]
    with pytest.raises(DatasetError, match="not on disk"):
        ds.clip_path(absent)


def test_symlink_out_of_the_dataset_is_refused(csv_text, tmp_path):
    root = _write_root(tmp_path / "root", csv_text)
    outside = tmp_path / "secret.wav"
    sf.write(outside, np.full(4410, 0.1, np.float32), 44_100)
    os.symlink(outside, root / "audio" / "1-100032-A-0.wav")
    ds = esc50.load_dataset(root)
    with pytest.raises(DatasetError, match="outside the dataset"):
        ds.clip_path("1-100032-A-0.wav")


def test_siblings_share_the_source(dev_root):
    ds = esc50.load_dataset(dev_root)
    sibs = ds.siblings("2-104105-A-19.wav")
    assert list(sibs["filename"]) == ["2-104105-A-19.wav", "2-104105-B-19.wav"]


def test_filters(dev_root, n_dev):
    meta = esc50.load_dataset(dev_root).meta
    assert len(esc50.filter_clips(meta)) == 2000
    assert len(esc50.filter_clips(meta, present_only=True)) == n_dev
    assert len(esc50.filter_clips(meta, esc10_only=True, present_only=True)) == 400
    animals = esc50.filter_clips(meta, supercategories=["Animals"])
    assert set(animals["target"]) == set(range(10))
    dogs4 = esc50.filter_clips(meta, classes=["dog"], folds=[4])
    assert len(dogs4) == 8 and set(dogs4["fold"]) == {4}
    assert set(esc50.filter_clips(meta, src_file="104105")["src_file"]) == {"104105"}


def test_class_table(dev_root, n_dev):
    table = esc50.class_table(esc50.load_dataset(dev_root).meta)
    assert len(table) == 50 and table["listed"].sum() == 2000 and table["present"].sum() == n_dev
    assert table[[f"fold {f}" for f in range(1, 6)]].sum().sum() == n_dev
    dog = table[table["category"] == "dog"].iloc[0]
    assert dog["present"] == 40 and dog["fold 4"] == 8


def test_resolve_prefers_the_dataset_and_falls_back_to_the_sample(dev_root, tmp_path):
    status = esc50.resolve_dataset(dev_root, SAMPLE_ROOT)
    assert status.dataset.kind == "partial" and status.problem is None
    status = esc50.resolve_dataset(tmp_path / "nothing", SAMPLE_ROOT)
    assert status.dataset.kind == "sample" and "no ESC-50 dataset" in status.problem
    broken = tmp_path / "broken"
    (broken / "meta").mkdir(parents=True)
    (broken / "meta" / "esc50.csv").write_text("filename\n")
    status = esc50.resolve_dataset(broken, SAMPLE_ROOT)
    assert status.dataset.kind == "sample" and "missing columns" in status.problem


def test_full_dataset_is_detected(csv_text, tmp_path):
    meta = pd.read_csv(pd.io.common.StringIO(csv_text))
    root = _write_root(tmp_path, csv_text)
    src = next(iter((SAMPLE_ROOT / "audio").glob("*.flac")))
    for name in meta["filename"]:
        os.link(src, root / "audio" / name.replace(".wav", ".flac"))
    assert esc50.load_dataset(root).kind == "full"


def test_shipped_sample_has_one_clip_per_class():
    ds = esc50.load_dataset(SAMPLE_ROOT, kind="sample")
    assert ds.n_present == 50 and ds.present["target"].nunique() == 50
    assert all(p.endswith(".flac") for p in ds.present["path"])
    size = sum(os.path.getsize(p) for p in ds.present["path"])
    assert 5e6 < size < 15e6
    license_text = (SAMPLE_ROOT / "LICENSE.md").read_text()
    assert "CC BY-NC 3.0" in license_text and "CC BY 3.0" in license_text
    assert all(f"freesound.org/s/{s}/" in license_text for s in ds.present["src_file"])

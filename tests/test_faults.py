"""Faults: each gives a clear message, loses nothing, and the rest keeps working.

Damaged caches are recomputed (and said so); a run folder deleted or half-written while the app runs is listed,
not crashed on; a model file replaced while the app runs is reloaded; a full disk during `embed` or `train` is one
line and publishes nothing; `train` killed half way leaves no half run. (A full disk during the download:
tests/test_download.py.)
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from soundlab import cli, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.models import features
from tests.apptest import CLASSIFY, HOME, texts
from tests.apptest import run as run_page
from tests.assets import ROOT

METRICS = str(ROOT / "pages" / "3_Metrics.py")


@pytest.fixture(scope="module")
def tiny_root(dev_root, tmp_path_factory):
    """An ESC-50 folder with 30 clips: 6 classes, 5 distinct source recordings each (links to the dev clips)."""
    root = tmp_path_factory.mktemp("tiny") / "ESC-50"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    shutil.copy(dev_root / "meta" / "esc50.csv", root / "meta" / "esc50.csv")
    meta = pd.read_csv(dev_root / "meta" / "esc50.csv")
    present = meta[meta["filename"].map(lambda f: (dev_root / "audio" / f).is_file())]
    keep = (present[present["category"].isin(["dog", "rooster", "rain", "sea_waves", "crackling_fire", "siren"])]
            .drop_duplicates("src_file").groupby("category").head(5))
    for f in keep["filename"]:
        os.symlink(dev_root / "audio" / f, root / "audio" / f)
    return root


@pytest.fixture
def tiny_env(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDLAB_ESC50_ROOT", str(tiny_root))
    monkeypatch.setenv("SOUNDLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    (tmp_path / "artifacts").mkdir()
    for f in DEFAULT_ARTIFACTS_DIR.iterdir():  # the backbones, not the shipped runs
        if f.is_file():
            shutil.copy(f, tmp_path / "artifacts" / f.name)
    shutil.copytree(DEFAULT_ARTIFACTS_DIR / "efficientat", tmp_path / "artifacts" / "efficientat")
    return tmp_path


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_damaged_embedding_cache_is_recomputed_and_said_so(tiny_env, capfd):
    assert cli.main(["embed", "--backbone", "yamnet"]) == 0
    cache = next((tiny_env / "cache" / "embeddings").rglob("orig.npz"))
    good = np.load(cache)["embeddings"].copy()
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) // 2])  # truncated, as by a crash of another tool or a full disk elsewhere
    capfd.readouterr()
    assert cli.main(["embed", "--backbone", "yamnet"]) == 0
    err = capfd.readouterr().err
    assert "embedding cache" in err and "damaged" in err and "embedded again" in err
    assert np.allclose(np.load(cache)["embeddings"], good, atol=1e-5)


def test_a_damaged_feature_cache_is_recomputed_and_said_so(tiny_root, tmp_path):
    clips = [(p.name, str(p)) for p in sorted((tiny_root / "audio").iterdir())[:4]]
    spec = features.SPECS["mfcc"]
    names, X, _ = features.feature_set(clips, spec, cache_dir=tmp_path)
    path = next((tmp_path / "features").glob("*.npz"))
    path.write_bytes(b"PK\x03\x04 not really a zip")
    said = []
    names2, X2, _ = features.feature_set(clips, spec, cache_dir=tmp_path, log=said.append)
    assert said and "feature cache" in said[0] and "damaged" in said[0]
    assert list(names2) == list(names) and np.allclose(X2, X)


def test_a_full_disk_during_embed_is_one_line_and_keeps_the_old_cache(tiny_env, capfd, monkeypatch):
    monkeypatch.setattr("soundlab.storage.np.savez", _disk_full)
    monkeypatch.setattr("soundlab.storage.np.savez_compressed", _disk_full)
    assert cli.main(["embed", "--backbone", "yamnet"]) == 1
    err = capfd.readouterr().err
    assert "error: the disk is full" in err and "Traceback" not in err
    leftovers = [p for p in (tiny_env / "cache").rglob("*") if p.is_file()]
    assert leftovers == []  # no cache, and no temporary file left behind


def test_a_full_disk_during_train_publishes_no_run(tiny_env, capfd, monkeypatch):
    monkeypatch.setattr("soundlab.runs.write_json_atomic", _disk_full)  # run.json is the last file written
    rc = cli.main(["train", "--task", "esc50", "--backbone", "yamnet", "--heads", "logreg"])
    err = capfd.readouterr().err
    assert rc == 1 and "error: the disk is full" in err
    runs_dir = tiny_env / "artifacts" / "runs"
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []  # no run, no staging folder


KILL_WHEN_STAGED = 0.005  # poll interval (s) for the staging folder


def test_train_killed_half_way_leaves_no_half_run(tiny_env):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs_dir = tiny_env / "artifacts" / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "soundlab", "train", "--task", "esc50", "--backbone", "yamnet",
                             "--heads", "logreg,linear"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    killed_while_staged = False
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if runs_dir.is_dir() and any(p.name.startswith(runs.STAGING_PREFIX) for p in runs_dir.iterdir()):
            os.kill(proc.pid, signal.SIGKILL)
            killed_while_staged = True
            break
        time.sleep(KILL_WHEN_STAGED)
    proc.wait(60)
    print(f"killed while the run was staged: {killed_while_staged}")
    usable, problems = runs.list_runs(tiny_env / "artifacts")
    assert problems == []
    if killed_while_staged:
        assert usable == []  # the staged run never appears
    for r in usable:  # had it finished before the kill, it would be whole
        assert runs.read_oof(r, r.default_model) is not None
    at = run_page(HOME)
    assert not at.exception and "unusable run folder" not in " ".join(str(m.value) for m in at.markdown)


def test_a_run_folder_deleted_or_damaged_while_the_app_runs(tmp_path, monkeypatch, dev_root, use_dataset):
    use_dataset(dev_root)
    art = tmp_path / "artifacts"
    shutil.copytree(DEFAULT_ARTIFACTS_DIR, art)
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    shipped, _ = runs.list_runs(art)
    run50 = runs.preferred(shipped)
    at = run_page(METRICS, {"metrics-run": run50.id})
    assert not at.exception and not at.error
    shutil.rmtree(run50.path)  # deleted between two reruns of the page
    at.run()
    assert not at.exception
    assert run50.id not in at.selectbox(key="metrics-run").options
    other = next(r for r in shipped if r.id != run50.id)
    (other.path / "run.json").write_text('{"id": "trunc')  # half-written by a tool outside the app
    home = run_page(HOME)
    assert not home.exception and f"unusable run folder: {other.path.name}" in " ".join(
        str(m.value) for m in home.markdown)
    at.run()
    assert not at.exception and other.id not in at.selectbox(key="metrics-run").options


def test_a_model_file_replaced_while_the_app_runs_is_reloaded(tmp_path, monkeypatch, dev_root, use_dataset):
    use_dataset(dev_root)
    art = tmp_path / "artifacts"
    shutil.copytree(DEFAULT_ARTIFACTS_DIR, art)
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    from components import loaders

    first = loaders.backbone("yamnet")
    assert loaders.backbone("yamnet") is first  # cached while nothing changes
    model = art / "yamnet.tflite"
    replacement = tmp_path / "new.tflite"
    shutil.copy(model, replacement)
    time.sleep(0.01)
    os.replace(replacement, model)  # a new version of the file, put in place atomically
    second = loaders.backbone("yamnet")
    assert second is not first
    # a head file replaced: the classifier is loaded again
    run = runs.preferred([r for r in runs.list_runs(art)[0] if r.backbone_key == "yamnet"])
    clf = loaders.classifier(run, run.default_model, second)
    head = run.model_path(run.default_model)
    data = head.read_bytes()
    head.unlink()
    head.write_bytes(data)
    assert loaders.classifier(run, run.default_model, second) is not clf
    at = run_page(CLASSIFY, {"classify-backbone": "YAMNet"})
    assert not at.exception and not at.error, texts(at, "error")


def test_a_model_file_broken_while_the_app_runs_is_a_message(tmp_path, monkeypatch, dev_root, use_dataset):
    use_dataset(dev_root)
    art = tmp_path / "artifacts"
    shutil.copytree(DEFAULT_ARTIFACTS_DIR, art)
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run_page(CLASSIFY, {"classify-backbone": "YAMNet"})
    assert not at.exception
    Path(art / "yamnet.tflite").write_bytes(b"not a model")
    at.run()
    assert not at.exception and "yamnet.tflite" in texts(at, "error")


def test_a_page_opened_while_another_session_imports_keras_still_starts(monkeypatch):
    """The first Classify visits after a start: one session's thread is importing keras, another page starts with keras
    in sys.modules but without its backend yet. That page must start (it once raised AttributeError), and the cheap
    cleanup is installed by a later run once the import finished."""
    import types

    from components import page

    half = types.ModuleType("keras")  # what sys.modules holds while keras/__init__.py is still running
    monkeypatch.setitem(sys.modules, "keras", half)
    page.keep_keras_cleanup_cheap()  # nothing to patch yet, and no error

    calls = []
    half.backend = types.SimpleNamespace(clear_session=lambda free_memory=True: calls.append(free_memory))
    page.keep_keras_cleanup_cheap()
    page.keep_keras_cleanup_cheap()  # patched once, not wrapped twice
    half.backend.clear_session()
    assert calls == [False] and half.backend.clear_session.soundlab_cheap

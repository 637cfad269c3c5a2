"""Data issues (cleanlab), the review log (SQLite), sound search, and training on corrected labels."""

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from soundlab import issues, predictions, runs, train
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.data import protocol
from soundlab.errors import DatasetError
from soundlab.review import Decision, ReviewError, ReviewStore, corrected_metadata
from soundlab.search import SoundIndex
from tests.assets import ROOT

SHIPPED, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)


def synthetic(seed: int = 0, n_classes: int = 5, per: int = 24, dim: int = 32):
    """Clusters of embeddings with out-of-fold probabilities of a logistic regression, and three planted problems:
    a flipped label, the same clip under two names in two folds, and a clip of pure noise."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * 3
    labels = np.repeat(np.arange(n_classes), per)
    x = centers[labels] + rng.normal(size=(len(labels), dim))
    n = len(labels)
    names = np.array([f"clip{i:03d}.wav" for i in range(n)])
    sources = np.array([f"src{i // 2}" for i in range(n)])  # two takes per recording, in one fold
    folds = np.array([(i // 2) % 5 + 1 for i in range(n)])
    flip, dup_a, dup_b, noise = 7, 30, 72, 100
    labels[flip] = (labels[flip] + 3) % n_classes
    x[dup_b], labels[dup_b] = x[dup_a], labels[dup_a]
    x[noise] = rng.normal(size=dim) * 3
    assert folds[dup_a] != folds[dup_b]
    probs = np.zeros((n, n_classes))
    for k in range(1, 6):
        model = LogisticRegression(max_iter=1000).fit(x[folds != k], labels[folds != k])
        probs[folds == k] = model.predict_proba(x[folds == k])
    data = issues.ClipData(names, x.astype(np.float32), probs, labels, folds, sources)
    return data, {"flip": names[flip], "dup": {names[dup_a], names[dup_b]}, "noise": names[noise]}


def test_planted_problems_are_found_at_rank_1():
    data, planted = synthetic()
    found = issues.analyse(data, [f"class{i}" for i in range(5)])
    assert found.labels.iloc[0]["filename"] == planted["flip"]
    assert found.labels.iloc[0]["suggested"] != found.labels.iloc[0]["given"]
    top = found.duplicates.iloc[0]
    assert {top["a"], top["b"]} == planted["dup"] and top["cross_fold"] and top["distance"] < 1e-6
    assert found.outliers.iloc[0]["filename"] == planted["noise"]
    assert list(found.labels["rank"]) == list(range(1, len(found.labels) + 1))


def test_a_label_issue_both_backbones_find_ranks_first():
    data, planted = synthetic()
    other, _ = synthetic(seed=1)  # another "backbone": its own embeddings and probabilities, the same clips
    other = issues.ClipData(data.names, other.pooled, other.probs, data.labels, data.folds, data.sources)
    found = issues.analyse(data, [f"c{i}" for i in range(5)], [("other-run", other)])
    assert found.other_runs == ["other-run"]
    flags = found.labels["both_backbones"].to_numpy()
    assert (np.diff(flags.astype(int)) <= 0).all()  # every issue both find comes before any the other misses
    assert found.labels.iloc[0]["filename"] == planted["flip"] and "other-run" in found.labels.iloc[0]["found_by"]


@pytest.fixture(scope="module")
def shipped_pair():
    run = runs.preferred(SHIPPED)
    others = [r for r in SHIPPED if r.task == run.task and r.classifies_audio and r.backbone_key != run.backbone_key]
    return run, others


def test_shipped_run_issues_are_cached_and_recomputed_when_damaged(shipped_pair, tmp_path):
    run, others = shipped_pair
    first = issues.find(run, others=others, cache_dir=tmp_path)
    cached = list((tmp_path / "issues").glob("*.json"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = issues.find(run, others=others, cache_dir=tmp_path)
    assert cached[0].stat().st_mtime_ns == stamp  # read from the cache, not computed and written again
    for kind in issues.KINDS:
        pd.testing.assert_frame_equal(first.table(kind), again.table(kind), check_dtype=False)
    cached[0].write_text("{ not json")
    repaired = issues.find(run, others=others, cache_dir=tmp_path)
    assert repaired.counts() == first.counts()
    # every row names a clip of the run, with its fold and source recording
    oof = runs.read_oof(run, run.default_model).set_index("filename")
    for row in first.labels.itertuples():
        assert oof.loc[row.filename, "fold"] == row.fold
    assert first.duplicates.empty or first.duplicates["distance"].is_monotonic_increasing or \
        first.duplicates["cross_fold"].iloc[0] or not first.duplicates["cross_fold"].any()


def test_cli_issues_prints_each_kind_and_csv(shipped_pair, tmp_path):
    run, _ = shipped_pair
    env = {**os.environ, "SOUNDLAB_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "soundlab", "issues", "--run", run.id, "--top", "3"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for name in issues.KIND_NAMES.values():
        assert name in out.stdout
    csv = subprocess.run([sys.executable, "-m", "soundlab", "issues", "--run", run.id, "--csv"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert csv.returncode == 0 and "filename" in csv.stdout
    bad = subprocess.run([sys.executable, "-m", "soundlab", "issues", "--run", "no-such-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "no-such-run" in bad.stderr and "Traceback" not in bad.stderr


# ---- the review log ------------------------------------------------------------------------------------------

def test_review_store_keeps_history_and_the_latest_decision(tmp_path):
    store = ReviewStore(tmp_path / "review.db")
    store.add(Decision("1-100032-A-0.wav", "label", "unsure", note="hard to tell", reviewer="ann"))
    store.add(Decision("1-100032-A-0.wav", "label", "label_wrong", new_label="rooster", reviewer="bob"))
    store.add(Decision("1-100038-A-14.wav", "near_duplicate", "duplicate", other_file="1-100038-A-15.wav",
                       reviewer="cy"))
    assert len(store.history()) == 3
    cur = store.current().set_index("filename")
    assert cur.loc["1-100032-A-0.wav", "decision"] == "label_wrong" and cur.loc["1-100032-A-0.wav", "reviewer"] == "bob"
    # a decision is a person's: never recorded in the name of the account the server runs under
    with pytest.raises(ReviewError, match="name of the person"):
        store.add(Decision("1-100038-A-14.wav", "near_duplicate", "duplicate", reviewer="  "))
    assert len(store.history()) == 3
    reopened = ReviewStore(tmp_path / "review.db")  # survives a restart
    assert len(reopened.history()) == 3
    with pytest.raises(ReviewError, match="class it should be"):
        store.add(Decision("x.wav", "label", "label_wrong"))
    with pytest.raises(ReviewError, match="unknown decision"):
        store.add(Decision("x.wav", "label", "delete"))


def _write_many(path: str, who: str, n: int) -> None:
    # a short busy timeout (the app waits 10 s), so the retries carry part of the contention; 0.2 s (a retry budget of
    # 3.4 s) failed once here with the machine busy: a slow disk's fsync is not a lost decision
    store = ReviewStore(path, timeout_s=1.0)
    for i in range(n):
        store.add(Decision(f"{who}-{i}.wav", "label", "fine", reviewer=who))


def test_two_sessions_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "review.db")
    ReviewStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, who, 150)) for who in ("ann", "bob")]
    threads = [threading.Thread(target=_write_many, args=(path, "thread", 100))]
    for p in procs + threads:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    threads[0].join(120)
    history = ReviewStore(path).history()
    assert len(history) == 400
    assert history.groupby("reviewer").size().to_dict() == {"ann": 150, "bob": 150, "thread": 100}


KILLED_WRITER = """
import sys
from soundlab.review import Decision, ReviewStore
store = ReviewStore(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    store.add(Decision(f"clip-{i}.wav", "label", "label_wrong", new_label="dog", note="x" * 2000, reviewer="ann"))
    i += 1
"""


def test_a_killed_writer_leaves_the_database_consistent(tmp_path):
    path = tmp_path / "review.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    history = ReviewStore(path).history()
    assert len(history) > 0
    assert (history["new_label"] == "dog").all() and (history["note"].str.len() == 2000).all()  # no half row
    ReviewStore(path).add(Decision("after.wav", "label", "fine", reviewer="ann"))  # and it takes new decisions


def test_a_corrupt_database_file_gives_a_clear_message(tmp_path):
    path = tmp_path / "review.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(ReviewError, match="review.db") as e:
        ReviewStore(path).history()
    assert "SOUNDLAB_REVIEW_DB" in str(e.value)


# ---- corrected labels -> train --labels ------------------------------------------------------------------------

def test_export_reads_back_and_relabels_with_the_same_folds(dev, tmp_path):
    store = ReviewStore(tmp_path / "review.db")
    clip = dev.present[dev.present["category"] == "dog"]["filename"].iloc[0]
    store.add(Decision(clip, "label", "label_wrong", new_label="rooster", note="a rooster, clearly", reviewer="ann"))
    class_of = dict(zip(dev.meta["category"], dev.meta["target"], strict=False))
    corrected = corrected_metadata(dev.meta, store.current(), class_of)
    assert (corrected["target"] != corrected["original_target"]).sum() == 1
    # the relabelled clip's every label column follows its new class: dog (ESC-10) -> rooster (ESC-10) -> cow (not)
    fixed_row = corrected.set_index("filename").loc[clip]
    assert (fixed_row["category"], fixed_row["target"], bool(fixed_row["esc10"])) == ("rooster", 1, True)
    store.add(Decision(clip, "label", "label_wrong", new_label="cow", reviewer="ann"))
    cow = corrected_metadata(dev.meta, store.current(), class_of).set_index("filename").loc[clip]
    assert (cow["category"], cow["target"], bool(cow["esc10"])) == ("cow", 3, False)
    store.add(Decision(clip, "label", "label_wrong", new_label="rooster", reviewer="ann"))
    path = tmp_path / "esc50-corrected.csv"
    corrected.to_csv(path, index=False)
    labels = protocol.read_labels(path, dev.meta)
    official = protocol.choose(dev.meta, "esc50")
    fixed = protocol.relabel(official, labels, str(path))
    assert fixed.name == "esc50-grouped-relabelled" and fixed.labels["changed"] == 1
    assert "not the official labels" in fixed.description
    assert (fixed.clips["fold"].to_numpy() == official.clips["fold"].to_numpy()).all()
    row = fixed.clips.set_index("filename").loc[clip]
    assert row["category"] == "rooster" and fixed.classes[row["label"]] == "rooster"
    # a later "fine" on the same clip undoes the correction
    store.add(Decision(clip, "outlier", "fine", reviewer="ann"))
    assert (corrected_metadata(dev.meta, store.current(), class_of)["target"]
            == dev.meta["target"]).all()


def test_bad_labels_files_are_refused_with_a_message(dev, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,target\nx.wav,1\n")
    with pytest.raises(DatasetError, match="category"):
        protocol.read_labels(bad, dev.meta)
    row = dev.meta.iloc[0]
    bad.write_text(f"filename,target,category\n{row['filename']},3,dog\n")
    with pytest.raises(DatasetError, match="target 3"):
        protocol.read_labels(bad, dev.meta)
    bad.write_text("filename,target,category\nnot-a-clip.wav,0,dog\n")
    with pytest.raises(DatasetError, match="not in ESC-50"):
        protocol.read_labels(bad, dev.meta)
    out = subprocess.run([sys.executable, "-m", "soundlab", "train", "--labels", str(bad), "--task", "esc10"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SOUNDLAB_ESC50_ROOT": str(dev.root)})
    assert out.returncode != 0 and "not in ESC-50" in out.stderr and "Traceback" not in out.stderr


def test_a_run_on_corrected_labels_says_so(dev, tmp_path):
    from soundlab.models import yamnet
    from soundlab.train.heads import HeadsConfig, HeadsTrainer
    from tests.test_training import small

    ds = small(dev)
    clip = ds.present[ds.present["category"] == "dog"]["filename"].iloc[0]
    target = int(dev.meta.loc[dev.meta["category"] == "rooster", "target"].iloc[0])
    labels = pd.DataFrame({"filename": [clip], "target": [target], "category": ["rooster"]})
    bb = yamnet.load_yamnet("tflite", DEFAULT_ARTIFACTS_DIR)
    trainer = HeadsTrainer(bb, HeadsConfig(heads=("logreg",)))
    path = train.train_run(ds, "esc50", trainer, cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs",
                           log=lambda m: None, labels=(labels, "esc50-corrected.csv"))
    run = runs.load_run(path)
    assert run.protocol["name"].endswith("-relabelled") and run.protocol["labels"]["changed"] == 1
    assert not run.official
    oof = runs.read_oof(run, "logreg").set_index("filename")
    assert oof.loc[clip, "true_class"] == "rooster"
    official = protocol.choose(ds.meta, "esc50")
    assert (oof.loc[official.clips["filename"], "fold"].to_numpy() == official.clips["fold"].to_numpy()).all()
    ok, why = predictions.comparability(predictions.REFERENCES[0], run)
    assert not ok and "corrected by review" in why


# ---- sound search ----------------------------------------------------------------------------------------------

def test_sound_search_is_exact_cosine():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 64)).astype(np.float32)
    names = [f"c{i}.wav" for i in range(500)]
    index = SoundIndex.build(names, x)
    q = x[17] + 0.01 * rng.normal(size=64)
    hits = index.query(q, k=5)
    assert hits[0][0] == "c17.wav" and hits[0][1] < 1e-3
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ (q / np.linalg.norm(q))))[:5]
    assert [h[0] for h in hits] == [names[i] for i in expected]
    assert [h[0] for h in index.query(x[17], k=3, exclude="c17.wav")][0] != "c17.wav"
    assert index.query(x[0], k=0) == []

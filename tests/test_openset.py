"""The open-set verdict: a tag map learned from data, nested calibration, and what it says of foreign sounds.

The foreign clips (tests/foreign/clips, built by tests/foreign/build.py from Debian packages) are never used for
calibration, which uses ESC-50 clips out of fold, except that a default fused with `--learn-foreign` learned from the
real-world set's foreign recordings, some of them the same tuxpaint, freedesktop and asterisk files: its figure on
this set comes from `bench/bench_openset.py --measured-with` (each clip judged by a recipe that never heard it).
"""

import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from soundlab import openset, runs
from soundlab.classify import classify_audio, load_classifier
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings
from soundlab.models.backbone import load_backbone
from tests.assets import ROOT

FOREIGN = ROOT / "tests" / "foreign"
SHIPPED, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
SERVED = {key: runs.preferred([r for r in SHIPPED if r.backbone_key == key and r.task == "esc50"])
          for key in ("yamnet", "efficientat")}
SR = 32_000


@pytest.fixture(scope="module", params=list(SERVED))
def clf(request):
    run = SERVED[request.param]
    return load_classifier(run, None, load_backbone(run.backbone_key, get_settings()))


def test_the_tag_map_is_learned_from_data_with_an_entry_for_every_class():
    for run in SERVED.values():
        osm = run.openset()
        assert osm is not None, f"{run.id} has no open-set calibration"
        tm = osm.tag_map
        assert len(tm.class_tags) == len(run.classes) and all(tm.class_tags)
        names = load_backbone(run.backbone_key, get_settings()).tag_names
        dog = {names[t] for t in tm.class_tags[run.class_names.index("Dog")]}
        assert {"Dog"} <= dog or {"Bark"} <= dog
        assert "Speech" in {names[t] for t in tm.generic} or "Speech" not in {names[t] for t in tm.known}
        assert osm.oof["in_set"] >= 0.9 and abs(sum(osm.oof.values()) - 1) < 1e-9


def test_learn_tag_map_on_a_toy_case():
    tags = np.zeros((6, 8), np.float32)
    tags[:3, [0, 1]] = [0.9, 0.5]  # class 0 produces tags 0 and 1
    tags[3:, [2, 1]] = [0.8, 0.4]  # class 1 produces tags 2 and 1
    tm = openset.learn_tag_map(tags, np.array([0, 0, 0, 1, 1, 1]), 2)
    assert {0, 1} <= set(tm.class_tags[0]) and {1, 2} <= set(tm.class_tags[1])
    assert openset.TagMap.from_json(tm.to_json()) == tm


def _tone(kind: str, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(3)
    if kind == "sweep":
        return (0.5 * np.sin(2 * np.pi * (100 * t + (8000 - 100) / (2 * seconds) * t ** 2))).astype(np.float32)
    return (0.3 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("kind", ["sweep", "noise", "speech", "piano"])
def test_synthetic_foreign_sounds_are_foreign_or_unsure(clf, kind, tmp_path):
    if kind in ("sweep", "noise"):
        path = tmp_path / f"{kind}.wav"
        sf.write(path, _tone(kind), SR)
    else:
        path = FOREIGN / "clips" / ("speech-espeak-en-us.ogg" if kind == "speech" else "music-piano.ogg")
    v = classify_audio(clf, path).verdict
    assert v is not None
    if kind == "noise" and clf.backbone.key == "efficientat" and v.outcome == "in-set":
        # A known miss (bench/RESULTS.md, bench_openset): the fused model takes white noise for Rain. What must still
        # hold for a user: the verdict says what the tagger hears. (Whether a reason says "none of the 50 makes it"
        # depends on the run's learned tag map: game footsteps taught the default's Footsteps the tag Static.)
        assert {"White noise", "Static"} & {h.split(" (")[0] for h in v.hears.split("), ")}, v.message()
        return
    assert v.outcome in ("foreign", "unsure"), (kind, v.message())
    if kind == "speech":
        assert v.outcome == "foreign" and "Speech" in v.hears


def test_an_esc50_clip_out_of_fold_is_judged_in_set():
    """Judged as the calibration judges it: thresholds, tag map and references from the other folds only."""
    run = SERVED["efficientat"]
    names, pooled, tags = runs.read_embeddings(run)
    oof = runs.read_oof(run, run.default_model).set_index("filename").loc[list(names)]
    probs = oof[[f"p_{c}" for c in run.classes]].to_numpy(np.float32)
    labels, folds = oof["true"].to_numpy(), oof["fold"].to_numpy()
    tag_names = load_backbone("efficientat", get_settings()).tag_names
    dog = next(i for i, f in enumerate(names) if f == "2-117271-A-0.wav")
    out = folds != folds[dog]
    osm = openset.calibrate(probs=probs[out], pooled=pooled[out], tags=tags[out], labels=labels[out], folds=folds[out],
                            n_classes=len(run.classes), tag_names=tag_names)
    v = osm.judge(probs=probs[dog], pooled=pooled[dog], tags=tags[dog], ref_pooled=openset.normalize(pooled[out]),
                  ref_labels=labels[out], class_names=run.class_names, tag_names=tag_names, tagger="EfficientAT")
    assert v.outcome == "in-set" and v.label == "Dog", v.message()


def test_a_dataset_clip_is_in_set_and_speech_is_foreign_with_reasons(clf, dev_root):
    v = classify_audio(clf, dev_root / "audio" / "2-117271-A-0.wav").verdict
    assert v.in_set and v.label == "Dog"
    v = classify_audio(clf, FOREIGN / "clips" / "speech-asterisk-en-vm-intro.ogg").verdict
    assert v.outcome == "foreign" and v.reasons
    assert any(r.signal == "speech_music" and r.value > r.threshold for r in v.reasons)
    data = v.to_json()
    assert data["outcome"] == "foreign" and data["reasons"][0]["text"]


def test_the_foreign_set_has_provenance_for_every_clip():
    rows = list(csv.DictReader(open(FOREIGN / "PROVENANCE.tsv"), delimiter="\t"))
    files = {p.name for p in (FOREIGN / "clips").glob("*.ogg")}
    assert {r["file"] for r in rows} == files and len(files) >= 60
    assert all(r["licence"] and r["source"] and r["kind"] in ("speech", "music", "tone", "real") for r in rows)
    assert sum((FOREIGN / "clips" / f).stat().st_size for f in files) < 5 * 2**20  # a few MB


def test_cli_json_carries_verdict_reasons_and_tags():
    out = subprocess.run([sys.executable, "-m", "soundlab", "classify", "--json",
                          str(FOREIGN / "clips" / "music-piano.ogg")], cwd=ROOT, capture_output=True, text=True,
                         timeout=180, env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    result = __import__("json").loads(out.stdout)["results"][0]
    assert result["in_set"] is False and result["verdict"]["outcome"] in ("foreign", "unsure")
    assert result["verdict"]["reasons"] and result["tags"] and result["tagger"]


def test_a_calibration_from_before_the_learned_score_judges_as_it_did(rng):
    """openset.json files written before `foreign_like` existed (five signal columns, no "used") load, and the
    verdicts they give are those of the five signals."""
    n, d = 200, 8
    labels, folds = np.arange(n) % 4, np.arange(n) % 5
    pooled = rng.standard_normal((n, d)).astype(np.float32) + 3 * np.eye(4, d)[labels]
    tags = rng.random((n, 12)).astype(np.float32) * 0.2
    tags[np.arange(n), labels] = 0.9
    probs = np.full((n, 4), 0.1, np.float32)
    probs[np.arange(n), labels] = 0.7
    osm = openset.calibrate(probs=probs, pooled=pooled, tags=tags, labels=labels, folds=folds, n_classes=4,
                            tag_names=[f"t{i}" for i in range(12)])
    old = osm.to_json()
    old["reference"] = [row[:5] for row in old["reference"]]
    del old["used"]
    loaded = openset.OpenSetModel.from_json(old)
    assert loaded.used == openset.CLASSIC and loaded.foreign is None
    values = openset.signals(probs=probs, pooled=pooled, tags=tags, ref_pooled=openset.normalize(pooled),
                             ref_labels=labels, tag_map=osm.tag_map, speech_music=[])
    assert (values[:, 5] == 0).all()
    stored = openset.OpenSetModel.from_json(osm.to_json())  # as stored (rounded), with the sixth column
    assert (loaded.outcome(values)[0] == stored.outcome(values)[0]).all()
    assert np.allclose(loaded.outcome(values)[1], stored.outcome(values)[1])

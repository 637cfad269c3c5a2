"""soundlab.classify with the shipped runs and the real YAMNet: clips, long audio, open set, CLI."""

import json
import subprocess
import sys
import threading
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from soundlab import runs
from soundlab.classify import classify_audio, load_classifier
from soundlab.config import CLASSIFY_LIMITS, DEFAULT_ARTIFACTS_DIR
from soundlab.errors import AudioError
from soundlab.models import yamnet as yamnet_model
from tests.assets import ROOT, shared, yamnet_hub_stub

SR = 16_000


@pytest.fixture(scope="module")
def clf(yamnet):
    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    # this file tests classification through YAMNet; the app's default (EfficientAT) is in test_efficientat.py
    return load_classifier(runs.preferred([r for r in shipped if r.family == "yamnet"]), None, yamnet)


def test_a_dataset_clip(clf, dev_root):
    res = classify_audio(clf, dev_root / "audio" / "2-104105-A-19.wav")
    assert res.top(1)[0][0] == "Thunderstorm"
    assert res.probs.shape == (50,) and res.probs.sum() == pytest.approx(1, abs=1e-4)
    assert len(res.window_starts) == 1 and res.frame_probs.shape == (10, 50)
    assert res.verdict.in_set
    assert res.diagnostics.sr == 44_100 and res.diagnostics.duration_s == pytest.approx(5.0)
    assert set(res.category_totals(clf.run.categories, clf.run.category_names)) == {
        "Animals", "Natural soundscapes & water sounds", "Human, non-speech sounds",
        "Interior/domestic sounds", "Exterior/urban noises"}
    assert sum(res.category_totals(clf.run.categories, clf.run.category_names).values()) == pytest.approx(1, abs=1e-4)
    assert res.top_tags(1)[0][0] in ("Thunderstorm", "Thunder", "Rain")
    assert {"decode", "backbone", "head", "total"} <= set(res.timings_ms)


@pytest.mark.parametrize("name", ["en-short", "en-long", "de-short", "fr-short"])
def test_speech_is_not_an_esc50_sound(clf, name):
    res = classify_audio(clf, shared("speech", f"{name}.wav"))
    assert not res.verdict.in_set
    assert "not an ESC-50 sound; YAMNet hears: Speech" in res.verdict.message()


def _write(path, y, sr=SR):
    sf.write(path, y, sr, subtype="PCM_16")
    return path


def test_long_audio_is_classified_in_windows(clf, dev_root, tmp_path):
    clips = [sf.read(p, dtype="float32")[0] for p in sorted((dev_root / "audio").glob("4-*.wav"))[:24]]
    path = _write(tmp_path / "two-minutes.wav", np.concatenate(clips), 44_100)
    res = classify_audio(clf, path)
    assert len(res.window_starts) == 47  # 120 s: windows of 5 s every 2.5 s
    assert np.all(np.diff(res.window_starts) == pytest.approx(2.5))
    assert res.window_probs.shape == (47, 50)
    counted = res.window_counted
    assert counted.any() and res.probs == pytest.approx(res.window_probs[counted].mean(axis=0), abs=1e-6)


def test_a_sound_in_a_long_quiet_recording_is_not_averaged_away(clf, dev_root, tmp_path, rng):
    """Twenty seconds of a quiet room around a thunderstorm: the answer pools the windows that hold the storm."""
    y, sr = sf.read(dev_root / "audio" / "2-104105-A-19.wav", dtype="float32")
    room = (10 ** (-60 / 20) * rng.standard_normal(10 * sr)).astype(np.float32)
    res = classify_audio(clf, _write(tmp_path / "room.wav", np.concatenate([room, y, room]), sr))
    assert res.top(1)[0][0] == "Thunderstorm" and res.verdict.in_set
    assert 0 < res.window_counted.sum() < len(res.window_starts)
    counted_starts = res.window_starts[res.window_counted]
    assert counted_starts.min() > 10 - 5 and counted_starts.max() < 15  # windows that overlap the storm
    # another backbone's tags of the recording (the page shows them beside the answer) pool the same windows
    from soundlab.classify import tag_audio

    tags = tag_audio(clf.backbone, tmp_path / "room.wav")
    top = [clf.backbone.tag_names[i] for i in np.argsort(-tags)[:3]]
    assert {"Thunderstorm", "Thunder", "Rain"} & set(top), top


def test_window_aligned_to_the_end(clf, tmp_path, rng):
    path = _write(tmp_path / "7s.wav", (0.2 * rng.standard_normal(int(7.3 * SR))).astype(np.float32))
    res = classify_audio(clf, path)
    assert list(np.round(res.window_starts, 2)) == [0.0, 2.3]


def test_short_audio_is_one_padded_window(clf, tmp_path, tone_440):
    res = classify_audio(clf, _write(tmp_path / "short.wav", tone_440[:8000]))
    assert len(res.window_starts) == 1 and len(res.frame_starts) == 1


@pytest.mark.parametrize("quieter_db", [20, 35])
def test_a_quieter_recording_of_the_same_sound_gets_the_same_answer(clf, dev_root, tmp_path, quieter_db):
    """A recording made at a lower level (a phone further away) is heard at the level ESC-50's clips have: the same
    class and verdict as the clip itself; the diagnostics keep the recording's own level."""
    y, sr = sf.read(dev_root / "audio" / "2-104105-A-19.wav", dtype="float32")
    loud = classify_audio(clf, dev_root / "audio" / "2-104105-A-19.wav")
    quiet = classify_audio(clf, _write(tmp_path / "far.wav", y * 10 ** (-quieter_db / 20), sr))
    assert quiet.top(1)[0][0] == loud.top(1)[0][0] == "Thunderstorm"
    assert quiet.verdict.outcome == loud.verdict.outcome == "in-set"
    assert quiet.diagnostics.peak_dbfs == pytest.approx(loud.diagnostics.peak_dbfs - quieter_db, abs=0.1)


def test_a_dc_offset_does_not_change_what_is_heard(clf, dev_root, tmp_path):
    """A recorder's DC offset is not sound: a quiet recording with one gets the answer it gets without, and an offset
    over faint hiss is silence, not a class (levels are measured around the mean)."""
    from soundlab.classify import QUIET_DBFS

    y, sr = sf.read(dev_root / "audio" / "2-104105-A-19.wav", dtype="float32")
    quiet = y * np.float32(10 ** (-30 / 20))
    without = classify_audio(clf, _write(tmp_path / "quiet.wav", quiet, sr))
    offset = classify_audio(clf, _write(tmp_path / "dc.wav", quiet + np.float32(0.02), sr))
    assert offset.top(1)[0][0] == without.top(1)[0][0] == "Thunderstorm"
    assert offset.verdict.outcome == without.verdict.outcome == "in-set"
    # the page's RMS and near-silent share are around the mean too (the peak is of the samples as they are)
    assert offset.diagnostics.rms_dbfs == pytest.approx(without.diagnostics.rms_dbfs, abs=0.05)
    assert offset.diagnostics.silent_share == pytest.approx(without.diagnostics.silent_share, abs=0.01)
    hiss = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * np.float32(10 ** ((QUIET_DBFS - 10) / 20))
    assert classify_audio(clf, _write(tmp_path / "hum.wav", hiss + np.float32(0.05))).verdict.outcome == "silence"


def test_level_is_measured_around_the_mean():
    from soundlab.classify import heard
    from soundlab.dsp import level_dbfs

    tone = (0.01 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    assert level_dbfs(tone + np.float32(0.3)) == pytest.approx(level_dbfs(tone), abs=0.01)
    assert level_dbfs(np.full(SR, 0.3, np.float32)) == -200.0 and level_dbfs(np.zeros(0, np.float32)) == -200.0
    z = heard(tone + np.float32(0.3), level_dbfs(tone))  # the offset is taken out before a quiet sound is brought up
    assert abs(float(z.mean())) < 1e-4 and np.allclose(z, heard(tone, level_dbfs(tone)), atol=1e-4)


def test_heard_brings_only_quiet_sound_up_to_the_floor():
    from soundlab.classify import LEVEL_FLOOR_DBFS, QUIET_DBFS, heard
    from soundlab.dsp import level_dbfs

    t = np.arange(SR, dtype=np.float32) / SR
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    for peak_db in (-45, -30, LEVEL_FLOOR_DBFS - 1):
        y = tone * np.float32(10 ** (peak_db / 20))
        z = heard(y, level_dbfs(y))
        assert 20 * np.log10(np.abs(z).max()) == pytest.approx(LEVEL_FLOOR_DBFS, abs=0.01)
    for peak_db in (LEVEL_FLOOR_DBFS, -6, 0):  # loud enough: never turned down or changed
        y = tone * np.float32(10 ** (peak_db / 20))
        assert heard(y, level_dbfs(y)) is y
    hiss = (np.random.default_rng(0).standard_normal(SR) * 10 ** ((QUIET_DBFS - 5) / 20)).astype(np.float32)
    assert level_dbfs(hiss) < QUIET_DBFS and heard(hiss, level_dbfs(hiss)) is hiss  # silence is not amplified into a sound
    assert heard(np.zeros(SR, np.float32), -200.0).max() == 0


def test_silent_and_too_long_audio(clf, tmp_path):
    with pytest.raises(AudioError, match="silent"):
        classify_audio(clf, _write(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32)))
    long = _write(tmp_path / "long.wav", np.full(120 * SR, 0.1, np.float32))
    with pytest.raises(AudioError, match=r"limit is 60 s \(setting SOUNDLAB_MAX_CLASSIFY_SECONDS\)"):
        classify_audio(clf, long, limits=replace(CLASSIFY_LIMITS, max_duration_s=60))


def test_one_hour_runs_in_bounded_memory(clf, tmp_path, rng):
    path = tmp_path / "hour.wav"
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:  # 115 MB, written in blocks
        for _ in range(60):
            f.write((0.1 * rng.standard_normal(60 * SR)).astype(np.float32))
    tracemalloc.start()
    res = classify_audio(clf, path, limits=CLASSIFY_LIMITS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert res.diagnostics.duration_s == pytest.approx(3600)
    assert len(res.window_starts) == 1439
    assert peak < 60 * 2**20, f"peak {peak / 2**20:.0f} MB"  # the whole file as float32 would be 230 MB


def test_eight_threads_classify_like_one(clf, dev_root):
    paths = sorted((dev_root / "audio").glob("4-1*.wav"))[:8]
    expected = [classify_audio(clf, p).probs for p in paths]
    got = [None] * 8
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        got[i] = classify_audio(clf, paths[i]).probs

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for e, g in zip(expected, got):
        assert np.allclose(e, g, atol=1e-5)


def test_backbone_mismatch_warns_but_works(clf, dev_root):
    hub = yamnet_model.load_yamnet(str(yamnet_hub_stub()), DEFAULT_ARTIFACTS_DIR)
    other = load_classifier(clf.run, clf.kind, hub)
    assert any("SOUNDLAB_YAMNET" in w and "retrain" in w for w in other.warnings)
    res = classify_audio(other, dev_root / "audio" / "2-104105-A-19.wav")
    assert res.probs.shape == (50,)


def test_cli_classify(dev_root, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all, just text\n" * 10)
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    good = str(dev_root / "audio" / "2-104105-A-19.wav")
    out = subprocess.run([sys.executable, "-m", "soundlab", "classify", good, str(bad), "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 1  # one file failed
    data = json.loads(out.stdout)
    assert data["results"][0]["top"][0]["class"] == "Thunderstorm" and data["results"][0]["in_set"] is True
    assert "looks like a text file" in data["results"][1]["error"]
    text = subprocess.run([sys.executable, "-m", "soundlab", "classify", good, "--top", "3"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert text.returncode == 0 and "Thunderstorm" in text.stdout.splitlines()[1]
    speech = subprocess.run([sys.executable, "-m", "soundlab", "classify", str(shared("speech", "en-short.wav"))],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert "not an ESC-50 sound; EfficientAT hears: Speech" in speech.stdout  # the default: best head by balanced accuracy


def test_the_cli_prints_only_soundlabs_lines(tmp_path):
    """No start-up chatter of TensorFlow, absl, CUDA or LiteRT, which reads like errors (on any machine: no setting of
    the environment helps, the command filters the libraries' own output); SoundLab's own warning still shows."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no TF_CPP_MIN_LOG_LEVEL from the test run
    clip = str(ROOT / "sample" / "audio" / "2-117271-A-0.flac")
    out = subprocess.run([sys.executable, "-m", "soundlab", "classify", clip], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert out.stdout.splitlines()[0] == f"{clip}:" and "Dog" in out.stdout.splitlines()[1]
    (tmp_path / "set" / "foreign").mkdir(parents=True)
    (tmp_path / "set" / "foreign" / "speech.ogg").write_bytes((ROOT / "sample" / "examples" / "speech-en.ogg").read_bytes())
    for command in (["info"], ["evaluate", "--external", str(tmp_path / "set")]):
        other = subprocess.run([sys.executable, "-m", "soundlab", *command], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
        noise = [x for x in other.stderr.splitlines() if any(w in x for w in ("absl", "cuInit", "XNNPACK", "oneDNN"))]
        assert other.returncode == 0 and not noise, (command, other.stderr[-500:])
    runs_dir = tmp_path / "artifacts"
    import shutil

    shutil.copytree(DEFAULT_ARTIFACTS_DIR, runs_dir, ignore=shutil.ignore_patterns("openset.json"))
    quiet = subprocess.run([sys.executable, "-m", "soundlab", "classify", clip], cwd=ROOT, capture_output=True,
                           env={**env, "SOUNDLAB_ARTIFACTS_DIR": str(runs_dir)}, text=True, timeout=300)
    assert quiet.stderr.startswith("warning: Run ") and "no open-set calibration" in quiet.stderr  # ours is kept
    assert "absl" not in quiet.stderr and "cuInit" not in quiet.stderr and "XNNPACK" not in quiet.stderr


def test_progress_bars_end_cleanly_under_log_lines():
    import io

    from soundlab.cli import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream)
    for done in range(0, 11):
        bar("embed", done, 10)
    bar.write("a log line after the bar")
    assert stream.getvalue().endswith("a log line after the bar\n")  # the finished bar is not redrawn under it
    assert stream.getvalue().count("10/10") == 1

"""AppTest: the Classify page with the shipped runs, uploads of malformed files, broken models, live mode."""

import io
import json
import shutil
from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import pytest
import soundfile as sf

from soundlab.config import DEFAULT_ARTIFACTS_DIR
from tests.apptest import CLASSIFY, EXPLORE, charts, html_figures, texts, unescaped
from tests.apptest import run as run_page
from tests.assets import ROOT, yamnet_hub_stub
from tests.test_audio import MALFORMED


def run(path=CLASSIFY, query=None):
    return run_page(path, query)


def answer(at) -> str | None:
    """The answer's headline as the person reads it ("A thunderstorm — 97%", "Not one of the 50 sounds: speech"), or
    None when no result is shown."""
    lines = [unescaped(str(m.value))[3:] for m in at.markdown if str(m.value).startswith("## ")]
    return lines[0] if lines else None


def classified(at) -> bool:
    """A result is shown (for one of the 50, or for a sound that is not: a sine tone is not an ESC-50 sound)."""
    return answer(at) is not None


def test_dataset_clip(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run()
    assert not at.exception and not at.error
    at.selectbox(key="classify-clip").set_value("2-104105-A-19.wav").run()
    assert not at.exception
    assert answer(at).startswith("A thunderstorm — ")
    assert "When this clip was held out (in fold " in texts(at, "info")
    bars = charts(at)  # SVG in markdown: the answer shows without plotly.js, with the page's title
    assert [c["title"] for c in bars] == ["Class probabilities", "Categories (sum of their classes)",
                                          "EfficientAT's AudioSet tags", "YAMNet's AudioSet tags (another backbone)"]
    assert bars[0]["alt"].startswith("Class probabilities: Thunderstorm ") and ">Thunderstorm</text>" in bars[0]["svg"]
    assert bars[0]["alt"].endswith(", and 45 more")  # the top 5 in words
    assert len(html_figures(at)) == 1 and not at.get("plotly_chart")  # the timeline
    assert "The dataset says **Thunderstorm**: the model is right" in texts(at, "success")
    # the input diagnostics are a markdown table one click away: no data grid for the browser to start
    assert not at.dataframe and "| duration | 5.00 s |" in texts(at, "markdown")
    assert any(e.label.startswith("Why, and the details") for e in at.expander)


def test_a_link_opens_a_dataset_clip(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(query={"clip": "2-104105-A-19.wav"})
    assert not at.exception and not at.error
    assert at.selectbox(key="classify-clip").value == "2-104105-A-19.wav"
    assert answer(at).startswith("A thunderstorm — ")
    at.selectbox(key="classify-clip").set_value("2-117271-A-0.wav").run()
    assert at.query_params["clip"] in ("2-117271-A-0.wav", ["2-117271-A-0.wav"])  # the link follows the choice
    at = run(query={"clip": "../../etc/passwd"})
    assert "The link's clip was rejected" in texts(at, "error") and not at.exception


def test_sample_mode_clip():
    at = run()
    assert not at.exception
    assert "shipped sample" in " ".join(c.value for c in at.caption)
    assert classified(at)


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_upload_of_malformed_files(tmp_path, case):
    filename, build, (kind, expect) = MALFORMED[case]
    at = run(query={"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload(filename, build(tmp_path), "application/octet-stream").run()
    assert not at.exception
    if kind == "error":
        assert filename in texts(at, "error")
        import re

        assert re.search(expect, texts(at, "error")), texts(at, "error")
    else:
        assert classified(at), texts(at, "error")
    # the session goes on: a good upload afterwards works
    good = io.BytesIO()
    sf.write(good, (0.3 * np.sin(np.arange(16_000 * 2) * 0.1)).astype(np.float32), 16_000, format="WAV")
    at.file_uploader(key="classify-upload").upload("tone.wav", good.getvalue(), "audio/wav").run()
    assert not at.exception and classified(at)


def test_recording(dev_root):
    y, sr = sf.read(dev_root / "audio" / "2-104105-A-19.wav", dtype="float32")
    wav = io.BytesIO()
    sf.write(wav, y, sr, format="WAV")
    at = run(query={"classify-source": "Record"})
    at.audio_input(key="classify-record").set_value(("rec.wav", wav.getvalue(), "audio/wav")).run()
    assert not at.exception
    assert answer(at).startswith("A thunderstorm — ")
    assert "Low sample rate" not in texts(at, "warning")  # the app's own recorder records at the browser's rate


def test_speech_upload_is_flagged(tmp_path):
    from tests.assets import shared

    at = run(query={"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload("speech.wav", shared("speech", "en-short.wav").read_bytes(),
                                                   "audio/wav").run()
    assert not at.exception
    assert answer(at) == "Not one of the 50 sounds: speech"
    assert "EfficientAT hears Speech" in texts(at, "caption")  # the default backbone


def test_the_default_shows_what_yamnet_heard_inside_it_without_a_second_yamnet_pass():
    """The default fuses a head on YAMNet: the page shows those tags rather than running YAMNet over the file again."""
    from tests.assets import shared

    at = run(query={"classify-source": "Upload"})
    with patch("components.classify_view.tag_audio", side_effect=AssertionError("a second YAMNet pass")):
        at.file_uploader(key="classify-upload").upload("speech.wav", shared("speech", "en-short.wav").read_bytes(),
                                                       "audio/wav").run()
    assert not at.exception and not at.error, texts(at, "error")
    assert "YAMNet's AudioSet tags (another backbone)" in [c["title"] for c in charts(at)]


def _artifacts(tmp_path, *, tflite=True, runs=True):
    art = tmp_path / "artifacts"
    art.mkdir()
    shutil.copytree(DEFAULT_ARTIFACTS_DIR / "efficientat", art / "efficientat")
    shutil.copy(DEFAULT_ARTIFACTS_DIR / "yamnet_class_map.csv", art)
    if tflite:
        shutil.copy(DEFAULT_ARTIFACTS_DIR / "yamnet.tflite", art)
    if runs:
        shutil.copytree(DEFAULT_ARTIFACTS_DIR / "runs", art / "runs")
    return art


def test_no_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(_artifacts(tmp_path, runs=False)))
    at = run()
    assert not at.exception and "python -m soundlab train" in texts(at, "warning")


def test_missing_tflite_is_explained_and_the_rest_works(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(_artifacts(tmp_path, tflite=False)))
    at = run()
    assert not at.exception and classified(at)  # the default backbone (EfficientAT) still classifies
    assert "YAMNet model file not found" in " ".join(c.value for c in at.caption)  # its tags say why they are missing
    at.selectbox(key="classify-backbone").set_value("yamnet").run()
    assert not at.exception
    assert "YAMNet model file not found" in texts(at, "error") and "git checkout" in texts(at, "error")
    explore = run(EXPLORE)
    assert not explore.exception and not explore.error


def test_damaged_head_and_another_head(tmp_path, monkeypatch):
    from soundlab import runs

    art = _artifacts(tmp_path)
    run_dir = runs.preferred(runs.list_runs(art)[0]).path  # the run the page opens with
    info = json.loads((run_dir / "run.json").read_text())
    default = info["default_model"]
    assert default != "linear"
    (run_dir / info["models"][default]["file"]).write_bytes(b"garbage")
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run()
    assert not at.exception
    assert "damaged" in texts(at, "error")
    # another model still works: another head of the run, or, when the default run holds one model (the fused
    # model), a head of another run on the same backbone
    if "linear" not in info["models"]:
        other = next(r for r in runs.list_runs(art)[0]
                     if r.backbone_key == runs.load_run(run_dir).backbone_key and r.task == info["task"]
                     and "linear" in r.model_names)
        at.selectbox(key="classify-run").set_value(other.id).run()
    at.selectbox(key="classify-head").set_value("linear").run()
    assert not at.exception and classified(at)


def test_unusable_run_folder_is_reported(tmp_path, monkeypatch):
    art = _artifacts(tmp_path)
    (art / "runs" / "broken-run").mkdir()
    (art / "runs" / "broken-run" / "run.json").write_text("{")
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run()
    assert not at.exception and "broken-run" in texts(at, "warning") and classified(at)


def test_backbone_mismatch_warns(monkeypatch):
    monkeypatch.setenv("SOUNDLAB_YAMNET", str(yamnet_hub_stub()))
    at = run(query={"classify-backbone": "YAMNet"})
    assert not at.exception
    assert "was trained on backbone yamnet-tflite" in texts(at, "warning")


def test_bad_run_in_link():
    at = run(query={"classify-run": "../../etc"})
    assert not at.exception
    assert "not here" in texts(at, "error") and classified(at)


def test_live_mode_idle():
    idle = SimpleNamespace(state=SimpleNamespace(playing=False))
    with patch("components.mic.webrtc_streamer", return_value=idle) as streamer:
        at = run(query={"classify-source": "Live microphone"})
    assert not at.exception
    assert "Press START" in texts(at, "info")
    kwargs = streamer.call_args.kwargs
    assert kwargs["rtc_configuration"] == {"iceServers": []}
    assert kwargs["media_stream_constraints"]["audio"] == {
        "echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}


def test_webrtc_after_tensorflow_does_not_crash():
    """The app's import order keeps aiortc's pylibsrtp from crashing after TensorFlow is loaded."""
    import subprocess
    import sys

    code = "import components, tensorflow, streamlit_webrtc, aiortc; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_from_scratch_runs_are_not_offered_for_classification():
    from soundlab import runs

    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    at = run()
    assert not at.exception
    offered = set(at.selectbox(key="classify-run").options)  # the names people read
    backbone = runs.find(shipped, at.selectbox(key="classify-run").value).family
    assert offered == {r.title for r in shipped if r.family == backbone}  # the heads runs of the selected backbone
    assert any(r.family == "scratch" for r in shipped)


def test_a_dataset_clip_deleted_after_the_scan_gives_a_message(tmp_path, use_dataset):
    from tests.assets import delete_keeping_folder_time, small_dataset

    names = ["2-104105-A-19.wav", "2-117271-A-0.wav"]
    root = small_dataset(tmp_path / "ESC-50", names)
    use_dataset(root)
    at = run()
    assert not at.exception and classified(at)
    delete_keeping_folder_time(root / "audio" / names[1])
    at.selectbox(key="classify-clip").set_value(names[1]).run()
    assert not at.exception
    assert "gone now" in texts(at, "error")
    at.selectbox(key="classify-clip").set_value(names[0]).run()
    assert not at.exception and classified(at)


def test_efficientat_heads_and_both_backbones_tags(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(query={"classify-backbone": "EfficientAT"})
    assert not at.exception and not at.error, texts(at, "error")
    assert classified(at) and "EfficientAT hears" in texts(at, "caption")
    assert set(at.selectbox(key="classify-backbone").options) == {"YAMNet", "EfficientAT"}
    titles = [c["title"] for c in charts(at)]
    assert "EfficientAT's AudioSet tags" in titles and "YAMNet's AudioSet tags (another backbone)" in titles
    at.selectbox(key="classify-backbone").set_value("yamnet").run()
    assert not at.exception and "YAMNet hears" in texts(at, "caption")


def test_the_default_model_is_the_one_the_rule_chooses():
    """Within 2 points of the best cross-validated balanced accuracy, the best on real-world split A (docs/models.md)."""
    from soundlab import runs

    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    servable = [r for r in shipped if r.classifies_audio and r.task == "esc50"]
    best = runs.choose([(r, k) for r in servable for k in r.model_names])
    assert best[0].balanced_accuracy(best[1]) >= max(r.balanced_accuracy(k) for r in servable
                                                      for k in r.model_names) - runs.CV_MARGIN
    at = run()
    assert not at.exception
    assert at.selectbox(key="classify-run").value == best[0].id and at.selectbox(key="classify-head").value == best[1]


def _wav(y: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def test_examples_classify_with_one_click_and_speech_is_not_one_of_the_50():
    at = run(query={"classify-source": "Examples"})
    assert not at.exception and not at.error, texts(at, "error")
    assert answer(at).startswith("A dog barking — ")  # the first example, at once
    at.button_group(key="classify-example").set_value("Speech").run()
    assert not at.exception and answer(at) == "Not one of the 50 sounds: speech"


def test_a_bad_upload_shows_the_error_and_no_dead_player(tmp_path):
    at = run(query={"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload("notes.wav", b"this is text\n" * 50, "audio/wav").run()
    assert not at.exception and "looks like a text file" in texts(at, "error")
    assert not at.get("audio")  # no 0:00 player above the message


def test_a_long_upload_names_the_classify_setting(monkeypatch):
    monkeypatch.setenv("SOUNDLAB_MAX_CLASSIFY_SECONDS", "10")
    at = run(query={"classify-source": "Upload"})
    y = (0.1 * np.sin(np.arange(16_000 * 12) * 0.05)).astype(np.float32)
    at.file_uploader(key="classify-upload").upload("long.wav", _wav(y, 16_000), "audio/wav").run()
    assert not at.exception
    assert "setting SOUNDLAB_MAX_CLASSIFY_SECONDS" in texts(at, "error")  # the setting that sets this limit (B5)


def test_an_uneven_upload_has_a_truthful_timeline(dev_root):
    """7.05 s: two windows, 0-5 s and 2.05-7.05 s; the axis ends at 7.05 s, not at a made-up even spacing (B7)."""
    y, sr = sf.read(dev_root / "audio" / "2-104105-A-19.wav", dtype="float32")
    y = np.concatenate([y, y[: int(2.05 * sr)]])
    at = run(query={"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload("storm.wav", _wav(y, sr), "audio/wav").run()
    assert not at.exception
    (timeline,) = html_figures(at)
    assert "Timeline: 2 windows of 5 s" in timeline and "the last one ends with the audio" in timeline
    assert "7.0 s</span>" in timeline and "apart" not in timeline and "2.04744" not in timeline


def test_levels_come_from_the_file_whatever_the_backbone():
    """A full-scale 16-bit file peaks at 0 dBFS whichever backbone listens: not a resampled copy's overshoot (B10)."""
    rng = np.random.default_rng(7)
    y = np.clip(rng.standard_normal(44_100 * 3) * 0.3, -1, 1)
    y[1000] = 1.0
    data = _wav(y.astype(np.float32), 44_100)
    peaks = {}
    for backbone in ("EfficientAT", "YAMNet"):
        at = run(query={"classify-source": "Upload", "classify-backbone": backbone})
        at.file_uploader(key="classify-upload").upload("noise.wav", data, "audio/wav").run()
        assert not at.exception
        table = texts(at, "markdown")
        peaks[backbone] = table.split("| peak / RMS level (of the file) | ")[1].split(" /")[0]
    assert peaks["EfficientAT"] == peaks["YAMNet"] and abs(float(peaks["YAMNet"])) < 0.05, peaks


def test_near_silence_is_called_silence_not_music():
    """A near-silent file: the answer names silence, as the tags do (B12)."""
    rng = np.random.default_rng(3)
    y = (rng.standard_normal(16_000 * 5) * 10 ** (-75 / 20)).astype(np.float32)
    at = run(query={"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload("quiet.wav", _wav(y, 16_000, "FLOAT"), "audio/wav").run()
    assert not at.exception and not at.error, texts(at, "error")
    said = answer(at)
    assert "music" not in said.lower() and ("silence" in said.lower() or said.startswith("Unsure")), said
    assert "hears Music" not in texts(at, "caption")


def test_an_esc10_run_speaks_of_its_own_ten_classes():
    """The reasons follow the run's task: on ESC-10 a vacuum cleaner is a sound none of the 10 classes makes, not one
    "no ESC-50 class" makes (B8)."""
    from soundlab import runs

    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    esc10 = next(r for r in shipped if r.task == "esc10" and r.backbone_key == "efficientat" and not r.is_fused())
    at = run(query={"classify-source": "Dataset clip", "classify-backbone": "EfficientAT", "classify-run": esc10.id})
    assert not at.exception
    page = " ".join([texts(at, "markdown"), texts(at, "caption")])
    assert "ESC-50 class" not in page and "ESC-50 clips" not in page


def test_phone_recordings_uploaded_in_a_row(dev_root, tmp_path):
    """A person uploads a phone's .m4a, the same file again, a screen recording without sound, a long quiet
    recording with the sound in it, then goes to Record and back: an answer or one line each, the session goes on."""
    from soundlab import audio
    from tests.assets import ffmpeg_bytes
    from tests.test_audio import MALFORMED

    storm = audio.load(dev_root / "audio" / "2-104105-A-19.wav")
    m4a = ffmpeg_bytes(storm.y, storm.sr)
    room = (10 ** (-55 / 20) * np.random.default_rng(0).standard_normal(10 * storm.sr)).astype(np.float32)
    long = io.BytesIO()
    sf.write(long, np.concatenate([room, storm.y * 0.1, room]), storm.sr, format="WAV", subtype="FLOAT")
    at = run(query={"classify-source": "Upload"})
    uploader = lambda: at.file_uploader(key="classify-upload")  # noqa: E731 - the widget is found again after each run
    uploader().upload("memo.m4a", m4a, "audio/mp4").run()
    assert not at.exception and answer(at).startswith("A thunderstorm — ")
    uploader().upload("memo.m4a", m4a, "audio/mp4").run()
    assert not at.exception and answer(at).startswith("A thunderstorm — ")
    _, build, _ = MALFORMED["video without sound"]
    uploader().upload("screen.mp4", build(tmp_path), "video/mp4").run()
    assert not at.exception and "screen.mp4: the file holds no audio stream" in texts(at, "error")
    uploader().upload("field.wav", long.getvalue(), "audio/wav").run()
    assert not at.exception and answer(at).startswith("A thunderstorm — ")
    assert any("the answer pools the" in h for h in html_figures(at))  # the timeline says which windows count
    at.segmented_control(key="classify-source").set_value("Record").run()
    assert not at.exception and answer(at) is None
    at.segmented_control(key="classify-source").set_value("Upload").run()
    assert not at.exception

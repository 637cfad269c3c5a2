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
from tests.apptest import CLASSIFY, EXPLORE, charts, html_figures, texts
from tests.apptest import run as run_page
from tests.assets import ROOT, yamnet_hub_stub
from tests.test_audio import MALFORMED


def run(path=CLASSIFY, query=None):
    return run_page(path, query)


def metrics(at):
    return {m.label: m.value for m in at.metric}


def classified(at) -> bool:
    """A result is shown: "Top class" for one of the 50, "If it were one of the 50" for a sound that is not
    (a sine tone is not an ESC-50 sound)."""
    m = metrics(at)
    return "Top class" in m or "If it were one of the 50" in m


def test_dataset_clip(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run()
    assert not at.exception and not at.error
    at.selectbox(key="classify-clip").set_value("2-104105-A-19.wav").run()
    assert not at.exception
    assert metrics(at)["Top class"] == "Thunderstorm"
    assert "Out of fold" in texts(at, "info")
    bars = charts(at)  # SVG in markdown: the answer shows without plotly.js, with the page's title
    assert [c["title"] for c in bars] == ["Class probabilities", "Categories (sum of their classes)",
                                          "EfficientAT's AudioSet tags", "YAMNet's AudioSet tags (another backbone)"]
    assert bars[0]["alt"].startswith("Class probabilities: Thunderstorm ") and ">Thunderstorm</text>" in bars[0]["svg"]
    assert bars[0]["alt"].endswith(", and 45 more")  # the top 5 in words
    assert len(html_figures(at)) == 1 and not at.get("plotly_chart")  # the timeline
    assert "Dataset label: **thunderstorm**" in texts(at, "success")
    # the input diagnostics are a markdown table: no data grid for the browser to start
    assert not at.dataframe and "| duration | 5.00 s |" in texts(at, "markdown")


def test_a_link_opens_a_dataset_clip(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(query={"clip": "2-104105-A-19.wav"})
    assert not at.exception and not at.error
    assert at.selectbox(key="classify-clip").value == "2-104105-A-19.wav"
    assert metrics(at)["Top class"] == "Thunderstorm"
    at.selectbox(key="classify-clip").set_value("2-117271-A-0.wav").run()
    assert at.query_params["clip"] in ("2-117271-A-0.wav", ["2-117271-A-0.wav"])  # the link follows the choice
    at = run(query={"clip": "../../etc/passwd"})
    assert "The link's clip was rejected" in texts(at, "error") and not at.exception


def test_sample_mode_clip():
    at = run()
    assert not at.exception
    assert "shipped sample" in " ".join(c.value for c in at.caption)
    assert "Top class" in metrics(at)


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
    assert metrics(at)["Top class"] == "Thunderstorm"


def test_speech_upload_is_flagged(tmp_path):
    from tests.assets import shared

    at = run(query={"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload("speech.wav", shared("speech", "en-short.wav").read_bytes(),
                                                   "audio/wav").run()
    assert not at.exception
    warning = texts(at, "warning")
    assert "Not one of the 50 classes." in warning and "EfficientAT hears Speech" in warning  # the default backbone


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
    assert not at.exception and "Top class" in metrics(at)


def test_unusable_run_folder_is_reported(tmp_path, monkeypatch):
    art = _artifacts(tmp_path)
    (art / "runs" / "broken-run").mkdir()
    (art / "runs" / "broken-run" / "run.json").write_text("{")
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run()
    assert not at.exception and "broken-run" in texts(at, "warning") and "Top class" in metrics(at)


def test_backbone_mismatch_warns(monkeypatch):
    monkeypatch.setenv("SOUNDLAB_YAMNET", str(yamnet_hub_stub()))
    at = run(query={"classify-backbone": "YAMNet"})
    assert not at.exception
    assert "was trained on backbone yamnet-tflite" in texts(at, "warning")


def test_bad_run_in_link():
    at = run(query={"classify-run": "../../etc"})
    assert not at.exception
    assert "not here" in texts(at, "error") and "Top class" in metrics(at)


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
    offered = set(at.selectbox(key="classify-run").options)
    backbone = runs.find(shipped, at.selectbox(key="classify-run").value).family
    assert offered == {r.id for r in shipped if r.family == backbone}  # the heads runs of the selected backbone
    assert any(r.family == "scratch" for r in shipped)


def test_a_dataset_clip_deleted_after_the_scan_gives_a_message(tmp_path, use_dataset):
    from tests.assets import delete_keeping_folder_time, small_dataset

    names = ["2-104105-A-19.wav", "2-117271-A-0.wav"]
    root = small_dataset(tmp_path / "ESC-50", names)
    use_dataset(root)
    at = run()
    assert not at.exception and "Top class" in metrics(at)
    delete_keeping_folder_time(root / "audio" / names[1])
    at.selectbox(key="classify-clip").set_value(names[1]).run()
    assert not at.exception
    assert "gone now" in texts(at, "error")
    at.selectbox(key="classify-clip").set_value(names[0]).run()
    assert not at.exception and "Top class" in metrics(at)


def test_efficientat_heads_and_both_backbones_tags(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(query={"classify-backbone": "EfficientAT mn04"})
    assert not at.exception and not at.error, texts(at, "error")
    assert "Top class" in metrics(at) and "EfficientAT hears" in metrics(at)
    assert set(at.selectbox(key="classify-backbone").options) == {"YAMNet", "EfficientAT mn04"}
    titles = [c["title"] for c in charts(at)]
    assert "EfficientAT's AudioSet tags" in titles and "YAMNet's AudioSet tags (another backbone)" in titles
    at.selectbox(key="classify-backbone").set_value("yamnet").run()
    assert not at.exception and "YAMNet hears" in metrics(at)


def test_the_default_model_is_the_best_head_by_balanced_accuracy():
    from soundlab import runs

    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    servable = [r for r in shipped if r.classifies_audio and r.task == "esc50"]
    best = max(((r, k) for r in servable for k in r.model_names), key=lambda rk: rk[0].balanced_accuracy(rk[1]))
    at = run()
    assert not at.exception
    assert at.selectbox(key="classify-run").value == best[0].id and at.selectbox(key="classify-head").value == best[1]

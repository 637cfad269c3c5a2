"""AppTest: the Metrics page on the shipped runs."""

import shutil

import numpy as np
import pytest

from soundlab import runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from tests.apptest import figures, texts
from tests.apptest import run as run_page
from tests.assets import ROOT

METRICS = str(ROOT / "pages" / "3_Metrics.py")
SECTIONS = ["Folds", "Classes", "Confusion", "Mistakes", "Calibration", "Open set", "Map", "Compare", "Export"]
SHIPPED, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)


def run(query=None):
    return run_page(METRICS, query)


@pytest.mark.parametrize("run_id", [r.id for r in SHIPPED])
@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_of_every_shipped_run(dev_root, use_dataset, run_id, section):
    use_dataset(dev_root)
    at = run({"metrics-run": run_id, "metrics-section": section})
    assert not at.exception and not at.error, texts(at, "error")
    info = runs.find(SHIPPED, run_id)
    head = info.default_model
    labels = figures(at)
    if section != "Compare":
        assert labels["Accuracy"] == f"{info.model(head)['cv']['accuracy']:.1%}"
    assert info.protocol["description"] in " ".join(c.value for c in at.caption)


def test_selecting_a_confusion_cell_lists_its_clips(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run({"metrics-section": "Confusion"})
    run50 = runs.preferred(SHIPPED)
    from soundlab import predictions
    from soundlab.data import esc50

    p = predictions.load_predictions(run50, run50.default_model, esc50.load_dataset(dev_root).meta)
    wrong = p.table[~p.table["correct"]].iloc[0]
    at.selectbox(key="metrics-cell-true").set_value(wrong["true_name"])
    at.selectbox(key="metrics-cell-pred").set_value(wrong["pred_name"]).run()
    assert not at.exception
    listed = at.dataframe[-1].value
    expected = predictions.cell_clips(p, int(wrong["true"]), int(wrong["pred"]))
    assert list(listed["filename"]) == list(expected["filename"])
    assert any(s.value.startswith(f"{len(expected)} clip") for s in at.subheader)
    if len(expected) == 1:  # a single clip is shown at once
        assert len(at.get("audio")) == 1


def grid_html(at, key: str) -> str:
    """The HTML a components.grid_select grid with this key was given."""
    import json

    element = next(e for e in at.get("bidi_component") if e.proto.id.endswith(key))
    return json.loads(element.proto.json)["html"]


def test_the_confusion_matrix_is_an_html_grid_and_plotly_one_toggle_away(dev_root, use_dataset):
    import re

    from soundlab import metrics as metrics_mod
    from soundlab import predictions
    from soundlab.data import esc50

    use_dataset(dev_root)
    at = run({"metrics-section": "Confusion"})
    assert not at.exception
    assert not at.get("plotly_chart")  # no plotly.js for a new visitor
    run50 = runs.preferred(SHIPPED)
    p = predictions.load_predictions(run50, run50.default_model, esc50.load_dataset(dev_root).meta)
    cm = metrics_mod.confusion(p.table["true"], p.table["pred"], p.n_classes)
    html = grid_html(at, "metrics-cm-grid")
    # every non-empty cell, and only those, can be clicked
    assert sorted(tuple(map(int, c.split(","))) for c in re.findall(r'data-cell="([0-9,]+)"', html)) == \
        sorted(zip(*map(list, np.nonzero(cm)), strict=True))
    assert 'data-cell="' not in grid_html(at, "metrics-cat-grid")  # the category matrix only shows
    at.toggle(key="metrics-cm-plotly").set_value(True).run()
    assert not at.exception and len(at.get("plotly_chart")) == 2  # classes and categories


def test_a_misclassified_clip_renders_player_charts_and_neighbours(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run({"metrics-section": "Mistakes"})
    options = at.selectbox(key="metrics-clip").options
    assert options
    name = options[0].split(" ")[0]
    at.selectbox(key="metrics-clip").set_value(name).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3  # waveform, mel, top-5
    assert len(at.get("audio")) >= 1 + 2  # the clip, and neighbours from the true and predicted classes
    assert "Nearest correctly classified clips" in [s.value for s in at.subheader]
    assert at.query_params["clip"] in (name, [name])


def test_filters_of_the_mistakes_browser(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run({"metrics-section": "Mistakes"})
    n_all = len(at.selectbox(key="metrics-clip").options)
    at.slider(key="metrics-wrong-conf").set_value(0.8).run()
    n_confident = len(at.selectbox(key="metrics-clip").options)
    assert 0 < n_confident < n_all
    at.multiselect(key="metrics-wrong-fold").set_value([1]).run()
    assert len(at.selectbox(key="metrics-clip").options) <= n_confident
    assert not at.exception


@pytest.mark.parametrize("bad", ["../../etc/passwd", "1-100038-A-14.wav"])
def test_bad_clip_in_link(dev_root, use_dataset, bad):
    use_dataset(dev_root)
    at = run({"metrics-section": "Mistakes", "clip": bad})
    assert not at.exception and "rejected" in texts(at, "error")


def test_bad_run_in_link_is_rejected():
    at = run({"metrics-run": "../../../etc"})
    assert not at.exception
    assert "not here" in texts(at, "error") and "Accuracy" in figures(at)


def test_sample_mode_marks_absent_clips():
    at = run({"metrics-section": "Mistakes"})
    assert not at.exception
    n = runs.preferred(SHIPPED).info["coverage"]["clips_present"]
    assert f"of these {n} clips are on disk here" in " ".join(c.value for c in at.caption)


def test_compare_two_heads(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run({"metrics-section": "Compare"})
    heads = at.selectbox(key="metrics-b-head").options
    at.selectbox(key="metrics-b-head").set_value(heads[-1]).run()
    assert not at.exception
    assert "McNemar p =" in texts(at, "info")
    assert {m.label for m in at.metric} >= {"Accuracy A", "Accuracy B", "McNemar p"}


def test_truncated_predictions_are_reported(tmp_path, monkeypatch):
    art = tmp_path / "artifacts"
    shutil.copytree(DEFAULT_ARTIFACTS_DIR, art)
    esc50 = runs.preferred([r for r in runs.list_runs(art)[0] if len(r.model_names) > 1])  # a run of several models
    oof = esc50.path / esc50.model(esc50.default_model)["oof"]
    oof.write_text(oof.read_text()[:5000])
    (art / "runs" / "empty-run").mkdir()
    shutil.rmtree(esc50.path / "history")  # a run without its training history still shows its metrics
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run({"metrics-run": esc50.id})
    assert not at.exception
    assert "cannot be used" in texts(at, "error") and "truncated" in texts(at, "error")
    assert "empty-run" in texts(at, "warning")
    other = next(n for n in esc50.model_names if n != esc50.default_model)  # an intact model of the same run
    at.selectbox(key="metrics-head").set_value(other).run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("customdata", [[3, 7, 2], {"0": 3, "1": 7, "2": 2}, {"1": 7, "0": 3}])
def test_point_customdata_forms(customdata):
    from components.plotly_charts import point_customdata

    assert point_customdata({"customdata": customdata})[:2] == [3, 7]


def test_compare_puts_every_model_side_by_side_with_a_verdict(dev_root, use_dataset):
    use_dataset(dev_root)
    esc50 = runs.preferred(SHIPPED)
    at = run({"metrics-run": esc50.id, "metrics-section": "Compare"})
    assert not at.exception and not at.error, texts(at, "error")
    verdict = texts(at, "info")
    assert "What this tells you" in verdict and "McNemar p" in verdict
    board = at.dataframe[-1].value
    scratch_runs = [r for r in SHIPPED if r.family == "scratch" and r.task == "esc50"]
    assert {r.default_model for r in scratch_runs} <= set(board["model"])
    assert set(board["family"]) == {"yamnet", "efficientat", "finetune", "fusion", "scratch"}  # every shipped family
    # each row is on the clips it shares with the selected run (paired); the heads runs share all of them
    same_set = board["run"].map(lambda rid: runs.find(SHIPPED, rid).info["coverage"]["clips_present"]
                                == esc50.info["coverage"]["clips_present"])
    assert (board.loc[same_set, "clips"] == esc50.info["coverage"]["clips_present"]).all()
    assert (board["clips"] <= esc50.info["coverage"]["clips_present"]).all()
    assert board["McNemar p"].between(0, 1).all()
    # a from-scratch run as the selected run: its own figures, the same comparison
    cnn = next(r for r in scratch_runs if r.default_model == "cnn")
    at = run({"metrics-run": cnn.id, "metrics-section": "Compare"})
    assert not at.exception and not at.error
    assert "What this tells you" in texts(at, "info")


def test_balanced_accuracy_imbalance_note_recalls_and_references(dev_root, use_dataset):
    use_dataset(dev_root)
    run50 = runs.preferred(SHIPPED)
    at = run({"metrics-run": run50.id})
    assert not at.exception and not at.error
    labels = figures(at)
    cv = run50.model(run50.default_model)["cv"]
    assert labels["Balanced accuracy"] == f"{cv['balanced_accuracy']:.1%}"
    assert "imbalanced" in texts(at, "info") and "balanced accuracy" in texts(at, "info")
    assert ("does not favour a class for having more of them" in texts(at, "info")) == bool(
        run50.model(run50.default_model).get("class_prior"))  # the shipped default weighs classes alike
    # the expanders' tables are drawn once opened: closed, they give the browser no data grid to start
    assert len(at.dataframe) == 0
    at.session_state["metrics-recall-open"] = True
    at.session_state["metrics-refs-open"] = True
    at.run()
    assert not at.exception and len(at.dataframe) == 2
    recall = next(d.value for d in at.dataframe if "recall" in d.value.columns)
    assert recall["recall"].is_monotonic_increasing and len(recall) == len(run50.classes)
    refs = next(d.value for d in at.dataframe if "comparable" in d.value.columns)
    assert not refs["comparable"].iloc[:-1].any()  # a partial dataset: no published figure is comparable
    assert "None of the published figures is comparable" in " ".join(c.value for c in at.caption)


def test_compare_opens_on_another_model(dev_root, use_dataset):
    """Compare starts with something to compare: another model of the run, or (a run of one model, as a fused one)
    the preferred other run of the task, never the selected model against itself."""
    use_dataset(dev_root)
    for r in [r for r in SHIPPED if r.task == "esc50" and r.classifies_audio]:
        at = run({"metrics-run": r.id, "metrics-section": "Compare"})
        assert not at.exception and not at.error
        b = (at.selectbox(key="metrics-b-run").value, at.selectbox(key="metrics-b-head").value)
        assert b != (r.id, r.default_model)

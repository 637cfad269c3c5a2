"""soundlab.external: a run's model judged on a labelled folder of recordings made elsewhere, `evaluate --external`,
the default-model rule that reads those evaluations (`runs.choose`), and the Metrics page's "Outside the training data".

The in-process tests share one YAMNet classifier (the `yamnet` session fixture and the logistic-regression head of a
copy of the shipped ESC-50 YAMNet run, copied without its stored evaluations so that the tests see only their own).
"""

import copy
import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from soundlab import external, runs
from soundlab.classify import load_classifier
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.errors import DatasetError, RunError
from tests.apptest import click_row, figures, texts, unescaped
from tests.apptest import run as run_page
from tests.apptest import table as page_table
from tests.assets import ROOT

SHIPPED, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
YAMNET_RUN = max((r for r in SHIPPED if r.family == "yamnet" and r.task == "esc50"), key=lambda r: len(r.model_names))
MODEL = "logreg"  # the quickest head of the run to load and to run (one view)
SAMPLE = ROOT / "sample"
SPEECH = SAMPLE / "examples" / "speech-en.ogg"
PIANO = SAMPLE / "examples" / "piano.ogg"
METRICS = str(ROOT / "pages" / "3_Metrics.py")
OUTSIDE = "Outside the training data"


def sample_clip(target: int):
    """The shipped sample's clip of ESC-50 class `target` (one per class; ESC-50 names end in -<target>)."""
    (path,) = SAMPLE.glob(f"audio/*-{target}.flac")
    return path


def copy_run(run: runs.Run, dest) -> runs.Run:
    """A copy of a run folder without its stored evaluations (never write into model_artifacts/)."""
    shutil.copytree(run.path, dest / run.id, ignore=shutil.ignore_patterns(runs.EXTERNAL_DIR))
    return runs.load_run(dest / run.id)


def build_set(root):
    """A labelled folder as a user makes one: class folders by key (``dog``), by name (``Chirping birds``), spelled
    loosely (``Sea-Waves``), ``foreign``, a label the run does not know, a garbled and an empty file, and files that
    are not audio. Seven clips are usable (five readable), one is left out."""
    folders = {"dog": [sample_clip(0)], "Chirping birds": [sample_clip(14)], "Sea-Waves": [sample_clip(11)],
               "foreign": [SPEECH, PIANO], "unicorn": [sample_clip(1)]}
    for folder, clips in folders.items():
        (root / folder).mkdir(parents=True)
        for clip in clips:
            shutil.copy(clip, root / folder / clip.name)
    (root / "dog" / "garbled.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "foreign" / "empty.wav").write_bytes(b"")
    (root / "dog" / "notes.txt").write_text("recorded on a phone")
    (root / ".hidden").mkdir()
    shutil.copy(sample_clip(0), root / ".hidden" / "x.flac")
    return root


@pytest.fixture(scope="module")
def labelled_dir(tmp_path_factory):
    return build_set(tmp_path_factory.mktemp("external") / "my-recordings")


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory):
    return copy_run(YAMNET_RUN, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def clf(run_copy, yamnet):
    return load_classifier(run_copy, MODEL, yamnet)


@pytest.fixture(scope="module")
def progress_calls():
    """(done, total) as `evaluate` reported them to the `evaluation` fixture."""
    return []


@pytest.fixture(scope="module")
def evaluation(clf, labelled_dir, progress_calls):
    labelled = external.read_labelled(labelled_dir, clf.classes, clf.class_names)
    return external.evaluate(clf, labelled, progress=lambda i, n: progress_calls.append((i, n)))


# ---- reading a labelled collection ---------------------------------------------------------------------------

def test_a_folder_of_class_folders_by_key_name_and_foreign(labelled_dir):
    """Class folders named by key or by name (any case, spaces, _ or -), `foreign`, and a label that is not a class:
    one problem line naming it, the other clips kept; hidden folders and files that are not audio are skipped."""
    labelled = external.read_labelled(labelled_dir, YAMNET_RUN.classes, YAMNET_RUN.class_names)
    got = {(p.relative_to(labelled_dir).as_posix(), label) for p, label in labelled.items}
    assert got == {(f"dog/{sample_clip(0).name}", "dog"), ("dog/garbled.wav", "dog"),
                   (f"Chirping birds/{sample_clip(14).name}", "chirping_birds"),
                   (f"Sea-Waves/{sample_clip(11).name}", "sea_waves"),
                   (f"foreign/{SPEECH.name}", external.FOREIGN), (f"foreign/{PIANO.name}", external.FOREIGN),
                   ("foreign/empty.wav", external.FOREIGN)}
    assert len(labelled.problems) == 1
    assert "'unicorn'" in labelled.problems[0] and "1 clip)" in labelled.problems[0]
    assert "\n" not in labelled.problems[0]
    assert labelled.name == "my-recordings" and labelled.root == labelled_dir


def test_a_csv_with_paths_relative_to_the_csv(tmp_path, monkeypatch):
    """A CSV filename,label: paths are relative to the CSV (not to where the command runs), labels by key or name;
    an unknown label and a missing file are one line each, the rest is used."""
    folder = tmp_path / "set"
    (folder / "clips").mkdir(parents=True)
    for clip in (sample_clip(0), sample_clip(14), SPEECH, sample_clip(1)):
        shutil.copy(clip, folder / "clips" / clip.name)
    rows = [("clips/" + sample_clip(0).name, "Dog"), ("clips/" + sample_clip(14).name, "chirping_birds"),
            ("clips/" + SPEECH.name, "Foreign"), ("clips/" + sample_clip(1).name, "unicorn"),
            ("clips/" + sample_clip(1).name, "unicorn"), ("clips/missing.wav", "dog")]
    with open(folder / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("filename", "label"), *rows])
    monkeypatch.chdir(tmp_path)  # not the CSV's folder
    labelled = external.read_labelled(folder / "labels.csv", YAMNET_RUN.classes, YAMNET_RUN.class_names)
    assert labelled.root == folder and labelled.name == "labels.csv"
    assert [(p, label) for p, label in labelled.items] == [
        (folder / "clips" / sample_clip(0).name, "dog"), (folder / "clips" / sample_clip(14).name, "chirping_birds"),
        (folder / "clips" / SPEECH.name, external.FOREIGN)]
    assert len(labelled.problems) == 2
    assert any("missing.wav: not found" in p for p in labelled.problems)
    assert any("'unicorn' (2 clips)" in p for p in labelled.problems)


def test_a_csv_from_a_spreadsheet_with_a_bom_and_a_short_row(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark, and a row may lack its label: the file is read, the short row
    is one problem line (not a traceback), the rest is used."""
    shutil.copy(sample_clip(0), tmp_path / sample_clip(0).name)
    text = f"filename,label\n{sample_clip(0).name},dog\nx.flac\ny.flac,unicorn\n"
    (tmp_path / "labels.csv").write_bytes("\ufeff".encode() + text.encode())
    labelled = external.read_labelled(tmp_path / "labels.csv", YAMNET_RUN.classes, YAMNET_RUN.class_names)
    assert [label for _, label in labelled.items] == ["dog"]
    assert len(labelled.problems) == 2 and any("unicorn" in p for p in labelled.problems)


def test_the_json_of_an_evaluation_is_strict(evaluation):
    """No NaN in the JSON (jq and JavaScript refuse it): a figure or confidence that does not exist is null, and it
    reads back as NaN."""
    text = json.dumps(evaluation.to_json())
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    back = external.ExternalEvaluation.from_json(json.loads(text))
    assert [c.error for c in back.clips] == [c.error for c in evaluation.clips]


@pytest.mark.parametrize("layout", ["empty folder", "no audio in the class folders", "only unknown labels",
                                    "missing path", "csv without its columns"])
def test_nothing_usable_raises_a_one_line_dataset_error(tmp_path, layout):
    target = tmp_path / "set"
    target.mkdir()
    if layout == "no audio in the class folders":
        (target / "dog").mkdir()
        (target / "dog" / "notes.txt").write_text("no audio here")
    elif layout == "only unknown labels":
        (target / "unicorn").mkdir()
        shutil.copy(sample_clip(0), target / "unicorn")
    elif layout == "missing path":
        target = tmp_path / "nowhere"
    elif layout == "csv without its columns":
        target = tmp_path / "labels.csv"
        target.write_text("file,class\na.wav,dog\n")
    with pytest.raises(DatasetError) as e:
        external.read_labelled(target, YAMNET_RUN.classes, YAMNET_RUN.class_names)
    message = str(e.value)
    assert "\n" not in message and str(target) in message
    if layout == "only unknown labels":
        assert "unicorn" in message


# ---- evaluating --------------------------------------------------------------------------------------------

def test_unreadable_files_are_kept_with_their_error_and_left_out_of_the_figures(evaluation, progress_calls):
    by_name = {c.filename: c for c in evaluation.clips}
    assert len(evaluation.clips) == 7
    for name in ("dog/garbled.wav", "foreign/empty.wav"):
        bad = by_name[name]
        assert bad.error and "\n" not in bad.error and name.split("/")[1] in bad.error
        assert bad.predicted == "" and math.isnan(bad.confidence) and bad.top3 == []
        assert bad not in evaluation.in_set() and bad not in evaluation.foreign()
    assert "empty" in by_name["foreign/empty.wav"].error
    m = evaluation.summary()
    assert (m["n_in_set"], m["n_foreign"], m["n_errors"], m["classes_present"]) == (3, 2, 2, 3)
    assert all(not c.error for c in evaluation.in_set() + evaluation.foreign())
    assert progress_calls == [(i, 7) for i in range(1, 8)]


def test_every_readable_clip_gets_the_classify_pages_answer(evaluation, clf):
    for c in evaluation.in_set() + evaluation.foreign():
        assert c.predicted in clf.classes and c.predicted == c.top3[0] and len(c.top3) == 3
        assert 0 < c.confidence <= 1
        assert c.outcome in ("in-set", "foreign", "unsure", "silence")  # the run has an open-set check
    # ESC-50's own recordings are named right; the spoken example is not taken for one of the classes
    assert all(c.label in c.top3 for c in evaluation.in_set())
    speech = next(c for c in evaluation.foreign() if c.filename.endswith(SPEECH.name))
    assert not speech.accepted and "Speech" in speech.hears
    assert evaluation.run_id == YAMNET_RUN.id and evaluation.model == MODEL
    assert evaluation.set_name == "my-recordings" and evaluation.problems and "unicorn" in evaluation.problems[0]


def test_recordings_from_a_phone_or_a_browser_are_evaluated_like_wavs(clf, tmp_path):
    """AAC in .m4a and Opus in .webm, the formats phones and browsers record, are listed and judged."""
    from soundlab import audio
    from tests.assets import ffmpeg_bytes

    a = audio.load(sample_clip(0))
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "memo.m4a").write_bytes(ffmpeg_bytes(a.y, a.sr))
    (tmp_path / "dog" / "recorder.webm").write_bytes(ffmpeg_bytes(audio.resample(a.y, orig_sr=a.sr, target_sr=48_000),
                                                                   48_000, "webm", "libopus"))
    labelled = external.read_labelled(tmp_path, clf.classes, clf.class_names)
    assert sorted(p.name for p, _ in labelled.items) == ["memo.m4a", "recorder.webm"]
    evaluation = external.evaluate(clf, labelled)
    assert all(not c.error and "dog" in c.top3 for c in evaluation.clips), [(c.error, c.top3) for c in evaluation.clips]


def test_the_summary_agrees_with_the_clips(evaluation):
    m = evaluation.summary()
    ins, out = evaluation.in_set(), evaluation.foreign()
    assert m["accuracy"] == pytest.approx(np.mean([c.right for c in ins]))
    assert m["named_right_and_accepted"] == pytest.approx(np.mean([c.right and c.accepted for c in ins]))
    assert m["genuine_judged_foreign_or_unsure"] == pytest.approx(np.mean([not c.accepted for c in ins]))
    assert m["foreign_flagged"] == pytest.approx(np.mean([not c.accepted for c in out]))
    assert m["top3_accuracy"] == pytest.approx(np.mean([c.label in c.top3 for c in ins]))
    per_class = {k: np.mean([c.right for c in ins if c.label == k]) for k in {c.label for c in ins}}
    assert m["balanced_accuracy"] == pytest.approx(np.mean(list(per_class.values())))
    assert m["named_right_and_accepted"] <= m["accuracy"] <= m["top3_accuracy"]
    shares = [k for k in m if not k.startswith("n_") and k != "classes_present"]
    assert all(0 <= m[k] <= 1 for k in shares)


def test_the_summary_of_an_evaluation_without_foreign_sounds_says_nan_not_zero(evaluation):
    """A kind of clip that is absent has no figure (NaN, shown as n/a), not a misleading 0%."""
    only_in_set = copy.copy(evaluation)
    only_in_set.clips = [c for c in evaluation.clips if c.label != external.FOREIGN]
    m = only_in_set.summary()
    assert m["n_foreign"] == 0 and math.isnan(m["foreign_flagged"]) and not math.isnan(m["accuracy"])


def test_the_table_has_one_row_per_clip(evaluation):
    table = evaluation.table()
    assert len(table) == len(evaluation.clips)
    assert list(table["filename"]) == [c.filename for c in evaluation.clips]
    rows = table.set_index("filename")
    dog = rows.loc[f"dog/{sample_clip(0).name}"]
    assert dog["label"] == "Dog" and dog["right"] == (dog["predicted"] == "Dog")
    assert rows.loc[f"Chirping birds/{sample_clip(14).name}", "label"] == "Chirping birds"
    bad = rows.loc["dog/garbled.wav"]
    assert bad["verdict"] == "error" and bad["ok"] is None and bad["right"] is None and "decode" in bad["why"]
    speech = rows.loc[f"foreign/{SPEECH.name}"]
    assert speech["label"] == "foreign" and speech["right"] is None and speech["ok"] == (speech["verdict"] != "in-set")
    confusion = evaluation.confusion()
    assert int(confusion.to_numpy().sum()) == 3 and set(confusion.index) == {"Dog", "Chirping birds", "Sea waves"}


def test_json_round_trip(evaluation):
    stored = json.loads(json.dumps(evaluation.to_json()))
    assert stored["summary"]["n_in_set"] == 3 and stored["version"] == external.VERSION
    back = external.ExternalEvaluation.from_json(stored)
    assert json.dumps(back.to_json()) == json.dumps(evaluation.to_json())
    assert back.table().equals(evaluation.table())
    assert back.summary() == pytest.approx(evaluation.summary(), nan_ok=True)
    with pytest.raises(ValueError, match="another version"):
        external.ExternalEvaluation.from_json({**stored, "version": external.VERSION + 1})


def test_the_set_root_is_where_the_clips_are(evaluation, labelled_dir):
    """The page plays a clip from the evaluation's root: outside the repository it is stored as an absolute path."""
    assert evaluation.root == str(labelled_dir.resolve())
    first = evaluation.clips[0]
    assert (evaluation.root_path() / first.filename).is_file()


def test_save_then_stored_finds_it(evaluation, tmp_path):
    run = copy_run(YAMNET_RUN, tmp_path)
    assert external.stored(run) == ([], [])
    path = external.save(run, evaluation)
    assert path == run.external_file("my-recordings", MODEL) and path.parent == run.path / runs.EXTERNAL_DIR
    (found,), problems = external.stored(run)
    assert problems == [] and json.dumps(found.to_json()) == json.dumps(evaluation.to_json())
    assert external.stored(run, MODEL)[0] and external.stored(run, "attention")[0] == []
    assert external.require_stored(run, MODEL, "my-recordings").set_name == "my-recordings"
    with pytest.raises(RunError, match="no stored evaluation"):
        external.require_stored(run, MODEL, "someone else's recordings")
    # a damaged file is one message and does not hide the others
    (run.path / runs.EXTERNAL_DIR / "broken--logreg.json").write_text("{")
    found, problems = external.stored(run)
    assert len(found) == 1 and len(problems) == 1 and "broken--logreg.json: unusable" in problems[0]


def test_an_evaluation_on_the_holds_up_set_is_read_back_by_the_run(evaluation, tmp_path):
    """Stored under `runs.HOLDS_UP_SET`, an evaluation's balanced accuracy is what the default-model rule reads."""
    run = copy_run(YAMNET_RUN, tmp_path)
    assert run.holds_up == {}
    ev = copy.copy(evaluation)
    ev.set_name = runs.HOLDS_UP_SET
    external.save(run, ev)
    assert runs.load_run(run.path).holds_up == {MODEL: pytest.approx(evaluation.summary()["balanced_accuracy"])}


# ---- the command line --------------------------------------------------------------------------------------

def cli_artifacts(tmp_path):
    """An artifacts folder with the YAMNet run (without stored evaluations) and the YAMNet files it needs."""
    art = tmp_path / "artifacts"
    (art / "runs").mkdir(parents=True)
    copy_run(YAMNET_RUN, art / "runs")
    for name in ("yamnet.tflite", "yamnet_class_map.csv"):
        shutil.copy(DEFAULT_ARTIFACTS_DIR / name, art)
    return art


def soundlab(*args, artifacts):
    env = {**os.environ, "SOUNDLAB_ARTIFACTS_DIR": str(artifacts)}
    return subprocess.run([sys.executable, "-m", "soundlab", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cli_evaluate_external_json_csv_and_save(tmp_path, labelled_dir):
    """`evaluate --external DIR --json --csv FILE --save`: the summary as JSON, one CSV row per clip, the evaluation
    stored for the Metrics page; the unknown label and each unreadable file are one line, and it exits 0."""
    art = cli_artifacts(tmp_path)
    out = soundlab("evaluate", "--external", labelled_dir, "--run", YAMNET_RUN.id, "--model", MODEL, "--json",
                   "--csv", tmp_path / "answers.csv", "--save", "--name", "phone", artifacts=art)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    result = json.loads(out.stdout)
    m = result["summary"]
    assert (m["n_in_set"], m["n_foreign"], m["n_errors"], m["classes_present"]) == (3, 2, 2, 3)
    assert 0 <= m["named_right_and_accepted"] <= m["accuracy"] <= 1
    assert result["set_name"] == "phone" and result["model"] == MODEL and result["run_id"] == YAMNET_RUN.id
    lines = out.stderr.splitlines()
    assert len([line for line in lines if "unicorn" in line]) == 1
    for bad in ("garbled.wav", "empty.wav"):
        assert len([line for line in lines if line.startswith("skipped") and bad in line]) == 1
    with open(tmp_path / "answers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 and {r["filename"] for r in rows} == {c["filename"] for c in result["clips"]}
    assert {r["verdict"] for r in rows if r["filename"].endswith(("garbled.wav", "empty.wav"))} == {"error"}
    run = runs.load_run(art / "runs" / YAMNET_RUN.id)
    (stored,), problems = external.stored(run, MODEL)
    assert problems == [] and stored.set_name == "phone" and stored.summary()["n_in_set"] == 3
    assert any(line.startswith("stored: ") and "phone--logreg.json" in line for line in lines)


@pytest.mark.slow
def test_cli_evaluate_external_text_output_and_a_folder_without_audio(tmp_path, labelled_dir):
    """Without --json: the figures in words; a folder without audio: one line of error, no traceback, exit != 0."""
    art = cli_artifacts(tmp_path)
    empty = tmp_path / "nothing"
    (empty / "dog").mkdir(parents=True)
    out = soundlab("evaluate", "--external", empty, "--run", YAMNET_RUN.id, "--model", MODEL, artifacts=art)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and out.stdout == ""
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(empty) in errors[0] and "no audio file" in errors[0]
    text = soundlab("evaluate", "--external", labelled_dir, "--run", YAMNET_RUN.id, "--model", MODEL, artifacts=art)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == "my-recordings: 3 clips of 3 classes, 2 foreign, 2 unreadable"
    assert "named right and accepted" in text.stdout and "foreign sounds flagged" in text.stdout
    assert not (art / "runs" / YAMNET_RUN.id / runs.EXTERNAL_DIR).exists()  # stored only with --save


# ---- the default model: what holds up outside the training data ---------------------------------------------

def fake_run(cv: dict[str, float], holds_up: dict[str, float], rid: str = "fake-run", default: str | None = None):
    """A run like the shipped YAMNet run whose models have these cross-validated balanced accuracies and these
    balanced accuracies on the holds-up set."""
    info = copy.deepcopy(YAMNET_RUN.info)
    info["id"] = rid
    template = next(iter(info["models"].values()))
    info["models"] = {name: {**copy.deepcopy(template), "cv": {**template["cv"], "balanced_accuracy": value}}
                      for name, value in cv.items()}
    info["default_model"] = default or max(cv, key=cv.get)
    return runs.Run(Path("no-such-folder") / rid, info, holds_up)  # choose never reads the folder


def test_a_model_outside_the_cv_margin_never_wins():
    """However well it does on real recordings, a model more than CV_MARGIN below the best cross-validated one is not
    chosen."""
    best = 0.90
    run = fake_run({"attention": best, "logreg": best - runs.CV_MARGIN - 0.005},
                   {"attention": 0.40, "logreg": 0.99})
    assert runs.choose([(run, m) for m in run.model_names]) == (run, "attention")
    assert run.default_model == "attention"


def test_within_the_margin_the_best_real_world_figure_wins():
    best = 0.90
    run = fake_run({"attention": best, "mlp": best - 0.005, "logreg": best - runs.CV_MARGIN},  # just inside
                   {"attention": 0.50, "mlp": 0.55, "logreg": 0.60})
    assert runs.choose([(run, m) for m in run.model_names]) == (run, "logreg")
    assert run.default_model == "logreg"
    assert run.balanced_accuracy() == pytest.approx(best - runs.CV_MARGIN)  # of the default model


def test_models_without_a_stored_evaluation_come_after_those_with_one():
    run = fake_run({"attention": 0.90, "mlp": 0.895, "logreg": 0.89}, {"logreg": 0.30})
    assert runs.choose([(run, m) for m in run.model_names]) == (run, "logreg")
    assert run.default_model == "logreg"


def test_without_any_stored_evaluation_cross_validation_decides():
    run = fake_run({"attention": 0.88, "mlp": 0.905, "logreg": 0.90}, {}, default="mlp")
    assert runs.choose([(run, m) for m in run.model_names]) == (run, "mlp")
    assert run.default_model == "mlp"  # the run's own choice (training's best) stands


def test_the_rule_across_runs():
    """`preferred` applies the same rule to the default models of several runs."""
    a = fake_run({"attention": 0.90}, {"attention": 0.50}, rid="a")
    b = fake_run({"attention": 0.89}, {"attention": 0.60}, rid="b")
    c = fake_run({"attention": 0.85}, {"attention": 0.95}, rid="c")  # outside the margin
    assert runs.choose([(a, "attention"), (b, "attention"), (c, "attention")])[0] is b
    assert runs.choose([(a, "attention"), (fake_run({"attention": 0.905}, {}, rid="d"), "attention")])[0] is a


def test_a_run_with_stored_evaluations_on_disk_follows_the_rule(tmp_path):
    """`load_run` reads the holds-up set's evaluations, and `default_model` follows the rule, not run.json's pick."""
    run = copy_run(YAMNET_RUN, tmp_path)
    cv = {m: run.balanced_accuracy(m) for m in run.model_names}
    best = max(cv, key=cv.get)
    near = [m for m in cv if m != best and cv[m] >= cv[best] - runs.CV_MARGIN]
    far = [m for m in cv if cv[m] < cv[best] - runs.CV_MARGIN]
    assert near and far, cv  # the shipped run has both kinds
    (run.path / runs.EXTERNAL_DIR).mkdir()
    scores = {best: 0.5, near[0]: 0.6, far[0]: 0.9}
    for model, value in scores.items():
        path = run.external_file(runs.HOLDS_UP_SET, model)
        path.write_text(json.dumps({"summary": {"balanced_accuracy": value}}))
    reloaded = runs.load_run(run.path)
    assert reloaded.holds_up == scores
    assert reloaded.default_model == near[0]


# ---- the Metrics page -------------------------------------------------------------------------------------

def handmade_evaluation(run: runs.Run, root) -> external.ExternalEvaluation:
    """Seven clips with known figures: 4 of the classes (3 right on top, 2 of them accepted), 2 foreign (1 flagged),
    1 unreadable."""
    C = external.ClipResult
    names = {"dog.flac": sample_clip(0), "dog-2.flac": sample_clip(0), "birds.flac": sample_clip(14),
             "rooster.flac": sample_clip(1), "speech.ogg": SPEECH, "piano.ogg": PIANO}
    for name, src in names.items():
        shutil.copy(src, root / name)
    (root / "broken.wav").write_bytes(b"not audio")
    clips = [C("dog.flac", "dog", "dog", 0.9, ["dog", "cat", "hen"], "in-set"),
             C("dog-2.flac", "dog", "rooster", 0.6, ["rooster", "dog", "hen"], "in-set", reasons=["a guess"]),
             C("birds.flac", "chirping_birds", "chirping_birds", 0.3, ["chirping_birds", "crow", "hen"], "unsure",
               reasons=["the model is not sure"]),
             C("rooster.flac", "rooster", "rooster", 0.95, ["rooster", "hen", "crow"], "in-set"),
             C("speech.ogg", "foreign", "laughing", 0.2, ["laughing", "crow", "hen"], "foreign", hears="Speech (0.9)"),
             C("piano.ogg", "foreign", "church_bells", 0.7, ["church_bells", "crow", "hen"], "in-set"),
             C("broken.wav", "foreign", error="broken.wav: could not decode this file as audio")]
    return external.ExternalEvaluation("field recordings", str(root), run.id, MODEL, list(run.classes),
                                       list(run.class_names), clips, ["label 'unicorn' (1 clip) is not ..."],
                                       "2026-12-07T00:00:00+00:00", 1.0)


def page_artifacts(tmp_path):
    art = tmp_path / "artifacts"
    (art / "runs").mkdir(parents=True)
    return art, copy_run(YAMNET_RUN, art / "runs")


def test_the_metrics_page_shows_a_stored_evaluation_and_filters_to_the_misses(tmp_path, monkeypatch):
    art, run = page_artifacts(tmp_path)
    (tmp_path / "set").mkdir()
    ev = handmade_evaluation(run, tmp_path / "set")
    external.save(run, ev)
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run_page(METRICS, {"metrics-run": run.id, "metrics-head": MODEL, "metrics-section": OUTSIDE})
    assert not at.exception and not at.error, texts(at, "error")
    shown = figures(at)
    assert shown["Named right and accepted"] == "50.0%"
    assert shown["Right class on top"] == "75.0%"
    assert shown["Genuine sounds refused"] == "25.0%"
    assert shown["Foreign sounds flagged"] == "50.0%"
    assert shown["Cross-validation"] == f"{run.model(MODEL)['cv']['accuracy']:.1%}"
    captions = unescaped(" ".join(str(c.value) for c in at.caption))
    assert "4 recordings of 3 of the run's classes and 2 foreign sounds" in captions and "1 could not be read" in captions
    misses = page_table(at, "metrics-outside-table")
    assert sorted(misses["filename"]) == ["birds.flac", "dog-2.flac", "piano.ogg"]  # the misses, by default
    at.toggle(key="metrics-outside-misses").set_value(False).run()
    assert not at.exception
    every = page_table(at, "metrics-outside-table")
    assert list(every["filename"]) == [c.filename for c in ev.clips]
    at.toggle(key="metrics-outside-misses").set_value(True).run()
    at = click_row(at, "metrics-outside-table", list(page_table(at, "metrics-outside-table")["filename"])
                   .index("dog-2.flac"))
    assert not at.exception
    said = unescaped(" ".join(str(m.value) for m in at.markdown))
    assert "labelled **Dog**" in said and "**Rooster**" in said
    assert len(at.get("audio")) == 1


def test_the_metrics_page_says_how_to_make_an_evaluation_when_there_is_none(tmp_path, monkeypatch):
    art, run = page_artifacts(tmp_path)
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run_page(METRICS, {"metrics-run": run.id, "metrics-head": MODEL, "metrics-section": OUTSIDE})
    assert not at.exception and not at.error, texts(at, "error")
    info = texts(at, "info")
    assert "No evaluation" in info and "python -m soundlab evaluate --external PATH" in info and "--save" in info
    assert page_table(at, "metrics-outside-table") is None

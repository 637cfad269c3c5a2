"""Stateful interaction tests: random sequences of a page's real actions (Hypothesis's `RuleBasedStateMachine`
driving `AppTest`), with the page's promises checked after every step:

* no exception is shown;
* the clip shown is the one the widgets and the URL name, and the one the person last chose (a filter, a view or a
  run changing under a selection never opens a clip nobody clicked);
* every table selection refers to a row that exists, and to the clip shown;
* nothing is recorded that nobody chose (Data issues).

CI runs a fixed seed and a fixed number of examples (`EXAMPLES`, `STEPS`: bounded time); the same machines run longer
with ``SOUNDLAB_STATEFUL_EXAMPLES=200 pytest tests/test_stateful_pages.py`` (see docs/testing.md).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from soundlab import runs as runs_mod
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from tests.apptest import EXPLORE, ROOT, click_row, selected_rows, table, texts
from tests.apptest import run as run_page

METRICS = str(ROOT / "pages" / "3_Metrics.py")
EXAMPLES = int(os.environ.get("SOUNDLAB_STATEFUL_EXAMPLES", "6"))
STEPS = int(os.environ.get("SOUNDLAB_STATEFUL_STEPS", "10"))
SHIPPED, _ = runs_mod.list_runs(DEFAULT_ARTIFACTS_DIR)


def machine_settings(examples: int = EXAMPLES, steps: int = STEPS):
    """A fixed seed (derandomize) and bounded size: the same sequences on every machine, in bounded time."""
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck), print_blob=True)


def url_value(at, param: str):
    value = at.query_params.get(param)
    if isinstance(value, list):
        value = value[0] if value else None
    return value or None


def shown_titles(at) -> list[str]:
    """The bold clip titles of `components.clip_view.render_clip` ("**file** — class · category")."""
    return [str(m.value) for m in at.markdown if str(m.value).startswith("**") and "** — " in str(m.value)]


def pick(options: list, i: int):
    return options[i % len(options)] if options else None


# ---- Explore -------------------------------------------------------------------------------------------------------

CLASSES = ["dog", "rooster", "rain", "thunderstorm", "sneezing", "coughing", "airplane"]
SOURCES = ["", "100210", "104105", "1", "99999999"]


class ExploreMachine(RuleBasedStateMachine):
    """Explore on the dev dataset: filters, views, the table, the clip picker, sibling and gallery buttons."""

    def __init__(self):
        super().__init__()
        self.at = run_page(EXPLORE)
        self.chosen: str | None = None  # the clip the person last chose

    # -- what is on the page
    def view(self) -> str:
        controls = [c for c in self.at.segmented_control if c.key == "explore-view"]
        return controls[0].value if controls else "Clips"

    def rows(self):
        return table(self.at, "explore-table")

    def present(self) -> set[str]:
        t = self.rows()
        return set(t.loc[t["present"], "filename"]) if t is not None else set()

    # -- actions
    @rule(classes=st.lists(st.sampled_from(CLASSES), max_size=2, unique=True))
    def filter_classes(self, classes):
        self.at.multiselect(key="explore-class").set_value(classes).run()

    @rule(folds=st.lists(st.integers(1, 5), max_size=2, unique=True))
    def filter_folds(self, folds):
        self.at.multiselect(key="explore-fold").set_value(folds).run()

    @rule(src=st.sampled_from(SOURCES))
    def filter_source(self, src):
        self.at.text_input(key="explore-src").set_value(src).run()

    @rule(on=st.booleans())
    def esc10_only(self, on):
        self.at.toggle(key="explore-esc10").set_value(on).run()

    @rule(on=st.booleans())
    def present_only(self, on):
        self.at.toggle(key="explore-present").set_value(on).run()

    @rule(view=st.sampled_from(["Clips", "Classes", "Compare"]))
    def switch_view(self, view):
        self.at.segmented_control(key="explore-view").set_value(view).run()

    @precondition(lambda self: self.view() == "Clips" and any(t.key == "explore-show-table" for t in self.at.toggle))
    @rule(on=st.booleans())
    def show_table(self, on):
        self.at.toggle(key="explore-show-table").set_value(on).run()

    @precondition(lambda self: self.view() == "Clips" and self.rows() is not None and len(self.rows()) > 0)
    @rule(i=st.integers(0, 10_000))
    def click_a_row(self, i):
        t = self.rows()
        row = i % len(t)
        name, on_disk = t.iloc[row]["filename"], bool(t.iloc[row]["present"])
        click_row(self.at, "explore-table", row)
        if on_disk:
            self.chosen = name

    @precondition(lambda self: self.view() == "Clips" and self.rows() is not None
                  and selected_rows(self.at, "explore-table"))
    @rule()
    def clear_the_row(self):
        click_row(self.at, "explore-table", None)
        self.chosen = None

    @precondition(lambda self: self.view() == "Clips" and any(s.key == "explore-clip" for s in self.at.selectbox))
    @rule(i=st.integers(0, 10_000))
    def choose_in_the_picker(self, i):
        box = self.at.selectbox(key="explore-clip")
        name = pick([o.split(" · ")[0] for o in box.options], i)
        box.set_value(name).run()
        self.chosen = name

    @precondition(lambda self: any(b.key and b.key.startswith(("explore-sib-", "explore-gal-")) for b in self.at.button))
    @rule(i=st.integers(0, 10_000))
    def open_a_take_or_class(self, i):
        buttons = [b for b in self.at.button if b.key and b.key.startswith(("explore-sib-", "explore-gal-"))]
        b = pick(buttons, i)
        b.click().run()
        self.chosen = b.key.removeprefix("explore-sib-").removeprefix("explore-gal-")

    # -- promises
    @invariant()
    def no_exception(self):
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""

    @invariant()
    def the_clip_shown_is_the_one_chosen(self):
        if self.view() != "Clips" or not any(s.key == "explore-clip" for s in self.at.selectbox):
            return
        value = self.at.selectbox(key="explore-clip").value
        assert value == self.chosen, f"the picker shows {value}, the person chose {self.chosen}"
        assert url_value(self.at, "clip") == value
        titles = shown_titles(self.at)
        if value is None:
            assert not titles, titles
        else:
            assert titles and titles[0].startswith(f"**{value}**"), titles

    @invariant()
    def a_selection_is_a_row_of_the_table_and_the_clip_shown(self):
        t = self.rows()
        if t is None:
            return
        rows = selected_rows(self.at, "explore-table")
        assert all(0 <= r < len(t) for r in rows), f"selection {rows} in a table of {len(t)} rows"
        if rows and self.view() == "Clips":
            assert t.iloc[rows[0]]["filename"] == self.at.selectbox(key="explore-clip").value


# ---- Metrics: mistakes -------------------------------------------------------------------------------------------

ESC50_RUNS = [r.id for r in SHIPPED if r.task == "esc50"]
RUN_IDS = [r.id for r in SHIPPED]
CLASS_NAMES = ["Airplane", "Coughing", "Rain", "Helicopter", "Crackling fire", "Dog"]


class MetricsMachine(RuleBasedStateMachine):
    """Metrics' Mistakes and Confusion sections: filters, runs and models, rows, the clip picker, confusion cells."""

    def __init__(self):
        super().__init__()
        self.at = run_page(METRICS, {"metrics-section": "Mistakes"})
        self.chosen: str | None = None

    def section(self) -> str:
        return self.at.segmented_control(key="metrics-section").value

    def run_clips(self) -> set[str]:
        run = runs_mod.find(SHIPPED, self.at.selectbox(key="metrics-run").value)
        return set(runs_mod.read_oof(run, run.default_model)["filename"])

    def mistakes(self):
        return table(self.at, "metrics-wrong-table")

    @rule(section=st.sampled_from(["Mistakes", "Mistakes", "Confusion", "Classes"]))
    def switch_section(self, section):
        self.at.segmented_control(key="metrics-section").set_value(section).run()

    @rule(run_id=st.sampled_from(RUN_IDS))
    def switch_run(self, run_id):
        self.at.selectbox(key="metrics-run").set_value(run_id).run()
        if self.chosen is not None and self.chosen not in self.run_clips():
            self.chosen = None

    @rule(i=st.integers(0, 100))
    def switch_model(self, i):
        box = self.at.selectbox(key="metrics-head")
        box.set_value(pick(box.options, i)).run()

    @rule(names=st.lists(st.sampled_from(CLASS_NAMES), max_size=2, unique=True))
    def filter_true_classes(self, names):
        box = self.at.multiselect(key="metrics-class")
        box.set_value([n for n in names if n in box.options]).run()

    @precondition(lambda self: self.section() == "Mistakes")
    @rule(names=st.lists(st.sampled_from(CLASS_NAMES), max_size=2, unique=True))
    def filter_predicted(self, names):
        box = self.at.multiselect(key="metrics-wrong-pred")
        box.set_value([n for n in names if n in box.options]).run()

    @precondition(lambda self: self.section() == "Mistakes")
    @rule(conf=st.sampled_from([0.0, 0.3, 0.6, 0.9]))
    def filter_confidence(self, conf):
        self.at.slider(key="metrics-wrong-conf").set_value(conf).run()

    @precondition(lambda self: self.section() == "Mistakes" and self.mistakes() is not None and len(self.mistakes()))
    @rule(i=st.integers(0, 10_000))
    def click_a_mistake(self, i):
        t = self.mistakes()
        row = i % len(t)
        click_row(self.at, "metrics-wrong-table", row)
        self.chosen = t.iloc[row]["filename"]

    @precondition(lambda self: self.section() == "Mistakes" and any(s.key == "metrics-clip" for s in self.at.selectbox))
    @rule(i=st.integers(0, 10_000))
    def choose_in_the_picker(self, i):
        box = self.at.selectbox(key="metrics-clip")
        name = pick(box.options, i)
        box.set_value(name).run()
        self.chosen = name

    @precondition(lambda self: self.section() == "Confusion")
    @rule(i=st.integers(0, 2_500), j=st.integers(0, 2_500))
    def choose_a_cell(self, i, j):
        true, pred = self.at.selectbox(key="metrics-cell-true"), self.at.selectbox(key="metrics-cell-pred")
        true.set_value(pick(true.options, i))
        pred.set_value(pick(pred.options, j)).run()

    @invariant()
    def no_exception(self):
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""

    @invariant()
    def the_clip_shown_is_the_one_chosen(self):
        if self.section() != "Mistakes" or not any(s.key == "metrics-clip" for s in self.at.selectbox):
            return
        value = self.at.selectbox(key="metrics-clip").value
        assert value == self.chosen, f"the picker shows {value}, the person chose {self.chosen}"
        assert url_value(self.at, "clip") == value
        heads = [str(m.value) for m in self.at.markdown if str(m.value).startswith("### ")]
        if value is not None:
            assert heads and heads[0].startswith(f"### {value}:"), heads

    @invariant()
    def every_selection_is_a_row_that_exists(self):
        for key in ("metrics-wrong-table", "metrics-cell-table"):
            t = table(self.at, key)
            if t is None:
                continue
            rows = selected_rows(self.at, key)
            assert all(0 <= r < len(t) for r in rows), f"{key}: selection {rows} in a table of {len(t)} rows"
            if key == "metrics-wrong-table" and rows:
                assert t.iloc[rows[0]]["filename"] == self.at.selectbox(key="metrics-clip").value


# ---- Data issues: the ranked tables and the review form ---------------------------------------------------------

ISSUES = str(ROOT / "pages" / "5_Data_issues.py")
KINDS = ["Label issues", "Near-duplicates", "Outliers"]
CLASSIFY_RUNS = [r.id for r in SHIPPED if r.classifies_audio and r.task == "esc50"]


class IssuesMachine(RuleBasedStateMachine):
    """Data issues: kinds, runs and models, rows, the clip picker, and the review form filled in or not."""

    review_db = None  # set by the test: a fresh database per machine

    def __init__(self):
        super().__init__()
        if self.review_db.exists():
            self.review_db.unlink()
        self.at = run_page(ISSUES)
        self.chosen: str | None = None
        self.recorded = 0  # decisions the person recorded on purpose
        self.touched = False  # the review form holds choices (a fresh form comes with each clip and after a decision)

    def kind(self) -> str:
        return self.at.segmented_control(key="issues-kind").value

    def key(self) -> str:
        return {"Label issues": "label", "Near-duplicates": "near_duplicate", "Outliers": "outlier"}[self.kind()]

    def rows(self):
        return table(self.at, f"issues-table-{self.key()}")

    def listed(self) -> set[str]:
        t = self.rows()
        if t is None:
            return set()
        return set(t["a"]) | set(t["b"]) if "a" in t else set(t["filename"])

    def form_shown(self) -> bool:
        return any(b.label == "Record decision" for b in self.at.button)

    @rule(kind=st.sampled_from(KINDS))
    def switch_kind(self, kind):
        if kind != self.kind():
            self.at.segmented_control(key="issues-kind").set_value(kind).run()
            self.chosen, self.touched = None, False  # a clip of one kind is not listed under another

    @rule(run_id=st.sampled_from(CLASSIFY_RUNS))
    def switch_run(self, run_id):
        self.at.selectbox(key="issues-run").set_value(run_id).run()
        if self.chosen not in self.listed():
            self.chosen, self.touched = None, False

    @precondition(lambda self: self.rows() is not None and len(self.rows()))
    @rule(i=st.integers(0, 10_000))
    def click_a_row(self, i):
        t = self.rows()
        row = i % len(t)
        click_row(self.at, f"issues-table-{self.key()}", row)
        name = t.iloc[row]["a" if "a" in t else "filename"]
        self.touched = self.touched and name == self.chosen
        self.chosen = name

    @precondition(lambda self: any(s.key == f"issues-clip-{self.key()}" for s in self.at.selectbox))
    @rule(i=st.integers(0, 10_000))
    def choose_in_the_picker(self, i):
        box = self.at.selectbox(key=f"issues-clip-{self.key()}")
        name = pick(box.options, i)
        box.set_value(name).run()
        self.touched = self.touched and name == self.chosen
        self.chosen = name

    @precondition(lambda self: self.form_shown() and not self.touched)
    @rule()
    def record_an_untouched_form(self):
        next(b for b in self.at.button if b.label == "Record decision").click().run()
        assert "Nothing was recorded" in texts(self.at, "error")

    @precondition(lambda self: self.form_shown())
    @rule(decision=st.sampled_from(["fine", "unsure", "label_wrong"]), name=st.sampled_from(["", "Ann"]),
          label=st.sampled_from(["rooster", "cow", None]))
    def record_a_decision(self, decision, name, label):
        self.at.radio[0].set_value(decision)
        self.at.text_input(key="issues-reviewer").set_value(name)
        box = next(b for b in self.at.selectbox if b.label.startswith("The class it should be"))
        box.set_value(label)
        next(b for b in self.at.button if b.label == "Record decision").click().run()
        done = not self.at.error
        if done:
            self.recorded += 1
        else:
            assert "Nothing was recorded" in texts(self.at, "error")
        self.touched = not done
        # a decision is recorded only with everything a person must choose
        assert done == bool(name and (decision != "label_wrong" or label) and "That is the clip's label already" not in texts(self.at, "error"))

    @invariant()
    def no_exception(self):
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""

    @invariant()
    def the_clip_shown_is_the_one_chosen(self):
        key = f"issues-clip-{self.key()}"
        if not any(s.key == key for s in self.at.selectbox):
            return
        value = self.at.selectbox(key=key).value
        assert value == self.chosen, f"the picker shows {value}, the person chose {self.chosen}"
        assert url_value(self.at, "clip") == value

    @invariant()
    def every_selection_is_a_row_that_exists(self):
        t = self.rows()
        if t is not None:
            rows = selected_rows(self.at, f"issues-table-{self.key()}")
            assert all(0 <= r < len(t) for r in rows), f"selection {rows} in a table of {len(t)} rows"

    @invariant()
    def only_chosen_decisions_are_recorded(self):
        from soundlab.review import ReviewStore

        assert len(ReviewStore(self.review_db).history()) == self.recorded


# ---- Classify: sources, uploads good and bad, models ---------------------------------------------------------------

CLASSIFY = str(ROOT / "pages" / "2_Classify.py")


def _wav(y, sr=16_000) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def uploads(dev_root) -> dict[str, tuple[bytes, bool]]:
    """name -> (bytes, whether it is audio the page classifies)."""
    import numpy as np

    t = np.arange(16_000 * 2) / 16_000
    return {"storm.wav": ((dev_root / "audio" / "2-104105-A-19.wav").read_bytes(), True),
            "tone.wav": (_wav((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)), True),
            "notes.wav": (b"this is text, not audio\n" * 40, False),
            "silent.wav": (_wav(np.zeros(16_000, np.float32)), False),
            "tiny.wav": (_wav(np.full(100, 0.2, np.float32)), False),
            "program.exe": (b"MZ" + bytes(200), False)}


class ClassifyMachine(RuleBasedStateMachine):
    """Classify: every source, clips and examples, good and bad uploads and recordings, backbones and models."""

    files: dict = {}  # set by the test (needs the dev folder)

    def __init__(self):
        super().__init__()
        self.at = run_page(CLASSIFY)
        self.last_upload: tuple[str, bool] | None = None

    def source(self) -> str:
        return self.at.segmented_control(key="classify-source").value

    @rule(source=st.sampled_from(["Dataset clip", "Examples", "Upload", "Record"]))
    def switch_source(self, source):
        self.at.segmented_control(key="classify-source").set_value(source).run()
        self.last_upload = None

    @precondition(lambda self: self.source() == "Dataset clip")
    @rule(i=st.integers(0, 10_000))
    def choose_a_clip(self, i):
        box = self.at.selectbox(key="classify-clip")
        box.set_value(pick([o.split(" · ")[0] for o in box.options], i)).run()

    @precondition(lambda self: self.source() == "Examples")
    @rule(i=st.integers(0, 100))
    def choose_an_example(self, i):
        pills = self.at.button_group(key="classify-example")
        pills.set_value(pick(pills.options, i)).run()

    @precondition(lambda self: self.source() == "Upload")
    @rule(name=st.sampled_from(["storm.wav", "tone.wav", "notes.wav", "silent.wav", "tiny.wav", "program.exe"]))
    def upload(self, name):
        data, ok = self.files[name]
        self.at.file_uploader(key="classify-upload").upload(name, data, "application/octet-stream").run()
        self.last_upload = (name, ok)

    @precondition(lambda self: self.source() == "Record")
    @rule(name=st.sampled_from(["storm.wav", "silent.wav"]))
    def record(self, name):
        data, ok = self.files[name]
        self.at.audio_input(key="classify-record").set_value((name, data, "audio/wav")).run()
        self.last_upload = (name, ok)

    @rule(backbone=st.sampled_from(["efficientat", "yamnet"]))
    def switch_backbone(self, backbone):
        self.at.selectbox(key="classify-backbone").set_value(backbone).run()
        self.last_upload = None if self.last_upload and not self.last_upload[1] else self.last_upload

    @rule(i=st.integers(0, 100))
    def switch_model(self, i):
        self.at.selectbox(key="classify-head").set_value(pick(_head_values(self.at), i)).run()

    @rule(i=st.integers(0, 100))
    def switch_run(self, i):  # e.g. from the default (it hears through YAMNet too) to a run of one backbone and back
        key = self.at.selectbox(key="classify-backbone").value
        ids = [r for r in CLASSIFY_RUNS if _run(r).backbone_key == key]
        self.at.selectbox(key="classify-run").set_value(pick(ids, i)).run()

    @invariant()
    def no_exception(self):
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""

    @invariant()
    def one_answer_or_one_message(self):
        answers = [m for m in self.at.markdown if str(m.value).startswith("## ")]
        assert len(answers) <= 1
        if self.source() == "Dataset clip":
            assert answers or self.at.error
            assert url_value(self.at, "clip") in (self.at.selectbox(key="classify-clip").value, None)
        if self.last_upload is not None:
            name, ok = self.last_upload
            assert bool(answers) == ok, (name, texts(self.at, "error"))
            if not ok:
                assert self.at.error and not self.at.get("audio"), name  # a message, and no dead player


def _run(run_id: str):
    from soundlab import runs as runs_mod

    return runs_mod.find(SHIPPED, run_id)


def _head_values(at) -> list[str]:
    return _run(at.selectbox(key="classify-run").value).model_names


# ---- Transcribe: the segment table under changing transcripts ---------------------------------------------------

TRANSCRIBE = str(ROOT / "pages" / "4_Transcribe.py")


class TranscribeMachine(RuleBasedStateMachine):
    """Transcribe: uploads of several lengths, segment clicks, a bark transcribed anyway."""

    files: dict = {}

    def __init__(self):
        super().__init__()
        self.at = run_page(TRANSCRIBE, timeout=300)
        self.chosen: float | None = None

    def segments(self):
        return table(self.at, "transcribe-segments")

    @rule(name=st.sampled_from(["en-short.wav", "en-long.wav", "bark.wav"]))
    def upload(self, name):
        self.at.file_uploader(key="transcribe-upload").upload(name, self.files[name], "audio/wav").run()
        if any(c.key == "transcribe-force" for c in self.at.checkbox):
            self.at.checkbox(key="transcribe-force").check().run()
        self.chosen = None

    @precondition(lambda self: self.segments() is not None and len(self.segments()))
    @rule(i=st.integers(0, 1_000))
    def click_a_segment(self, i):
        t = self.segments()
        click_row(self.at, "transcribe-segments", i % len(t))
        self.chosen = float(t.iloc[i % len(t)]["start"])

    @precondition(lambda self: self.segments() is not None and selected_rows(self.at, "transcribe-segments"))
    @rule()
    def clear_the_segment(self):
        click_row(self.at, "transcribe-segments", None)
        self.chosen = None

    @invariant()
    def no_exception(self):
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""

    @invariant()
    def the_player_starts_at_the_chosen_segment(self):
        t = self.segments()
        if t is None:
            return
        rows = selected_rows(self.at, "transcribe-segments")
        assert all(0 <= r < len(t) for r in rows), f"selection {rows} in a table of {len(t)} rows"
        players = self.at.get("audio")
        assert len(players) == 1 and len(self.at.get("download_button")) == 4
        assert players[0].proto.start_time == int(self.chosen or 0)


@pytest.fixture
def dev_app(dev_root, use_dataset):
    use_dataset(dev_root)


def test_explore_survives_any_sequence_of_clicks(dev_app):
    machine_settings()(ExploreMachine).TestCase().runTest()


def test_metrics_survives_any_sequence_of_clicks(dev_app):
    machine_settings()(MetricsMachine).TestCase().runTest()


def test_data_issues_survives_any_sequence_of_clicks(dev_app, monkeypatch, tmp_path):
    monkeypatch.setenv("SOUNDLAB_REVIEW_DB", str(tmp_path / "review.db"))
    monkeypatch.setattr(IssuesMachine, "review_db", tmp_path / "review.db")
    machine_settings()(IssuesMachine).TestCase().runTest()


def test_classify_survives_any_sequence_of_clicks(dev_app, dev_root, monkeypatch):
    monkeypatch.setattr(ClassifyMachine, "files", uploads(dev_root))
    machine_settings()(ClassifyMachine).TestCase().runTest()


@pytest.mark.slow
def test_transcribe_survives_any_sequence_of_clicks(dev_app, dev_root, monkeypatch):
    from tests.assets import shared, whisper_models

    monkeypatch.setenv("SOUNDLAB_WHISPER_MODEL", str(whisper_models() / "whisper-tiny.en-ct2"))
    monkeypatch.setenv("SOUNDLAB_WHISPER_ENGINE", "faster-whisper")
    monkeypatch.setattr(TranscribeMachine, "files", {
        "en-short.wav": shared("speech", "en-short.wav").read_bytes(),
        "en-long.wav": shared("speech", "en-long.wav").read_bytes(),
        "bark.wav": (dev_root / "audio" / "2-117271-A-0.wav").read_bytes()})
    m = TranscribeMachine()  # B2 first, as the newcomer found it: segment 6 of the long clip, then a short clip
    m.upload("en-long.wav")
    m.click_a_segment(5)
    m.upload("en-short.wav")
    m.no_exception()
    m.the_player_starts_at_the_chosen_segment()
    machine_settings(examples=max(2, EXAMPLES // 2), steps=STEPS // 2 + 2)(TranscribeMachine).TestCase().runTest()


def test_the_machines_find_b1_and_b3_in_a_few_steps(dev_app):
    """The two sequences the newcomer's hour found, replayed as the machines' own steps (they must hold now)."""
    m = ExploreMachine()
    m.click_a_row(5)  # row 6 of the table: 1-105224-A-22.wav
    m.filter_source("100210")  # B1: the table shrinks under the selection
    m.no_exception()
    m.the_clip_shown_is_the_one_chosen()
    m.a_selection_is_a_row_of_the_table_and_the_clip_shown()
    m = MetricsMachine()
    m.click_a_mistake(6)  # row 7 of the mistakes
    m.filter_predicted(["Airplane"])  # B3: the table changes under the selection
    m.no_exception()
    m.the_clip_shown_is_the_one_chosen()
    m.every_selection_is_a_row_that_exists()
    assert "rejected" not in texts(m.at, "error")

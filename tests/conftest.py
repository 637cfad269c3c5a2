import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import numpy as np
import pytest
import streamlit as st

import components  # noqa: F401  (imports pylibsrtp before any test imports TensorFlow; see components/__init__.py)
from tests import assets

SR = 16_000


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    # cached entries outlive an AppTest run in the same process (STYLE.md section 7)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(seed=440)


@pytest.fixture
def tone_440():
    return (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)


@pytest.fixture(scope="session")
def dev_root():
    """The ESC-50 dev folder built from ../shared (every real clip there, the full csv)."""
    try:
        return assets.dev_dataset()
    except assets.MissingShared as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def dev(dev_root):
    """The dev folder as a Dataset (read-only: shared by every test that asks)."""
    from soundlab.data import esc50

    return esc50.load_dataset(dev_root)


@pytest.fixture(scope="session")
def yamnet():
    """The shipped YAMNet (TFLite), loaded once for the whole run."""
    from soundlab.config import DEFAULT_ARTIFACTS_DIR
    from soundlab.models import yamnet as yamnet_model

    return yamnet_model.load_yamnet("tflite", DEFAULT_ARTIFACTS_DIR)


@pytest.fixture(scope="session")
def n_dev(dev_root):
    """How many clips the dev folder holds."""
    return assets.dev_clip_count(dev_root)


@pytest.fixture
def use_dataset(monkeypatch):
    """Point the app's settings at a dataset folder (or at an empty folder: sample mode)."""
    def use(root):
        monkeypatch.setenv("SOUNDLAB_ESC50_ROOT", str(root))
    return use


# Settings of the test run itself, not of the app: they reach every test (.ci/run sets SOUNDLAB_REQUIRE_WEBRTC=1 so
# that the live-microphone test fails instead of skipping where it cannot run).
TEST_RUN_SETTINGS = ("SOUNDLAB_SHARED", "SOUNDLAB_REQUIRE_WEBRTC", "SOUNDLAB_CHROMIUM")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path_factory):
    # Tests never see a developer's real data/ESC-50 or app settings unless they ask for them.
    for name in list(os.environ):
        if name.startswith("SOUNDLAB_") and name not in TEST_RUN_SETTINGS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("SOUNDLAB_ESC50_ROOT", str(tmp_path_factory.mktemp("no-dataset") / "ESC-50"))
    monkeypatch.setenv("SOUNDLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def app_server(dev_root, tmp_path_factory):
    """`streamlit run app.py` (Home.py and pages/, as scripts/run-app.sh serves them) on 127.0.0.1 with the dev
    dataset; yields the base URL."""
    from tests.browser import start_app

    with start_app({"SOUNDLAB_ESC50_ROOT": str(dev_root),
                    "SOUNDLAB_CACHE_DIR": str(tmp_path_factory.mktemp("app-cache"))}) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from tests.browser import launch_chromium

    with launch_chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    p = context.new_page()
    yield p
    context.close()


# The quick tier (`scripts/run-tests.sh --quick`, `-m "not slow and not browser"`, docs/testing.md) leaves out whole
# modules that transcribe with Whisper, train, start servers or run Ray, and a few long single tests; marking them here
# keeps the list in one place instead of a decorator on each of ~150 tests.
SLOW_MODULES = {"test_transcribe", "test_pages_transcribe", "test_training", "test_finetune", "test_scratch",
                "test_ray_embed", "test_faults", "test_serve", "test_bench", "test_memory", "test_other_datasets",
                "test_download", "test_torch_thread", "test_webrtc_live"}
SLOW_TESTS = {"test_one_hour_runs_in_bounded_memory", "test_cli_classify", "test_the_cli_prints_only_soundlabs_lines",
              "test_two_sessions_writing_at_once_lose_nothing", "test_upload_of_malformed_files",
              "test_cli_json_carries_verdict_reasons_and_tags", "test_transcribe_survives_any_sequence_of_clicks",
              "test_data_issues_survives_any_sequence_of_clicks", "test_the_machines_find_b1_and_b3_in_a_few_steps",
              "test_progress_bars_end_cleanly_under_log_lines", "test_cli_issues_prints_each_kind_and_csv",
              "test_a_run_on_corrected_labels_says_so", "test_every_page_on_another_dataset",
              "test_hostile_url_parameters", "test_webrtc_after_tensorflow_does_not_crash",
              "test_a_bad_setting_is_one_line_on_every_page_and_in_the_cli", "test_ci_setting_require_webrtc_reaches_the_tests",
              "test_hub_savedmodel_folder", "test_compare_opens_on_another_model",
              "test_classify_finds_clips_that_sound_like_the_classified_one"}
QUICK_RUNS = "fusion"  # the quick tier draws every Metrics section for the fused runs only, not all ~20 shipped runs


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        elif item.originalname == "test_every_section_of_every_shipped_run" and QUICK_RUNS not in item.name:
            item.add_marker(pytest.mark.slow)

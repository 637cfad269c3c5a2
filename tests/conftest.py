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

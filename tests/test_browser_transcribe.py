"""Browser: the Transcribe page in headless Chromium: upload speech, select a segment, screenshot."""

import pytest
from playwright.sync_api import expect

from tests.assets import shared, whisper_models
from tests.browser import no_exception, screenshot, start_app, wait_for_app

pytestmark = pytest.mark.browser


def test_transcribe_upload_and_segments(dev_root, tmp_path, page):
    env = {"SOUNDLAB_ESC50_ROOT": str(dev_root), "SOUNDLAB_CACHE_DIR": str(tmp_path / "cache"),
           "SOUNDLAB_WHISPER_MODEL": str(whisper_models() / "whisper-base-hf"), "SOUNDLAB_WHISPER_ENGINE": "transformers"}
    with start_app(env) as url:
        page.goto(f"{url}/Transcribe")
        wait_for_app(page, 120_000)
        page.locator('input[type="file"]').set_input_files(str(shared("speech", "en-long.wav")))
        page.get_by_text("Real-time factor").wait_for(timeout=180_000)
        wait_for_app(page)
        expect(page.locator("textarea")).to_contain_text("sound classification", timeout=30_000)
        grid = page.locator('[data-testid="stDataFrame"]').last
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 + 17)  # the second segment's row
        wait_for_app(page)
        page.wait_for_function("() => { const a = document.querySelector('audio'); return a && a.currentTime > 1; }",
                               timeout=30_000)  # the player starts at that segment
        screenshot(page, "transcribe")
        assert no_exception(page) == []

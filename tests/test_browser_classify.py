"""Browser: the Classify page in headless Chromium (dataset clip, upload, a bad upload)."""

import pytest
from playwright.sync_api import expect

from tests.assets import shared
from tests.browser import ANSWER, no_exception, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def test_classify_dataset_clip_and_uploads(app_server, page, dev_root, tmp_path):
    page.goto(f"{app_server}/Classify")
    wait_for_app(page, 120_000)
    page.locator(ANSWER).first.wait_for(timeout=120_000)
    # bars, categories, both backbones' tags: SVG pictures in markdown; the timeline: HTML; no plotly.js for the answer
    charts = page.locator('[data-testid="stMarkdownContainer"] img[src^="data:image/svg+xml"]')
    expect(charts).to_have_count(4, timeout=60_000)
    expect(page.locator('img[alt^="Class probabilities: Dog "]')).to_have_count(1)
    page.wait_for_function("""() => [...document.querySelectorAll('img[src^="data:image/svg+xml"]')]
        .every(i => i.complete && i.naturalWidth > 0)""", timeout=30_000)  # drawn, not broken images
    expect(page.locator('[data-testid="stHtml"] [role="figure"]')).to_have_count(1)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
    screenshot(page, "classify-clip")
    assert no_exception(page) == []

    page.goto(f"{app_server}/Classify?classify-source=Upload")
    wait_for_app(page)
    page.locator('input[type="file"]').set_input_files(str(dev_root / "audio" / "2-117271-A-0.wav"))
    expect(page.locator(ANSWER).first).to_contain_text("A dog barking — ", timeout=60_000)
    screenshot(page, "classify-upload")
    assert no_exception(page) == []

    page.locator('input[type="file"]').set_input_files(str(shared("speech", "en-short.wav")))
    expect(page.locator(ANSWER).first).to_have_text("Not one of the 50 sounds: speech", timeout=60_000)
    assert "hears Speech" in page.inner_text("body")  # the default backbone's tagger names what it hears instead
    screenshot(page, "classify-speech")

    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n" * 20)
    page.locator('input[type="file"]').set_input_files(str(bad))
    page.get_by_text("looks like a text file").wait_for(timeout=60_000)
    screenshot(page, "classify-bad-upload")
    assert no_exception(page) == []

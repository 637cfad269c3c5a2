"""Browser: Home and Explore in headless Chromium against `streamlit run` on 127.0.0.1."""

import pytest
from playwright.sync_api import expect

from tests.browser import go_back, no_exception, screenshot, wait_for_app, wait_for_url

pytestmark = pytest.mark.browser


def test_home_page(app_server, page, n_dev):
    page.goto(app_server)
    wait_for_app(page)
    page.get_by_text("Partial ESC-50").wait_for()
    assert page.get_by_text(f"{n_dev} / 2000").is_visible()
    screenshot(page, "home")
    assert no_exception(page) == []


def test_explore_click_into_a_clip(app_server, page, n_dev):
    page.goto(f"{app_server}/Explore")
    wait_for_app(page)
    page.get_by_text(f"{n_dev} clips match").wait_for()
    # opened on a page's address, the client asks the app's root for its health check at once (app.py), not first
    # /Explore/_stcore/health (a 404 and a 100 ms wait before the root)
    asked = page.evaluate("performance.getEntriesByType('resource').map(r => new URL(r.name).pathname)"
                          ".filter(p => p.endsWith('/_stcore/health'))")
    assert "/_stcore/health" in asked and "/Explore/_stcore/health" not in asked
    # pick a clip with the selectbox, as a user would
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Clip")
    box.locator("input").click()
    page.keyboard.type("2-104105-A-19")
    page.keyboard.press("Enter")
    # what a user waits for: the clip's link in the address bar (the script has run up to the clip), then its picture
    wait_for_url(page, "clip=2-104105-A-19.wav")
    # waveform and spectrogram: one picture drawn by the server (no plotly.js to load)
    picture = page.locator('[data-testid="stMain"] img[alt^="Waveform and mel spectrogram"]').first
    picture.wait_for(timeout=30_000)
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=stMain] img[alt^=Waveform]');"
                           " return i && i.complete && i.naturalWidth > 500; }", timeout=30_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
    audio = page.locator("audio")
    expect(audio).to_have_count(1, timeout=30_000)
    assert audio.first.evaluate("a => a.src.length > 0")
    assert "clip=2-104105-A-19.wav" in page.url  # deep link follows the selection
    screenshot(page, "explore-clip")
    assert no_exception(page) == []
    # open the sibling take through its button
    page.get_by_role("button", name="Open take B", exact=True).click()
    wait_for_url(page, "clip=2-104105-B-19.wav")
    wait_for_app(page)
    assert no_exception(page) == []


def test_explore_classes_and_compare(app_server, page):
    page.goto(f"{app_server}/Explore?explore-view=Classes")
    wait_for_app(page)
    page.get_by_text("One spectrogram per class").wait_for()
    page.locator('[data-testid="stImage"]').nth(49).wait_for(timeout=60_000)
    screenshot(page, "explore-classes")
    assert no_exception(page) == []
    page.goto(f"{app_server}/Explore?explore-view=Compare&clip=2-104105-A-19.wav&explore-interactive=true")
    wait_for_app(page)
    page.locator('[data-testid="stPlotlyChart"]').nth(3).wait_for(timeout=30_000)  # interactive: plotly charts
    page.locator(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm").first.wait_for(timeout=30_000)
    expect(page.locator("audio")).to_have_count(2, timeout=30_000)
    screenshot(page, "explore-compare")
    assert no_exception(page) == []


def test_explore_bad_link(app_server, page):
    page.goto(f"{app_server}/Explore?clip=../../etc/passwd")
    wait_for_app(page)
    page.get_by_text("not an ESC-50 clip name").wait_for()
    screenshot(page, "explore-bad-link")
    assert no_exception(page) == []


def test_back_to_a_clip_link_keeps_the_view(app_server, page):
    """A clip's link, another page, then the browser's Back button: Explore shows the clip again with Clips selected.
    Streamlit gave the bound view control no value on that way back (the URL has no `explore-view`), and the page
    showed its Compare view with no view selected; Data issues had its kind control unselected the same way."""
    page.goto(f"{app_server}/Explore?clip=2-104105-A-19.wav")
    wait_for_app(page)
    page.locator('[data-testid="stMain"] img[alt^="Waveform and mel spectrogram"]').first.wait_for(timeout=30_000)
    page.get_by_role("link", name="Home").first.click()
    page.get_by_text("Partial ESC-50").wait_for(timeout=30_000)
    page.wait_for_function("() => location.pathname === '/'")  # Home's entry is in the page's history
    go_back(page)
    wait_for_url(page, "clip=2-104105-A-19.wav")
    expect(page.locator('[data-testid="stButtonGroup"] [data-selected]')).to_have_text("Clips", timeout=30_000)
    page.locator('[data-testid="stMain"] img[alt^="Waveform and mel spectrogram"]').first.wait_for(timeout=30_000)
    wait_for_app(page)
    assert page.get_by_text("Clip A", exact=True).count() == 0  # not the Compare view
    assert no_exception(page) == []
    page.goto(f"{app_server}/Data_issues")
    wait_for_app(page, 120_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
    page.get_by_role("link", name="Home").first.click()
    page.get_by_text("Partial ESC-50").wait_for(timeout=30_000)
    page.wait_for_function("() => location.pathname === '/'")  # Home's entry is in the page's history
    go_back(page)
    expect(page.locator('[data-testid="stButtonGroup"] [data-selected]')).to_have_text("Label issues",
                                                                                        timeout=60_000)
    assert no_exception(page) == []

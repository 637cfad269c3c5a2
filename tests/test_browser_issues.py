"""Browser: the Data issues page: pick a label issue, play it, record a decision, reload and see it kept; the
near-duplicates side by side; sound search in Explore."""

import pytest
from playwright.sync_api import expect

from tests.browser import no_exception, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def pick(page, label: str, text: str | None = None) -> None:
    """Choose an option of a selectbox as a user would: open it, type (or take the first), Enter."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.locator("input").click()
    if text:
        page.keyboard.type(text)
    page.keyboard.press("Enter")  # the first (matching) option is highlighted
    wait_for_app(page)


def test_review_a_label_issue_and_see_it_kept_after_a_reload(app_server, page):
    page.goto(f"{app_server}/Data_issues")
    wait_for_app(page, 120_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)  # the ranked table
    screenshot(page, "issues-label-table")
    # click the first row of the ranked table
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    wait_for_app(page)
    page.get_by_text("cleanlab suggests").wait_for(timeout=60_000)
    page.wait_for_function("() => location.search.includes('clip=')", timeout=30_000)
    clip = page.evaluate("() => new URLSearchParams(location.search).get('clip')")
    audio = page.locator("audio").first
    page.wait_for_function("() => document.querySelector('audio') && document.querySelector('audio').readyState >= 1",
                           timeout=30_000)
    audio.evaluate("a => a.play()")
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.2", timeout=30_000)
    page.get_by_role("textbox", name="Your name").fill("browser tester")
    page.get_by_role("button", name="Record decision").click()  # nothing chosen: nothing is recorded
    wait_for_app(page)
    page.get_by_text("Choose a decision first. Nothing was recorded.").wait_for(timeout=30_000)
    page.locator('[data-testid="stRadio"] label').filter(has_text="fine").first.click()
    page.get_by_role("button", name="Record decision").click()
    wait_for_app(page)
    page.get_by_text("In effect:").wait_for(timeout=30_000)
    screenshot(page, "issues-label-decided")
    assert no_exception(page) == []
    page.reload()
    wait_for_app(page, 120_000)
    page.get_by_text("In effect:").wait_for(timeout=60_000)
    assert page.get_by_text("browser tester").first.is_visible()
    assert clip in page.url
    assert no_exception(page) == []


def test_near_duplicates_side_by_side(app_server, page):
    page.goto(f"{app_server}/Data_issues?issues-kind=Near-duplicates")
    wait_for_app(page, 120_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)  # the ranked table
    pick(page, "Clip")  # the first pair: across folds, if there is such a pair
    expect(page.locator("audio")).to_have_count(2, timeout=60_000)
    page.locator('[data-testid="stPlotlyChart"]').nth(3).wait_for(timeout=60_000)
    screenshot(page, "issues-near-duplicates")
    assert no_exception(page) == []


def test_explore_sound_search(app_server, page):
    page.goto(f"{app_server}/Explore?clip=2-104105-A-19.wav&explore-similar=true")
    wait_for_app(page, 120_000)
    page.get_by_text("cosine distance of the mean over the frames").first.wait_for(timeout=60_000)
    expect(page.locator("audio")).to_have_count(9, timeout=60_000)  # the clip and its 8 nearest
    screenshot(page, "explore-sound-search")
    assert no_exception(page) == []

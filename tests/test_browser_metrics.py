"""Browser: click a confusion-matrix cell on the Metrics page, play a listed clip, screenshot."""

import pytest
from playwright.sync_api import expect

from soundlab import predictions, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.data import esc50
from tests.browser import no_exception, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def cell_position(page, chart_index: int, x: int, y: int) -> tuple[float, float]:
    """Page coordinates of data point (x, y) in the n-th plotly chart."""
    return page.evaluate(
        """([i, x, y]) => {
            const gd = document.querySelectorAll('.js-plotly-plot')[i];
            const l = gd._fullLayout, box = gd.getBoundingClientRect();
            return [box.left + l.xaxis._offset + l.xaxis.d2p(x), box.top + l.yaxis._offset + l.yaxis.d2p(y)];
        }""", [chart_index, x, y])


@pytest.mark.parametrize("chart", ["grid", "plotly"])
def test_click_a_confusion_cell_and_play_a_clip(app_server, page, dev_root, chart):
    """The matrix is an HTML grid (components.grid_select) by default and a plotly chart with "Zoomable chart": a click
    on a cell lists its clips in both."""
    run = runs.preferred(runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0])
    p = predictions.load_predictions(run, run.default_model, esc50.load_dataset(dev_root).meta)
    cells = p.table[~p.table["correct"]].groupby(["true", "pred"]).size().sort_values(ascending=False)
    (true, pred), n = cells.index[0], int(cells.iloc[0])

    page.goto(f"{app_server}/Metrics" + ("?metrics-cm-plotly=true" if chart == "plotly" else ""))
    wait_for_app(page, 120_000)
    if chart == "plotly":
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        x, y = cell_position(page, 0, int(pred), int(true))
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
    else:
        cell = page.locator(f'.soundlab-grid [data-cell="{int(true)},{int(pred)}"]')  # Playwright pierces the shadow root
        cell.wait_for(timeout=60_000)
        assert f"{n} clip" in cell.get_attribute("title")
        cell.click()
    heading = page.get_by_text(f"{n} clip{'s' if n != 1 else ''}: true {run.class_names[true]}, "
                               f"predicted {run.class_names[pred]}")
    heading.wait_for(timeout=60_000)
    wait_for_app(page)
    if n > 1:  # pick the first listed clip: click its row in the data grid
        grid = page.locator('[data-testid="stDataFrame"]').last
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
        wait_for_app(page)
    audio = page.locator("audio").first
    audio.wait_for(timeout=60_000)
    # the clip's waveform and mel (and with plotly, the two matrices)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(4 if chart == "plotly" else 2, timeout=60_000)
    page.wait_for_function("() => document.querySelector('audio').readyState >= 1", timeout=30_000)
    audio.evaluate("a => a.play()")
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.2", timeout=30_000)
    if chart == "grid":  # the chosen cell is outlined
        expect(page.locator(f'.soundlab-grid i.sel[data-cell="{int(true)},{int(pred)}"]')).to_have_count(1)
    screenshot(page, f"metrics-confusion-cell-{chart}")
    assert no_exception(page) == []


def test_metrics_sections_render(app_server, page):
    for section in ["Mistakes", "Calibration", "Map", "Compare"]:
        page.goto(f"{app_server}/Metrics?metrics-section={section}")
        wait_for_app(page, 120_000)
        page.get_by_text("Balanced accuracy", exact=True).first.wait_for(timeout=60_000)  # the summary
        if section in ("Calibration", "Map"):
            page.locator(".js-plotly-plot .scatterlayer").first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        screenshot(page, f"metrics-{section.lower()}")
        assert no_exception(page) == [], section
    # the comparison of every model, YAMNet heads and from-scratch models, with its verdict
    page.get_by_text("What this tells you").first.scroll_into_view_if_needed(timeout=60_000)
    page.wait_for_timeout(800)
    screenshot(page, "metrics-compare-all-models")


def test_a_from_scratch_run_renders(app_server, page):
    from soundlab import runs
    from soundlab.config import DEFAULT_ARTIFACTS_DIR

    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    cnn = next(r for r in shipped if r.family == "scratch" and r.task == "esc50" and r.default_model == "cnn")
    page.goto(f"{app_server}/Metrics?metrics-run={cnn.id}&metrics-section=Mistakes")
    wait_for_app(page, 120_000)
    page.get_by_text("Balanced accuracy", exact=True).first.wait_for(timeout=60_000)  # the summary
    page.get_by_text("trained from scratch").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    screenshot(page, "metrics-scratch-cnn")
    assert no_exception(page) == []


def test_click_a_point_of_the_embedding_map(app_server, page):
    page.goto(f"{app_server}/Metrics?metrics-section=Map")
    wait_for_app(page, 120_000)
    page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    x, y = page.evaluate(
        """() => {
            const gd = document.querySelector('.js-plotly-plot'), l = gd._fullLayout, box = gd.getBoundingClientRect();
            const t = gd._fullData[0];
            return [box.left + l.xaxis._offset + l.xaxis.d2p(t.x[0]), box.top + l.yaxis._offset + l.yaxis.d2p(t.y[0])];
        }""")
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.locator("audio").first.wait_for(timeout=60_000)
    screenshot(page, "metrics-map-point")
    assert no_exception(page) == []

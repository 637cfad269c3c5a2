"""components.pictures.confusion_grid: the HTML confusion matrix Metrics shows (clicked through components.grid_select)."""

import re

import numpy as np

from components import pictures


def cells(html: str) -> list[tuple[int, int]]:
    return [tuple(map(int, c.split(","))) for c in re.findall(r'data-cell="(\d+,\d+)"', html)]


def test_every_non_empty_cell_says_what_it_holds_and_can_be_clicked():
    cm = np.array([[5, 1, 0], [0, 3, 2], [0, 0, 4]])
    html = pictures.confusion_grid(cm, ["dog", "cat", "pig"], normalize=True, title="Confusion")
    assert cells(html) == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    assert "true dog → predicted cat: 1 clip (17% of dog)" in html
    assert "true cat → predicted pig: 2 clips (40% of cat)" in html
    assert html.count('class="row"') == 3 and html.count('class="col"') == 3
    assert "17%" in html and "share of the row" in html  # small matrices write their values; the legend says what


def test_counts_selection_and_a_display_only_grid():
    cm = np.array([[2, 0], [1, 1]])
    html = pictures.confusion_grid(cm, ["a", "b"], normalize=False, title="T", selected=(1, 0), clickable=False)
    assert cells(html) == [] and "click" not in html.split("</style>")[1].split('aria-label')[0]
    assert '<i class="sel"' in html and "clips 0" in html
    assert re.search(r'<i class="sel" title="true b → predicted a: 1 clip \(50% of b\)"', html)


def test_names_are_escaped_and_an_empty_row_does_not_divide_by_zero():
    cm = np.zeros((2, 2), dtype=int)
    cm[1, 1] = 3
    html = pictures.confusion_grid(cm, ["<b>x</b>", 'say "hi"'], normalize=True, title="<script>")
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&quot;hi&quot;" in html
    assert "<script>" not in html
    assert cells(html) == [(1, 1)]


def test_a_fifty_class_matrix_stays_small():
    rng = np.random.default_rng(0)
    cm = np.diag(rng.integers(10, 40, 50)) + (rng.random((50, 50)) < 0.04) * rng.integers(1, 3, (50, 50))
    html = pictures.confusion_grid(cm, [f"class {i}" for i in range(50)], normalize=True, title="Confusion")
    assert len(cells(html)) == int((cm > 0).sum())
    assert len(html) < 80_000  # the plotly figure of such a matrix was 95 kB, plus plotly.js

"""Helpers for the AppTest page tests."""

import base64
import html
import re

from streamlit.testing.v1 import AppTest

from components.page import FIGURE_LABEL
from tests.assets import ROOT

HOME = str(ROOT / "Home.py")
EXPLORE = str(ROOT / "pages" / "1_Explore.py")
CLASSIFY = str(ROOT / "pages" / "2_Classify.py")


def run(path: str, query: dict | None = None, timeout: float = 180) -> AppTest:
    """Run a page once, with query parameters set as a deep link would."""
    at = AppTest.from_file(path, default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def unescaped(markdown: str) -> str:
    """Markdown as the user reads it: the pages escape user text such as file names (`components.page.safe`), and
    ``notes\\.wav`` is shown as ``notes.wav``."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(at: AppTest, kind: str) -> str:
    """All texts of one element kind ("error", "warning", "info" ...) joined, as the user reads them."""
    return unescaped(" ".join(str(e.value) for e in getattr(at, kind)))


def _inline_image(mime: str) -> str:
    """The pattern of `components.page.inline_image` for one type: the alt text, then the base64 data."""
    return r"!\[(?P<alt>.*?)\]\(data:" + re.escape(mime) + r";base64,(?P<data>[A-Za-z0-9+/=]+)\)"


_PICTURE = re.compile("^" + _inline_image("image/jpeg"))


def pictures(at: AppTest) -> list[str]:
    """Captions of the pictures on the page, one per image: `st.image`'s, and the clip pictures drawn inline as
    markdown (`components.page.picture`: their alt text), in that order."""
    return ([c for el in at.get("image") for c in el.captions]
            + [unescaped(m["alt"]) for el in at.markdown if (m := _PICTURE.match(str(el.value)))])


_CHART = re.compile(r"^\*\*(?P<title>.*?)\*\*\n\n" + _inline_image("image/svg+xml") + "$", re.S)


def charts(at: AppTest) -> list[dict[str, str]]:
    """The SVG charts on the page (`components.page.chart`), in page order: title, alt (title and values in words, as
    the user's screen reader reads them) and the SVG document."""
    out = []
    for el in at.markdown:
        if m := _CHART.match(str(el.value)):
            out.append({"title": unescaped(m["title"]), "alt": unescaped(m["alt"]),
                        "svg": base64.b64decode(m["data"]).decode("utf-8")})
    return out


def html_figures(at: AppTest) -> list[str]:
    """The HTML of each `st.html` chart (components.pictures), in page order, entities unescaped (``&#x27;`` -> ')."""
    return [html.unescape(el.proto.body) for el in at.get("html") if 'role="figure"' in el.proto.body]


_LABEL = re.escape(FIGURE_LABEL).replace(re.escape("{}"), "{}")  # the product's own format
_FIGURE = re.compile("^" + _LABEL.format("(?P<label>.*?)") + r"\n### (?P<value>.*?)"
                     + "(?:\n" + _LABEL.format("(?P<note>.*)") + ")?$", re.S)


def figures(at: AppTest) -> dict[str, str]:
    """The page's labelled figures (`components.page.figures`) as label -> value, unescaped as the user reads them."""
    out = {}
    for el in at.markdown:
        m = _FIGURE.match(str(el.value))
        if m:
            out[unescaped(m["label"])] = unescaped(m["value"])
    return out


def click_row(at: AppTest, key: str, row: int | None) -> AppTest:
    """Click row `row` of the selectable table with widget key `key` (None: clear its selection), as a browser does: the
    click reaches the page as the table's new widget state, so its ``on_select`` callback runs before the script.

    AppTest has no interaction for tables, and assigning ``at.session_state[key]`` runs no callback; this sends the
    widget state through AppTest's own run (its private ``_run``, the one ``AppTest.run`` calls)."""
    import json

    table = next((d for d in at.dataframe if d.key == key), None)
    if table is None:
        raise AssertionError(f"no selectable table with key {key!r} on the page")
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = table.proto.id
    rows = [] if row is None else [int(row)]
    state.string_value = json.dumps({"selection": {"rows": rows, "columns": [], "cells": []}})
    return at._run(states)


def table(at: AppTest, key: str):
    """The table with widget key `key` (its rows as shown, a DataFrame), or None if it is not on the page."""
    found = next((d for d in at.dataframe if d.key == key), None)
    return None if found is None else found.value


def selected_rows(at: AppTest, key: str) -> list[int]:
    """The rows of table `key` the session holds as selected ([] if none or no such state)."""
    state = at.session_state[key] if key in at.session_state else None
    if not state:
        return []
    sel = state["selection"] if isinstance(state, dict) else state.selection
    return list(sel["rows"] if isinstance(sel, dict) else sel.rows)

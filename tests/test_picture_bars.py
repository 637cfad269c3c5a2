"""components.pictures.bars: the bar charts Classify, the live microphone and Explore show, as SVG in markdown."""

import base64
import math
import re
import xml.etree.ElementTree as ET

from components import page, pictures

SVG = "{http://www.w3.org/2000/svg}"


def test_every_row_is_drawn_and_written_and_odd_labels_stay_text():
    items = [("<b>dog</b> & \"cat\"", 0.5), ("[x](javascript:alert(1))", 0.25), ("nan", math.nan), ("big", 7.0)]
    chart = pictures.bars(items, title="T", strong=2)
    root = ET.fromstring(chart.svg)  # well-formed: every label and value is escaped
    texts = [t.text for t in root.iter(SVG + "text")]
    assert texts == ["<b>dog</b> & \"cat\"", "50.0%", "[x](javascript:alert(1))", "25.0%", "nan", "nan%", "big",
                     "700.0%"]
    fills = [r.get("width") for r in root.iter(SVG + "rect")][1::2]  # each row: the track, then the bar
    track = float(next(root.iter(SVG + "rect")).get("width"))
    assert [float(w) / track for w in fills] == [0.5, 0.25, 0.0, 1.0]  # NaN draws nothing, 7 is clipped to the end
    assert chart.alt == "<b>dog</b> & \"cat\" 50.0%, [x](javascript:alert(1)) 25.0%, and 2 more"


def test_a_long_label_is_cut_with_an_ellipsis():
    chart = pictures.bars([("Natural soundscapes & water sounds", 1.0)], title="T", label_px=64)
    label = next(ET.fromstring(chart.svg).iter(SVG + "text")).text
    assert label.endswith("\u2026") and len(label) < 12 and "Natural soundscapes & water sounds" in chart.alt


def test_the_markdown_escapes_title_and_alt_and_carries_the_svg():
    chart = pictures.bars([("a]b", 1.0)], title="**bold** :red[x]")
    md = page.chart_markdown(chart)
    m = re.fullmatch(r"\*\*(.*)\*\*\n\n!\[(.*)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", md, re.S)
    assert m and m[1] == page.safe("**bold** :red[x]") and m[2] == page.safe("**bold** :red[x]") + ": " + page.safe("a]b 100.0%")
    assert base64.b64decode(m[3]).decode() == chart.svg

"""What every page does first: its page config, and the settings, with a bad setting shown as a message.

A setting that cannot be used (e.g. ``SOUNDLAB_MAX_AUDIO_SECONDS=abc``) stops every page with one line naming
the variable, instead of a traceback.
"""

from __future__ import annotations

import base64
import sys

import streamlit as st

from soundlab.config import Settings, get_settings
from soundlab.errors import SettingsError


def start(page_title: str, icon: str) -> Settings:
    """Configure the page and return the settings; a bad setting ends the page with a message.

    `icon`: an emoji, which the browser draws itself. Not a ``:material/...:`` icon: for the tab's icon Streamlit's
    client fetches that from fonts.gstatic.com on every visit (a failed request, after a DNS timeout, offline)."""
    st.set_page_config(page_title=page_title, page_icon=icon, layout="wide")
    keep_keras_cleanup_cheap()
    try:
        return get_settings()
    except SettingsError as e:
        st.error(f"{e}. Fix or unset it, then restart the app.", icon=":material/settings_alert:")
        st.stop()


def keep_keras_cleanup_cheap() -> None:
    """Make the Keras cleanup Streamlit runs after every script run skip its full garbage collection.

    Once keras is imported, Streamlit calls ``keras.backend.clear_session()`` after each run of any page
    (``script_runner._clean_problem_modules``), and Keras 3's clear_session runs a full ``gc.collect()`` by default,
    costly with the models in memory (bench/RESULTS.md). The Keras state is still reset; only that collection is
    skipped: Python's own collections still run, kept cheap and timely by `components.memory`.

    Nothing to do while keras is not imported, or only half: another session's thread is importing it (the first
    Classify visits after a start); a later run patches it (Streamlit's own cleanup skips such a module too).
    """
    backend = getattr(sys.modules.get("keras"), "backend", None)
    clear = getattr(backend, "clear_session", None)
    if clear is None or getattr(clear, "soundlab_cheap", False):  # nothing to patch yet, or patched already
        return

    def clear_session(free_memory: bool = False):
        return clear(free_memory=free_memory)

    clear_session.soundlab_cheap = True
    backend.clear_session = clear_session


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~:$=")


def safe(text: object) -> str:
    """`text` with every markdown (and Streamlit directive) character escaped: for file names, notes and messages
    that carry them, so "[x](http://...)", "**x**", "<b>" or ":red[x]" in an upload's name shows as typed."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text)).replace("\n", " ")


FIGURE_LABEL = ":small[:gray[{}]]"  # a figure's label and note, a picture's caption: small and grey


def figures(items) -> None:
    """A row of labelled figures, each (label, value), (label, value, help) or (label, value, help, note): the label
    small and grey, the value large below it, an optional grey note under the value (like st.metric's delta line).

    Markdown, not ``st.metric``: markdown's code comes with Streamlit's client, a metric's is fetched when the first
    one appears, so markdown figures show with the page's title (bench/RESULTS.md: "Why figures, pictures and bars
    are markdown"). `tests/apptest.py: figures` reads them back."""
    cols = st.columns(len(items))
    for col, item in zip(cols, items, strict=True):
        label, value, help_, note = (tuple(item) + (None, None))[:4]
        col.markdown(f"{FIGURE_LABEL.format(safe(label))}\n### {safe(value)}"
                     + (f"\n{FIGURE_LABEL.format(safe(note))}" if note else ""), help=help_)


def picture(jpeg: bytes, caption: str) -> None:
    """A JPEG with its caption (also its alt text), drawn as a markdown image with the bytes inline (a data: URL).

    Not ``st.image``, for the reason of `figures`: inline, it shows with the page's title. It is sent again on each
    rerun instead of from the browser's cache: little next to that wait, and it changes with the settings anyway.
    `tests/apptest.py: pictures` reads it."""
    st.markdown(f"{inline_image(safe(caption), 'image/jpeg', jpeg)}\n\n{FIGURE_LABEL.format(safe(caption))}")


def inline_image(alt: str, mime: str, data: bytes) -> str:
    """A markdown image with its bytes inline (a data: URL); `alt` is markdown already escaped (`safe`)."""
    return f"![{alt}](data:{mime};base64,{base64.b64encode(data).decode('ascii')})"


def chart_markdown(bars) -> str:
    """A `components.pictures.Chart` as markdown: its title in bold, then the SVG as an inline image whose alt text is the
    title and the values in words. For `chart`, and for a placeholder that redraws it (the live microphone)."""
    return (f"**{safe(bars.title)}**\n\n"
            + inline_image(f"{safe(bars.title)}: {safe(bars.alt)}", "image/svg+xml", bars.svg.encode("utf-8")))


def chart(bars) -> None:
    """A `components.pictures.Chart` (bars) on the page.

    Not ``st.html``, for the reason of `figures`. The cost: a picture has no hover text, so the bars write every value.
    `tests/apptest.py: charts` reads them back."""
    st.markdown(chart_markdown(bars))


def markdown_table(rows, headers: tuple[str, str]) -> str:
    """(name, value) rows as a two-column markdown table, every cell escaped (`safe`): for a handful of rows, without the
    data grid's JavaScript (bench/RESULTS.md)."""
    head = f"| {headers[0]} | {headers[1]} |\n|---|---|\n"
    return head + "\n".join(f"| {safe(k)} | {safe(v)} |" for k, v in rows)

"""SoundLab as an ASGI app: Home.py and pages/, served by Streamlit, plus one middleware that saves a new visitor of
any page but Home a tenth of a second. scripts/run-app.sh starts this (`streamlit run app.py`, through
scripts/serve.py); `streamlit run Home.py` serves the same app without it.

Why: Streamlit's browser client does not know where the app's root is. Opened on a page's address (``/Explore``), it
first asks ``/Explore/_stcore/health``, gets a 404, waits its minimum retry period (100 ms) and then asks
``/_stcore/health`` (streamlit/streamlit#7074, open). Home, at the root, asks once. The client reads the root from
``window.__streamlit.BACKEND_BASE_URL`` when the page sets it (Streamlit's setting for hosts that embed an app), so
this middleware sets it in the page's HTML: the server knows how many path segments the request has below its base
URL path (one for ``/Explore``), and the browser drops that many from its own address, which also holds behind a
proxy that strips a path prefix. In Streamlit 1.67's client the only other readers of that setting need a host's
``HOST_CONFIG`` or ``resourceCrossOriginMode`` as well, which this app does not set. If an upgrade stops reading it,
tests/test_browser_foundation.py (no ``/Explore/_stcore/health`` request) fails. Hand-written, deliberately: no library
does this; it is Streamlit-specific.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import streamlit as st
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware

ROOT = Path(__file__).resolve().parent
# the address spaces Streamlit serves itself (never a page's HTML): see streamlit/web/server/starlette
NOT_PAGES = (["_stcore"], ["static"], ["media"], ["component"], ["app", "static"])


def page_depth(path: str, base_url_path: str) -> int | None:
    """How many segments of a request's path are below the app's base URL path (0 for the root, 1 for ``/Explore``);
    None for Streamlit's own addresses and paths outside the base."""
    parts = [p for p in path.split("/") if p]
    base = [p for p in base_url_path.split("/") if p]
    if parts[:len(base)] != base:
        return None
    rest = parts[len(base):]
    if any(rest[:len(own)] == own for own in NOT_PAGES):
        return None
    return len(rest)


def root_script(depth: int) -> bytes:
    """The script that tells Streamlit's client where the app's root is: its own address minus `depth` segments.
    A host that embeds the app and sets ``window.__streamlit`` itself keeps its setting."""
    return ("<script>(function(){if(window.__streamlit)return;"
            "var p=location.pathname.replace(/\\/+$/,'').split('/');"
            f"p.splice(p.length-{int(depth)},{int(depth)});"
            "window.__streamlit={BACKEND_BASE_URL:location.origin+p.join('/')+'/'};})();</script>").encode()


class AppRootInPage:
    """ASGI middleware: adds `root_script` to the head of Streamlit's page HTML (the ``index.html`` it serves for every
    page's address). Every other response passes through untouched."""

    def __init__(self, app, base_url_path: str | None = None) -> None:
        from streamlit import config

        self.app = app
        # read once: Starlette builds its middleware when the server starts, after Streamlit has read its config
        self.base_url_path = (config.get_option("server.baseUrlPath") or "") if base_url_path is None else base_url_path

    async def __call__(self, scope, receive, send) -> None:
        depth = (page_depth(scope["path"], self.base_url_path)
                 if scope["type"] == "http" and scope["method"] == "GET" else None)
        if depth is None:
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        body: list[bytes] = []

        async def send_with_script(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if message["status"] == 200 and headers.get("content-type", "").startswith("text/html"):
                    start = message  # held until the whole (small) body is here
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                html = b"".join(body)
                headers = MutableHeaders(raw=start["headers"])
                if headers.get("content-encoding") == "gzip":
                    html = gzip.decompress(html)
                    del headers["content-encoding"]
                if b'id="root"' in html and b"<head>" in html:  # Streamlit's page, not some other HTML
                    html = html.replace(b"<head>", b"<head>" + root_script(depth), 1)
                headers["content-length"] = str(len(html))
                await send(start)
                await send({"type": "http.response.body", "body": html})
                return
            await send(message)

        await self.app(scope, receive, send_with_script)


app = st.App(ROOT / "Home.py", middleware=[Middleware(AppRootInPage)])

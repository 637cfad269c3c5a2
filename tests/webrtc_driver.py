"""Drive the live-microphone mode in Chromium with a fake microphone; run inside the test namespace.

Usage: python -m tests.webrtc_driver APP_URL FAKE_WAV EXPECTED_CLASS OUT_JSON SCREENSHOT [SECONDS]
Prints nothing; writes OUT_JSON with what the page showed and when.
"""

from __future__ import annotations

import json
import re
import sys
import time

from tests.browser import CHROMIUM, CHROMIUM_ARGS, wait_for_app


def main(url: str, wav: str, expected: str, out_json: str, shot: str, seconds: float = 45.0) -> None:
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-audio-capture={wav}",
                            f"--unsafely-treat-insecure-origin-as-secure={url}"]
    result = {"tops": [], "latencies_ms": [], "panel_s": None, "first_update_s": None, "expected_on_top_s": None,
              "console": [], "error": None}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        t_open = time.monotonic()
        page.on("console", lambda m: result["console"].append(
            f"{time.monotonic() - t_open:.1f}s {m.type}: {m.text}"[:300]))
        page.on("requestfailed", lambda r: result["console"].append(
            f"{time.monotonic() - t_open:.1f}s request failed: {r.url[:150]} ({r.failure})"))
        try:
            for attempt in range(3):  # a page load can be aborted while the test network settles
                try:
                    page.goto(f"{url}/Classify?classify-source=Live+microphone")
                    break
                except Exception:  # noqa: BLE001
                    if attempt == 2:
                        raise
                    page.wait_for_timeout(1000)
            # The first run loads the backbones and the fused model, cold (a spinner says so): 10 s on a good day
            # here, over 20 s on a slow one. Wait as a user would, and never reload meanwhile (a reload starts a new
            # session, which waits for the same load again: the cause of a failure once).
            t_panel = time.monotonic()
            wait_for_app(page, 150_000)
            frame = page.frame_locator('iframe[title*="webrtc"]').first
            start = frame.get_by_role("button", name=re.compile("start", re.I))
            start.wait_for(timeout=60_000)
            result["panel_s"] = round(time.monotonic() - t_panel, 1)
            start.click()
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                heads = page.locator('[data-testid="stMarkdownContainer"] h3').all_inner_texts()
                tops = [h for h in heads if " — " in h]
                if tops:
                    now = round(time.monotonic() - t0, 2)
                    top = tops[0].split(" — ")[0].strip()
                    if not result["tops"] or result["tops"][-1][1] != top:
                        result["tops"].append((now, top))
                    result["first_update_s"] = result["first_update_s"] or now
                    body = page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
                    for text in body:
                        m = re.search(r"latency (\d+) ms", text)
                        if m:
                            result["latencies_ms"].append(int(m.group(1)))
                    if top == expected and result["expected_on_top_s"] is None:
                        result["expected_on_top_s"] = now
                        page.wait_for_timeout(3000)  # a few more updates for the latency figures
                        break
                page.wait_for_timeout(250)
            page.screenshot(path=shot, full_page=True)
            result["exceptions"] = [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]
        except Exception as e:  # reported to the test, which fails with it
            result["error"] = f"{type(e).__name__}: {e}"
            try:
                page.screenshot(path=shot, full_page=True)
            except Exception:  # noqa: BLE001
                pass
        finally:
            browser.close()
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]) if len(sys.argv) > 6 else 45.0)

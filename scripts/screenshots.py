"""Screenshots of every page as a user sees it, with data: the README's pictures.

    .venv/bin/python scripts/screenshots.py                 # docs/images/*.png, on the dev set
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --all

Starts the app as the browser tests do (tests/browser.py: `streamlit run app.py` on a free port) on the ESC-50 dev
folder the tests build (`python -m tests.assets prepare`), visits each page in a state worth showing in headless
Chromium, and saves each view cut to its top and scaled to --width pixels. `--all` adds the states the README does not
show (a foreign sound, silence, an upload of a phone's .m4a, Metrics' mistakes) for reviewing a change by eye.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.assets import dev_dataset, shared, whisper_models  # noqa: E402
from tests.browser import ANSWER, launch_chromium, start_app, wait_for_app  # noqa: E402

VIEWPORT = {"width": 1400, "height": 1000}
DOG, STORM = "2-117271-A-0.wav", "2-104105-A-19.wav"


TALL = [False]


def _save(page, path: Path, width: int, height: int) -> None:
    """The top `height` CSS pixels of the page, scaled to `width` pixels wide (PNG, palette-reduced: small files)."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot()))  # the viewport: Streamlit scrolls its main area, not the page
    if not TALL[0]:
        image = image.crop((0, 0, image.width, min(image.height, height)))
    image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size / 1024:.0f} kB)")


def visit(page, url: str, ready: str | None = None, timeout_ms: int = 120_000) -> None:
    page.goto(url)
    wait_for_app(page, timeout_ms)
    if ready:
        page.locator(ready).first.wait_for(timeout=timeout_ms)
    wait_for_app(page, timeout_ms)
    page.wait_for_timeout(800)  # images decoded, fonts settled


def upload(page, path: Path) -> None:
    page.locator('input[type="file"]').set_input_files(str(path))
    page.locator(f'{ANSWER}, [data-testid="stAlert"]').first.wait_for(timeout=120_000)
    wait_for_app(page, 120_000)
    page.wait_for_timeout(800)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--width", type=int, default=900, help="pixels wide (default 900)")
    ap.add_argument("--all", action="store_true", help="also the review-only states")
    ap.add_argument("--tall", action="store_true", help="whole pages, not their tops (for review)")
    args = ap.parse_args()
    TALL[0] = args.tall
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="soundlab-screenshots-"))  # a review log and a cache of its own
    env = {"SOUNDLAB_ESC50_ROOT": str(dev_dataset()), "SOUNDLAB_REVIEW_DB": str(scratch / "review.db"),
           "SOUNDLAB_CACHE_DIR": str(scratch / "cache"),
           "SOUNDLAB_WHISPER_MODEL": str(whisper_models() / "whisper-base-ct2"),
           "SOUNDLAB_WHISPER_ENGINE": "faster-whisper"}
    shot = {"width": args.width}
    with start_app(env) as url, launch_chromium() as browser:
        page = browser.new_context(viewport={**VIEWPORT, "height": 2600 if args.tall else 1100}).new_page()
        visit(page, url, '[data-testid="stMarkdownContainer"] h3')
        _save(page, args.out / "home.png", height=900, **shot)
        visit(page, f"{url}/Explore?clip={STORM}", '[data-testid="stMain"] img')
        _save(page, args.out / "explore.png", height=900, **shot)
        visit(page, f"{url}/Classify?clip={DOG}", ANSWER)
        _save(page, args.out / "classify.png", height=1000, **shot)
        visit(page, f"{url}/Metrics", '.soundlab-grid [data-cell]')
        _save(page, args.out / "metrics.png", height=1000, **shot)
        visit(page, f"{url}/Data_issues?issues-kind=Label+issues", '[data-testid="stDataFrame"]')
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Clip").first.locator("input").click()
        page.keyboard.press("Enter")
        wait_for_app(page)
        page.wait_for_timeout(800)
        _save(page, args.out / "data-issues.png", height=1100, **shot)
        visit(page, f"{url}/Transcribe", '[data-testid="stFileUploader"]')
        page.locator('input[type="file"]').set_input_files(str(shared("speech", "en-short.wav")))
        page.get_by_text("Segments").first.wait_for(timeout=180_000)
        wait_for_app(page, 180_000)
        _save(page, args.out / "transcribe.png", height=900, **shot)
        if args.all:
            visit(page, f"{url}/Classify?classify-source=Examples", ANSWER)
            page.locator('[data-testid="stButtonGroup"] button').filter(has_text="Speech").first.click()
            wait_for_app(page)
            page.wait_for_timeout(800)
            _save(page, args.out / "classify-foreign.png", height=1000, **shot)
            visit(page, f"{url}/Classify?classify-source=Upload", '[data-testid="stFileUploader"]')
            import numpy as np
            import soundfile as sf

            from soundlab import audio
            from tests.assets import ffmpeg_bytes

            storm = audio.load(dev_dataset() / "audio" / STORM)  # as a phone would record it: AAC in .m4a
            (phone := scratch / "storm.m4a").write_bytes(ffmpeg_bytes(storm.y, storm.sr))
            upload(page, phone)
            _save(page, args.out / "classify-upload.png", height=1400, **shot)

            quiet = scratch / "quiet.wav"
            sf.write(quiet, (np.random.default_rng(0).standard_normal(80_000) * 1e-4).astype(np.float32), 16_000)
            upload(page, quiet)
            _save(page, args.out / "classify-silence.png", height=1000, **shot)
            visit(page, f"{url}/Metrics?metrics-section=Mistakes&clip=4-185415-A-21.wav", '[data-testid="stMain"] h3')
            _save(page, args.out / "metrics-mistakes.png", height=2000, **shot)
            visit(page, f"{url}/Metrics?metrics-section=Outside+the+training+data", '[data-testid="stDataFrame"]')
            _save(page, args.out / "metrics-outside.png", height=1600, **shot)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Charts drawn as pictures, without plotly.js: bars as SVG, heat grids as HTML, a clip's waveform and mel spectrogram as
one JPEG.

Arrays in, a `Chart` (SVG), an HTML string or JPEG bytes out; no data loading and no Streamlit here (pages show them
with `components.page.chart`, `st.html` and `components.page.picture`; `components.loaders.clip_picture` caches the
picture). The first view of a clip (Explore) and of an answer (Classify, live microphone) is drawn with these: the
first plotly chart on a page makes the browser fetch and start plotly.js, most of those pages' time to content
(bench/RESULTS.md: "Why the first views draw without plotly.js"). The plotly figures of `components.plotly_charts` stay
one toggle away where zoom and hover matter, and on the analysis pages.
"""

from __future__ import annotations

import functools
import html
import io
import math
import warnings
from dataclasses import dataclass

import numpy as np

BLUE = "#3b6ea8"
BLUE_WEAK = "#c9d6e6"
GREY = "#9e9e9e"
GREY_WEAK = "#dedede"
TEXT = "#31333f"
MUTED = "#6b6f7b"
# plotly's "Blues" scale (the timeline's colours when it was a plotly heatmap), p = 0 .. 1
_BLUES = np.array([(247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214),
                   (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107)], dtype=float)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _title(title: str | None) -> str:
    return (f'<div style="font-weight:600;font-size:0.95rem;color:{TEXT};margin:0.2rem 0 0.4rem">{_esc(title)}</div>'
            if title else "")


@dataclass(frozen=True)
class Chart:
    """A chart drawn as an SVG document, with its title and its values in words (the image's alt text: for screen
    readers, and for tests). `components.page.chart` shows it."""
    title: str
    svg: str
    alt: str


def _fit(text: str, width_px: float, font_px: float) -> str:
    """`text` cut with an ellipsis to fit about `width_px` (an SVG text does not cut itself): 0.52 em per character,
    about a sans-serif face's average."""
    n = max(1, int(width_px / (0.52 * font_px)))
    return text if len(text) <= n else text[: n - 1].rstrip() + "\u2026"


def bars(items: list[tuple[str, float]], *, title: str, strong: int | None = None, color: str = BLUE,
         weak_color: str = BLUE_WEAK, value_format: str = "{:.1%}", scale_max: float = 1.0, label_px: int = 176,
         width_px: int = 560, row_height_px: int = 18) -> Chart:
    """Horizontal bars, one row per (label, value), in the given order, as SVG.

    The first `strong` rows (all by default) are drawn in `color` with their value in the text colour, the rest in
    `weak_color` with their value in grey: a picture has no hover text, so every value is written. Bar length is
    value / `scale_max`, clipped to [0, 1]. The picture is `width_px` wide and shrinks with a narrower column.
    """
    font = 12.8  # 0.8rem, as the page's small text
    bar_x = label_px + 8
    value_x = width_px - 58
    bar_w = max(10, value_x - 8 - bar_x)
    rows = []
    for r, (label, value) in enumerate(items):
        value = float(value)
        share = 0.0 if not math.isfinite(value) or scale_max <= 0 else min(1.0, max(0.0, value / scale_max))
        on = strong is None or r < strong
        y, mid = r * row_height_px, (r + 0.5) * row_height_px
        rows.append(
            f'<text x="{label_px}" y="{mid:g}" text-anchor="end" dominant-baseline="central" fill="{TEXT}">'
            f'{_esc(_fit(str(label), label_px, font))}</text>'
            f'<rect x="{bar_x}" y="{y + 2}" width="{bar_w}" height="{row_height_px - 4}" rx="2" fill="#f3f4f6"/>'
            f'<rect x="{bar_x}" y="{y + 2}" width="{share * bar_w:.1f}" height="{row_height_px - 4}" rx="2" '
            f'fill="{color if on else weak_color}"/>'
            f'<text x="{value_x}" y="{mid:g}" dominant-baseline="central" fill="{TEXT if on else GREY}">'
            f'{_esc(value_format.format(value))}</text>')
    height = max(1, len(items)) * row_height_px
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height}" '
           f'viewBox="0 0 {width_px} {height}" font-family="Source Sans Pro, sans-serif" font-size="{font}">'
           f'{"".join(rows)}</svg>')
    shown = items if strong is None else items[:strong]
    alt = (", ".join(f"{label} {value_format.format(float(v))}" for label, v in shown)
           + (f", and {len(items) - len(shown)} more" if len(items) > len(shown) else ""))
    return Chart(title, svg, alt or "no values")


def probability_bars(probs: np.ndarray, class_names: list[str], *, top_k: int = 5, title: str = "Class probabilities",
                     limit: int | None = None, greyed: bool = False) -> Chart:
    """Classes as bars (all, or the `limit` most probable), most probable on top, the top k highlighted.
    `greyed`: the answer is hypothetical (the sound is not one of the classes), every bar in grey."""
    order = np.argsort(-np.asarray(probs))[:limit]
    strong, weak = (GREY, GREY_WEAK) if greyed else (BLUE, BLUE_WEAK)
    return bars([(class_names[i], float(probs[i])) for i in order], title=title, strong=top_k, color=strong,
                weak_color=weak)


def category_bars(totals: dict[str, float]) -> Chart:
    # labels as long as ESC-50's longest category ("Natural soundscapes & water sounds") fit whole
    return bars(list(totals.items()), title="Categories (sum of their classes)", color="#5b8a3c", label_px=240,
                width_px=406)


def tag_bars(tags: list[tuple[str, float]], *, title: str = "AudioSet tags") -> Chart:
    """A backbone's AudioSet tags with their scores (mean over frames, 0..1)."""
    # most AudioSet names fit whole ("Male speech, man speaking"); the longest are cut with an ellipsis
    return bars(tags, title=title, color="#8a5b3c", value_format="{:.2f}", label_px=176, width_px=412)


def blues(p: np.ndarray) -> np.ndarray:
    """p in [0, 1] -> (..., 3) uint8 RGB on plotly's "Blues" scale."""
    x = np.clip(np.nan_to_num(np.asarray(p, float)), 0, 1) * (len(_BLUES) - 1)
    i = np.minimum(x.astype(int), len(_BLUES) - 2)
    f = (x - i)[..., None]
    return np.round(_BLUES[i] * (1 - f) + _BLUES[i + 1] * f).astype(np.uint8)


def _pool_columns(times: np.ndarray, z: np.ndarray, silent: np.ndarray | None, max_cols: int):
    """At most `max_cols` columns: consecutive columns merged, each keeping its maximum (a short event stays
    visible), silent only when every merged column is."""
    n = z.shape[1]
    if n <= max_cols:
        return times, z, silent
    edges = np.linspace(0, n, max_cols + 1).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN group (silence) stays NaN
        pooled = np.stack([np.nanmax(z[:, a:b], axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    sil = None if silent is None else np.array([bool(np.all(silent[a:b])) for a, b in zip(edges[:-1], edges[1:])])
    return times[edges[:-1]], pooled, sil


def timeline(times: np.ndarray, probs: np.ndarray, class_names: list[str], *, classes: list[int], title: str,
             span_s: float, silent: np.ndarray | None = None, max_cols: int = 240, note: str = "") -> str:
    """Probabilities over time as a heat grid: a row per listed class, a column per window or frame (at most
    `max_cols`; longer recordings merge neighbours, keeping the maximum). Times marked `silent` are drawn as silence
    (a grey cell in a "(silence)" row, no class colour) rather than as a confident class. The time axis runs from the
    first window's start (never before 0) to the last one's end; `note` says under it how the windows are laid out.

    times : np.ndarray [shape=(n,)]  start of each window in seconds
    probs : np.ndarray [shape=(n, n_classes)]
    """
    times = np.asarray(times, float)
    z = np.asarray(probs, float)[:, classes].T  # (len(classes), n)
    sil = None if silent is None else np.asarray(silent, bool)
    if sil is not None and sil.any():
        z[:, sil] = np.nan
    times, z, sil = _pool_columns(times, z, sil, max_cols)
    labels = [class_names[c] for c in classes]
    n = z.shape[1]
    rgb = blues(z)
    grid = []

    def row(label: str, cells: list[str]) -> None:
        grid.append(f'<div style="text-align:right;padding-right:0.4rem;white-space:nowrap;overflow:hidden;'
                    f'text-overflow:ellipsis;font-size:0.78rem;line-height:18px;color:{TEXT}">{_esc(label)}</div>')
        grid.extend(cells)

    if sil is not None and sil.any():
        row("(silence)", [f'<div style="background:{"#b5b5b5" if s else "#ffffff"}" '
                          f'title="{"silence" if s else "sound"} · t={t + span_s / 2:.2f} s"></div>'
                          for t, s in zip(times, sil)])
    for k, label in enumerate(labels):
        cells = []
        for j in range(n):
            p = z[k, j]
            if np.isnan(p):
                cells.append(f'<div style="background:#fafafa" title="{_esc(label)} · t={times[j] + span_s / 2:.2f} s'
                             ' · silence"></div>')
            else:
                r, g, b = rgb[k, j]
                cells.append(f'<div style="background:rgb({r},{g},{b})" title="{_esc(label)} · '
                             f't={times[j] + span_s / 2:.2f} s · p={p:.1%}"></div>')
        row(label, cells)
    start = max(float(times[0]), 0.0) if n else 0.0
    end = float(times[-1] + span_s) if n else 0.0
    ticks = "".join(f"<span>{t:.1f} s</span>" for t in np.linspace(start, end, 5))
    legend = ("".join(f'<span style="flex:1;background:rgb({r},{g},{b})"></span>'
                      for r, g, b in blues(np.linspace(0, 1, 9))))
    return (f'<div role="figure" aria-label="{_esc(title)}">{_title(title)}'
            f'<div style="display:grid;grid-template-columns:minmax(6rem,11rem) repeat({max(n, 1)},minmax(0,1fr));'
            f'grid-auto-rows:18px;gap:1px;background:#ffffff">{"".join(grid)}</div>'
            f'<div style="display:flex;justify-content:space-between;margin-left:11rem;font-size:0.72rem;'
            f'color:{MUTED}">{ticks}</div>'
            f'<div style="display:flex;align-items:center;gap:0.4rem;font-size:0.72rem;color:{MUTED};margin-top:2px">'
            f'p 0%<span style="display:flex;width:8rem;height:8px">{legend}</span>100%'
            f'{f" · {_esc(note)}" if note else ""}</div></div>')


def confusion_grid(cm: np.ndarray, labels: list[str], *, normalize: bool, title: str,
                   selected: tuple[int, int] | None = None, clickable: bool = True) -> str:
    """A confusion matrix (rows true, columns predicted) as an HTML grid coloured on the "Blues" scale, as the plotly
    heatmap was: by the share of the row (`normalize`) or by the count. Every non-empty cell says what it holds when
    hovered; with `clickable` it carries ``data-cell="true,pred"``, which `components.grid_select` turns into a
    click Python hears. `selected` (true, pred) is outlined. Matrices of up to 12 classes write the value in each cell.

    Empty cells are bare ``<i></i>``: the HTML stays smaller than the plotly figure (bench/RESULTS.md)."""
    counts = np.asarray(cm, dtype=int)
    n = len(labels)
    rows_total = counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(rows_total > 0, counts / np.maximum(rows_total, 1), 0.0)
    top = 1.0 if normalize else max(1, int(counts.max()))
    rgb = blues((rates if normalize else counts) / top)
    small = n <= 12
    cell_px = 34 if small else 15
    font = "0.78rem" if small else "0.68rem"
    head = ['<div style="grid-column:1"></div>']
    for name in labels:  # predicted classes along the top, read bottom to top
        head.append(f'<div class="col" title="predicted {_esc(name)}">{_esc(name)}</div>')
    body = []
    for t, name in enumerate(labels):
        body.append(f'<div class="row" title="true {_esc(name)}">{_esc(name)}</div>')
        for p in range(n):
            c = int(counts[t, p])
            sel = ' class="sel"' if selected == (t, p) else ""
            if c == 0 and not sel:
                body.append("<i></i>")
                continue
            r, g, b = rgb[t, p]
            tip = (f"true {labels[t]} → predicted {labels[p]}: {c} clip{'s' if c != 1 else ''} "
                   f"({rates[t, p]:.0%} of {labels[t]})" + (" · click to list them" if clickable and c else ""))
            text = (f"{rates[t, p]:.0%}" if normalize else str(c)) if small and c else ""
            ink = "#ffffff" if (rates[t, p] if normalize else c / top) > 0.55 else TEXT
            data = f' data-cell="{t},{p}"' if clickable and c else ""
            body.append(f'<i{sel}{data} title="{_esc(tip)}" style="background:rgb({r},{g},{b});color:{ink}">'
                        f'{text}</i>')
    legend = "".join(f'<span style="flex:1;background:rgb({r},{g},{b})"></span>'
                     for r, g, b in blues(np.linspace(0, 1, 9)))
    scale = "share of the row 0%" if normalize else "clips 0"
    end = "100%" if normalize else str(top)
    style = (f"<style>.cm{{display:grid;grid-template-columns:minmax(5rem,10rem) repeat({n},{cell_px}px);"
             f"grid-auto-rows:{cell_px}px;gap:1px;font-size:{font};color:{TEXT}}}"
             f".cm i{{display:block;background:#ffffff;font-style:normal;text-align:center;line-height:{cell_px}px;"
             f"font-size:0.72rem;outline:1px solid #f1f1f1}}"
             ".cm i[data-cell]{cursor:pointer}.cm i[data-cell]:hover{outline:2px solid #31333f;z-index:1}"
             ".cm i.sel{outline:2px solid #d62728;z-index:2}"
             ".cm .row{text-align:right;padding-right:0.4rem;white-space:nowrap;overflow:hidden;"
             f"text-overflow:ellipsis;line-height:{cell_px}px}}"
             ".cm .col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;overflow:hidden;"
             "text-overflow:ellipsis;text-align:left;height:7.5rem;align-self:end}</style>")
    return (f'<div role="figure" aria-label="{_esc(title)}">{style}{_title(title)}'
            f'<div style="font-size:0.72rem;color:{MUTED};margin:-0.2rem 0 0.3rem">rows: true class · columns: '
            'predicted class</div>'
            f'<div class="cm" style="grid-template-rows:7.5rem">{"".join(head)}{"".join(body)}</div>'
            f'<div style="display:flex;align-items:center;gap:0.4rem;font-size:0.72rem;color:{MUTED};margin-top:4px">'
            f'{scale}<span style="display:flex;width:8rem;height:8px">{legend}</span>{end}</div></div>')


# ---- a clip as one picture ------------------------------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled sans (FreeType); no system font needed


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)


@functools.lru_cache(maxsize=1)
def viridis_lut() -> np.ndarray:
    """(256, 3) uint8: plotly's Viridis (the interactive heatmap's colours) as a lookup table."""
    from plotly.colors import hex_to_rgb, sample_colorscale

    colors = sample_colorscale("Viridis", list(np.linspace(0, 1, 256)))
    rgb = [hex_to_rgb(c) if c.startswith("#") else tuple(int(float(v)) for v in c[4:-1].split(","))
           for c in colors]
    return np.asarray(rgb, dtype=np.uint8)


def spectrogram_image(S_db: np.ndarray, *, top_db: float = 80.0, size: tuple[int, int] = (320, 160)) -> np.ndarray:
    """(n_mels, t) dB (0 at the top of the scale, -top_db at the bottom) -> (height, width, 3) uint8 RGB,
    low frequencies at the bottom; `size` is (width, height)."""
    from PIL import Image

    idx = np.clip((S_db + top_db) / top_db * 255, 0, 255).astype(np.uint8)
    rgb = viridis_lut()[idx[::-1]]  # (n_mels, t, 3)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def clip_picture(t: np.ndarray, lo: np.ndarray, hi: np.ndarray, S_db: np.ndarray, times: np.ndarray,
                 freqs: np.ndarray, *, duration_s: float, width: int = 540, wave_h: int = 70, mel_h: int = 190,
                 scale: int = 2, top_db: float = 80.0) -> bytes:
    """Waveform envelope above the mel spectrogram, one time axis, as JPEG bytes (`jpeg`): a spectrogram's noise does not
    compress losslessly, so a PNG was larger and slower (bench/RESULTS.md).

    Sizes are CSS pixels for a column about `width` wide; the picture has `scale` times as many pixels, so it stays
    sharp on high-density screens and when the page is wider.

    t, lo, hi : the min/max envelope (`soundlab.dsp.envelope`), shape (n,)
    S_db : np.ndarray [shape=(n_mels, n_frames)] dB re the clip's maximum (0 dB at the top of the colour scale)
    times : frame times in s [shape=(n_frames,)]; freqs : band centre frequencies in Hz [shape=(n_mels,)]
    """
    from PIL import Image, ImageDraw

    k = scale
    left, right, top, gap, bottom, bar_w, tick, pad = (v * k for v in (50, 46, 16, 22, 28, 7, 3, 4))
    W, wave_h, mel_h = width * k, wave_h * k, mel_h * k
    plot_w = W - left - right
    height = top + wave_h + gap + mel_h + bottom
    img = Image.new("RGB", (W, height), "white")
    d = ImageDraw.Draw(img)
    f_small, f_title = _font(10 * k), _font(11 * k)
    dur = max(float(duration_s), 1e-3)
    line = max(1, k // 2)

    def x_of(sec):
        return left + np.asarray(sec, float) / dur * plot_w

    # waveform: per pixel column, the extremes of the envelope points that fall in it
    d.text((left, top - pad), "Waveform", fill=TEXT, font=f_title, anchor="ld")
    y0 = top
    peak = float(max(np.max(np.abs(lo)) if lo.size else 0.0, np.max(np.abs(hi)) if hi.size else 0.0, 1e-3)) * 1.05
    mid = y0 + wave_h / 2
    d.rectangle([left, y0, left + plot_w, y0 + wave_h], outline="#d0d3d9", width=line)
    d.line([left, mid, left + plot_w, mid], fill="#e3e5ea", width=line)
    if t.size:
        cols = np.clip(((np.asarray(t, float) / dur) * plot_w).astype(int), 0, plot_w - 1)
        col_hi = np.full(plot_w, -np.inf)
        col_lo = np.full(plot_w, np.inf)
        np.maximum.at(col_hi, cols, hi)
        np.minimum.at(col_lo, cols, lo)
        idx = np.nonzero(np.isfinite(col_hi))[0]
        if idx.size:  # fill the gaps between envelope points (envelopes coarser than a pixel)
            col_hi = np.interp(np.arange(plot_w), idx, col_hi[idx])
            col_lo = np.interp(np.arange(plot_w), idx, col_lo[idx])
            for x in range(plot_w):
                ya = mid - col_hi[x] / peak * (wave_h / 2)
                yb = mid - col_lo[x] / peak * (wave_h / 2)
                d.line([left + x, ya, left + x, max(ya, yb)], fill=BLUE)
    for v in (peak / 1.05, 0.0, -peak / 1.05):
        y = mid - v / peak * (wave_h / 2)
        d.text((left - pad, y), f"{v:+.2f}" if v else "0", fill=MUTED, font=f_small, anchor="rm")

    # mel spectrogram: Viridis, low frequencies at the bottom, 0 dB = the clip's loudest bin
    m0 = top + wave_h + gap
    d.text((left, m0 - pad), "Mel spectrogram (dB)", fill=TEXT, font=f_title, anchor="ld")
    S = np.asarray(S_db, float)
    vmin = min(max(float(np.nanmin(S)) if S.size else -top_db, -top_db), -1e-6)  # the scale: vmin .. 0 dB
    frames_w = int(round(float(x_of(times[-1])) - left)) if len(times) else plot_w
    frames_w = int(min(max(frames_w, 1), plot_w))
    img.paste(Image.fromarray(spectrogram_image(S, top_db=-vmin, size=(frames_w, mel_h))), (left, m0))
    d.rectangle([left, m0, left + plot_w, m0 + mel_h], outline="#d0d3d9", width=line)
    n_mels = S.shape[0]
    for b in np.linspace(0, n_mels - 1, min(6, n_mels)).round().astype(int):
        y = m0 + mel_h - (b + 0.5) / n_mels * mel_h
        f = float(freqs[b])
        d.line([left - tick, y, left, y], fill=MUTED, width=line)
        d.text((left - pad, y), f"{f / 1000:.1f} kHz" if f >= 1000 else f"{f:.0f} Hz", fill=MUTED, font=f_small,
               anchor="rm")
    # colour bar
    cb_x = left + plot_w + 3 * pad
    bar = viridis_lut()[np.linspace(255, 0, mel_h).astype(np.uint8)][:, None, :].repeat(bar_w, axis=1)
    img.paste(Image.fromarray(bar), (cb_x, m0))
    for v in np.linspace(0, vmin, 5):
        y = m0 + v / vmin * mel_h
        d.text((cb_x + bar_w + pad, y), f"{v:.0f}", fill=MUTED, font=f_small, anchor="lm")
    d.text((cb_x, m0 - pad), "dB", fill=MUTED, font=f_small, anchor="ld")

    # the shared time axis
    step = _nice_step(dur, target=6)
    for n in range(int(dur / step + 1e-9) + 1):
        sec = n * step
        x = float(x_of(sec))
        for ya in (y0 + wave_h, m0 + mel_h):
            d.line([x, ya, x, ya + tick], fill=MUTED, width=line)
        d.text((x, m0 + mel_h + pad), f"{sec:g}", fill=MUTED, font=f_small, anchor="ma")
    d.text((left + plot_w / 2, m0 + mel_h + bottom), "time (s)", fill=MUTED, font=f_small, anchor="md")
    return jpeg(img)


def jpeg(image) -> bytes:
    """A PIL image or an (h, w, 3) uint8 array as JPEG bytes (quality 90, no chroma subsampling: labels stay sharp)."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90, subsampling=0)
    return buf.getvalue()

"""Widgets that show one clip: player, metadata, waveform, mel spectrogram. Shared by pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import loaders, page, plotly_charts
from soundlab import audio, dsp
from soundlab.errors import SoundLabError

DEFAULT_PARAMS = dsp.MelParams()


def mel_params_widgets(key: str, *, max_sr: int = 44_100) -> dsp.MelParams:
    """The mel parameters as widgets (n_fft, hop_length, win_length, n_mels, fmax), bound to the URL so a link
    reopens the same spectrogram."""
    c1, c2 = st.columns(2)
    url = {"bind": "query-params"}
    n_fft = c1.select_slider("n_fft", options=[256, 512, 1024, 2048, 4096], value=1024, key=f"{key}-nfft",
                             help="FFT size in samples: frequency resolution vs time resolution.", **url)
    hop = c2.select_slider("hop_length", options=[64, 128, 256, 512, 1024], value=256, key=f"{key}-hop",
                           help="Samples between frames.", **url)
    win_options = ["= n_fft"] + [w for w in (128, 256, 320, 400, 512, 1024, 2048) if w < n_fft]
    win = c1.selectbox("win_length", win_options, key=f"{key}-win",
                       help="Window length in samples; at most n_fft.", **url)
    n_mels = c2.slider("n_mels", 16, 256, 128, step=8, key=f"{key}-nmels", help="Number of mel bands.", **url)
    fmax = st.slider("fmax (Hz)", 1000, max_sr // 2, max_sr // 2, step=500, key=f"{key}-fmax",
                     help="Highest frequency of the mel filter bank (at most half the sample rate).", **url)
    return dsp.MelParams(n_fft=n_fft, hop_length=hop, win_length=None if win == "= n_fft" else int(win),
                         n_mels=n_mels, fmax_hz=float(fmax))


def metadata_table(row: pd.Series, ds) -> None:
    """The clip's metadata (`Dataset.clip_fields`: ESC-50's, or the dataset's own fields and extra columns) as a small
    markdown table: for a handful of rows a data grid's JavaScript would hold up the clip (bench/RESULTS.md)."""
    fields = ds.clip_fields(row)
    st.markdown(page.markdown_table(fields.items(), ("field", "value")))


def fold_words(run_fold: int, official_fold: int) -> str:
    """Where a clip was held out: the run's fold, and the dataset's own fold when that differs (a run on a partial
    dataset makes its own folds)."""
    own = f"; official fold {official_fold}" if official_fold and int(official_fold) != int(run_fold) else ""
    return f"fold {int(run_fold)} of this run{own}"


def play_file(path) -> None:
    """The browser's player for an audio file on disk, told the file's format (an .m4a is not a wav)."""
    st.audio(str(path), format=audio.mime_type(path))


def player(ds, filename: str) -> bool:
    """Just the audio player of a dataset clip (or a message if its file is gone). Returns False if not shown."""
    try:
        path = ds.clip_path(filename)
    except SoundLabError as e:
        st.caption(f":orange[:material/warning:] {e}")
        return False
    play_file(path)
    return True


def thumbnail(ds, filename: str) -> None:
    """A small mel spectrogram of a dataset clip (nothing if it cannot be read: the player beside it says why)."""
    try:
        st.image(loaders.clip_thumbnail(ds.clip_path(filename)), width=160)
    except SoundLabError:
        pass


def render_clip(ds, filename: str, params: dsp.MelParams, *, key: str, title: str | None = None,
                show_meta: bool = True, height: int = 300, interactive: bool = True) -> bool:
    """Player, waveform and mel spectrogram of a dataset clip. Returns False if it could not be shown.

    `interactive`: plotly charts (zoom, hover values; the browser loads plotly.js, seconds on a slow machine);
    otherwise one picture drawn on the server (`loaders.clip_picture`), which shows at once.

    The file is opened through `Dataset.clip_path` (never leaves the dataset folder); a clip removed since the
    folder was scanned gives a message, not a traceback.
    """
    row = ds.clip(filename)
    st.markdown(f"**{title or row['filename']}** — {row['class_name']} · {row['supercategory']}")
    if not row["present"]:
        st.warning(f"{row['filename']} is listed in the metadata but its audio is not on disk"
                   + (". Download the full dataset from the Home page to hear it." if ds.desc.is_esc50 else
                      " (or cannot be read; the Home page lists why)."))
        if show_meta:
            metadata_table(row, ds)
        return False
    try:
        path = str(ds.clip_path(filename))
        clip = loaders.load_clip(path)
        fmax = min(params.fmax_hz or clip.sr / 2, clip.sr / 2)
        effective = dsp.MelParams(**{**params.__dict__, "fmax_hz": fmax})
        if interactive:
            t, lo, hi = loaders.clip_envelope(path)
            S_db, times, freqs = loaders.clip_mel(path, effective)
        else:
            picture = loaders.clip_picture(path, effective)
    except SoundLabError as e:
        st.error(str(e))
        return False
    play_file(path)
    st.caption(f"{clip.duration_s:.2f} s · {clip.info.sr} Hz · {clip.info.channels} ch · "
               f"{clip.info.format} {clip.info.subtype}")
    for w in clip.warnings:
        st.caption(f":orange[:material/warning:] {w}")
    if interactive:
        st.plotly_chart(plotly_charts.waveform_figure(t, lo, hi), key=f"{key}-wave")
        st.plotly_chart(plotly_charts.mel_figure(S_db, times, freqs, height=height), key=f"{key}-mel")
    else:
        page.picture(picture, f"Waveform and mel spectrogram (n_fft {effective.n_fft}, hop {effective.hop_length}, "
                              f"{effective.n_mels} bands to {fmax / 1000:.1f} kHz)")
    if show_meta:
        metadata_table(row, ds)
    return True

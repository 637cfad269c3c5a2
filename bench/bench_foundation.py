"""Foundation benchmarks (issue: skeleton, data layer, Explore). Prints medians; run:

    .venv/bin/python bench/bench_foundation.py

Targets on the 2-core dev machine: Explore rerun <= 300 ms warm, mel <= 10 ms,
decode + resample <= 5 ms per 5 s wav clip (AAC in .m4a is reported without a target). csv load + presence scan is reported without a target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from common import ROOT, report, timeit  # noqa: I001  (sets sys.path)

from soundlab import audio, dsp
from soundlab.data import esc50
from tests.assets import dev_dataset, ffmpeg_bytes


def full_folder(tmp: Path, dev: Path) -> Path:
    """A 2000-clip folder in the official layout: the dev clips plus hard links standing in for the rest."""
    (tmp / "meta").mkdir()
    (tmp / "audio").mkdir()
    os.link(dev / "meta" / "esc50.csv", tmp / "meta" / "esc50.csv")
    present = sorted((dev / "audio").glob("*.wav"))
    meta = esc50.read_metadata(dev / "meta" / "esc50.csv")
    for i, name in enumerate(meta["filename"]):
        src = dev / "audio" / name
        os.link(src if src.exists() else present[i % len(present)], tmp / "audio" / name)
    return tmp


def main() -> None:
    dev = dev_dataset()
    print(f"cpu cores: {os.cpu_count()}; dev dataset: {dev}")

    with tempfile.TemporaryDirectory() as d:
        full = full_folder(Path(d), dev)
        report("csv load + presence scan, 2000 clips on disk", timeit(lambda: esc50.load_dataset(full), repeat=20))
    n_dev = esc50.load_dataset(dev).n_present
    report(f"csv load + presence scan, dev set ({n_dev} of 2000)", timeit(lambda: esc50.load_dataset(dev), repeat=20))

    clip = dev / "audio" / "4-181286-A-10.wav" if (dev / "audio" / "4-181286-A-10.wav").exists() else \
        sorted((dev / "audio").glob("4-*.wav"))[0]
    report("decode + resample 44.1k -> 16k, one 5 s clip",
           timeit(lambda: audio.load(clip, sr=audio.MODEL_SR), repeat=50), target_ms=5)
    report("decode only, one 5 s clip", timeit(lambda: audio.load(clip), repeat=50))
    a = audio.load(clip)
    phone = ffmpeg_bytes(a.y, a.sr)  # as a phone records: AAC in .m4a, which FFmpeg decodes twice (to count, to read)
    report("decode + resample 44.1k -> 16k, the same clip as AAC in .m4a",
           timeit(lambda: audio.load(phone, name="clip.m4a", sr=audio.MODEL_SR), repeat=50))

    a = audio.load(clip)
    params = dsp.MelParams()
    report(f"mel spectrogram dB, 5 s at 44.1 kHz ({params.n_fft}/{params.hop_length}/{params.n_mels})",
           timeit(lambda: dsp.mel_spectrogram_db(y=a.y, sr=a.sr, params=params), repeat=50), target_ms=10)
    seeds = dsp.MelParams(n_fft=1024, hop_length=320, win_length=320, n_mels=128)
    y32 = audio.resample(a.y, orig_sr=a.sr, target_sr=32_000)
    report("mel spectrogram dB, 5 s at 32 kHz (seeds' 1024/320/320/128)",
           timeit(lambda: dsp.mel_spectrogram_db(y=y32, sr=32_000, params=seeds), repeat=50), target_ms=10)

    # Explore rerun with a clip selected, warm (AppTest runs the page script in-process)
    os.environ["SOUNDLAB_ESC50_ROOT"] = str(dev)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "1_Explore.py"), default_timeout=120)
    at.query_params["clip"] = "2-104105-A-19.wav"
    at.run()
    assert not at.exception, at.exception
    # the page's default view: one picture (waveform and mel spectrogram drawn on the server, inline in markdown)
    pictures = sum("](data:image/jpeg;base64," in str(m.value) for m in at.markdown)
    assert pictures == 1 and not at.get("plotly_chart"), "Explore's clip view changed: update the bench"
    report("Explore rerun with a clip selected (AppTest, warm)", timeit(at.run, repeat=30, warmup=3), target_ms=300)
    at.select_slider(key="explore-mel-nfft").set_value(2048).run()
    report("Explore rerun after a mel setting changed (then warm)", timeit(at.run, repeat=30, warmup=1),
           target_ms=300)
    # "Interactive charts" on: two plotly figures instead of the picture
    at.toggle(key="explore-interactive").set_value(True).run()
    assert not at.exception and len(at.get("plotly_chart")) == 2, at.exception
    report("Explore rerun, interactive charts (AppTest, warm)", timeit(at.run, repeat=30, warmup=1), target_ms=300)


if __name__ == "__main__":
    main()

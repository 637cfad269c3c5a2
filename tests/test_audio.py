"""soundlab.audio: decoding, mono, resampling, validation, and a table of malformed files."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from soundlab import audio
from soundlab.config import AudioLimits
from soundlab.data.esc50 import read_metadata
from soundlab.errors import AudioError, DatasetError
from tests.assets import ffmpeg_bytes

SR = 44_100


def _noise(seconds=1.0, sr=SR, channels=1, seed=51773):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = (0.3 * rng.uniform(-1, 1, size=(n, channels))).astype(np.float32)
    return y[:, 0] if channels == 1 else y


def _wav_bytes(y, sr=SR, subtype="PCM_16", fmt="WAV"):
    b = io.BytesIO()
    sf.write(b, y, sr, format=fmt, subtype=subtype)
    return b.getvalue()


def _lying_header(_):
    data = bytearray(_wav_bytes(_noise(1.0)))
    idx = data.find(b"data")
    struct.pack_into("<I", data, idx + 4, 10 * SR * 2)  # claims 10 s of 16-bit samples
    return bytes(data)


def _nan_float(_):
    y = _noise(1.0)
    y[100] = np.nan
    return _wav_bytes(y, subtype="FLOAT")


def _silent_video(_):
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


# name -> (file name, builder(tmp_path) -> bytes, expected)
# expected: ("error", regex) or ("ok", dict of sr / channels / duration_s / warning regex)
MALFORMED = {
    "truncated wav": ("cut.wav", lambda _: _wav_bytes(_noise(1.0))[: 44 + SR], ("ok", {"duration_s": 0.5, "warning": "truncated"})),
    "text renamed .wav": ("notes.wav", lambda _: b"this is a shopping list, not audio\n" * 20, ("error", "looks like a text file")),
    "zero-length file": ("empty.wav", lambda _: b"", ("error", r"empty \(0 bytes\)")),
    "header only (no samples)": ("header.wav", lambda _: _wav_bytes(_noise(1.0))[:44], ("error", "no audio samples")),
    "a few random bytes": ("junk.wav", lambda _: b"RIFF\x00\x01", ("error", "too short to hold an audio header")),
    "one sample": ("one.wav", lambda _: _wav_bytes(np.array([0.5], np.float32)), ("error", r"too short: 1 sample")),
    "NaN float wav": ("nan.wav", _nan_float, ("error", "NaN or infinite")),
    "all silent": ("silent.wav", lambda _: _wav_bytes(np.zeros(SR, np.float32)), ("error", "silent")),
    "6 channels": ("surround.wav", lambda _: _wav_bytes(_noise(1.0, channels=6)), ("ok", {"channels": 6, "duration_s": 1.0})),
    "8 kHz": ("phone.wav", lambda _: _wav_bytes(_noise(1.0, sr=8000), sr=8000), ("ok", {"sr": 8000, "warning": "low sample rate"})),
    "192 kHz": ("hires.wav", lambda _: _wav_bytes(_noise(0.5, sr=192_000), sr=192_000), ("ok", {"sr": 192_000, "duration_s": 0.5})),
    "1 Hz rate": ("slow.wav", lambda _: _wav_bytes(np.full(10, 0.1, np.float32), sr=1), ("error", r"sample rate 1 Hz is outside")),
    "24-bit": ("pcm24.wav", lambda _: _wav_bytes(_noise(1.0), subtype="PCM_24"), ("ok", {"duration_s": 1.0})),
    "32-bit float": ("float.wav", lambda _: _wav_bytes(_noise(1.0), subtype="FLOAT"), ("ok", {"duration_s": 1.0})),
    "float beyond full scale": ("hot.wav", lambda _: _wav_bytes(_noise(1.0) * 5, subtype="FLOAT"), ("ok", {"warning": "exceed full scale"})),
    "ogg vorbis": ("clip.ogg", lambda _: _wav_bytes(_noise(1.0), fmt="OGG", subtype="VORBIS"), ("ok", {"duration_s": 1.0})),
    "flac": ("clip.flac", lambda _: _wav_bytes(_noise(1.0), fmt="FLAC"), ("ok", {"duration_s": 1.0})),
    "mp3": ("clip.mp3", lambda _: _wav_bytes(_noise(1.0), fmt="MP3", subtype="MPEG_LAYER_III"), ("ok", {"sr": SR})),
    # phones record AAC in .m4a, browsers Opus in .webm: FFmpeg decodes what libsndfile cannot
    "m4a (AAC)": ("phone.m4a", lambda _: ffmpeg_bytes(_noise(1.0, sr=44_100), 44_100), ("ok", {"sr": 44_100, "duration_s": 1.0})),
    "webm (Opus), stereo": ("browser.webm", lambda _: ffmpeg_bytes(_noise(1.0, sr=48_000, channels=2).T, 48_000, "webm", "libopus"),
                            ("ok", {"sr": 48_000, "channels": 2, "duration_s": 1.0})),
    "raw AAC (ADTS)": ("clip.aac", lambda _: ffmpeg_bytes(_noise(1.0), SR, "adts"), ("ok", {"sr": SR, "duration_s": 1.0})),
    "truncated m4a": ("cut.m4a", lambda _: ffmpeg_bytes(_noise(1.0, sr=44_100), 44_100)[:400], ("error", "could not decode")),
    "video without sound": ("screen.mp4", _silent_video, ("error", "no audio stream")),
    "wav header lying about its length": ("liar.wav", _lying_header, ("ok", {"duration_s": 1.0, "warning": "header"})),
    "10-minute file": ("long.wav", lambda _: _wav_bytes(np.tile(_noise(1.0, sr=8000), 600), sr=8000),
                       ("ok", {"duration_s": 600.0})),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_files(tmp_path, case):
    filename, build, (kind, expect) = MALFORMED[case]
    path = tmp_path / filename
    path.write_bytes(build(tmp_path))
    if kind == "error":
        with pytest.raises(AudioError, match=expect) as info:
            audio.load(path)
        assert filename in str(info.value)  # the message names the file
        return
    a = audio.load(path)
    assert a.y.ndim == 1 and a.y.dtype == np.float32 and np.isfinite(a.y).all()
    if "sr" in expect:
        assert a.info.sr == expect["sr"] == a.sr
    if "channels" in expect:
        assert a.info.channels == expect["channels"]
    if "duration_s" in expect:
        # AAC adds up to two 1024-sample frames of encoder delay and padding
        assert a.duration_s == pytest.approx(expect["duration_s"], abs=0.05 if a.info.ffmpeg else 0.01)
    if "warning" in expect:
        assert any(expect["warning"] in w for w in a.warnings), a.warnings
    y16k = audio.to_model_input(a.y, a.sr)
    assert y16k.dtype == np.float32 and np.abs(y16k).max() <= 1.0
    assert len(y16k) == pytest.approx(a.duration_s * 16_000, abs=2)


def test_malformed_table_covers_the_issue_list():
    assert len(MALFORMED) + 2 >= 15  # + the two csv cases below


def test_ffmpeg_formats_decode_the_same_sound(tmp_path):
    """A clip through AAC and Opus is the same sound (a lossy codec's delay allowed for), windows and streams
    included, from a path, bytes or a file object."""
    noise = _noise(2.0, sr=48_000)
    y = (0.5 * np.sin(2 * np.pi * 440 * np.arange(len(noise)) / 48_000) + 0.1 * noise).astype(np.float32)
    for name, data in (("a.m4a", ffmpeg_bytes(y, 48_000)), ("a.webm", ffmpeg_bytes(y, 48_000, "webm", "libopus"))):
        (tmp_path / name).write_bytes(data)
        for source in (tmp_path / name, data, io.BytesIO(data)):
            a = audio.load(source, name=name)
            assert a.sr == 48_000 and a.info.ffmpeg and a.info.subtype in ("AAC", "OPUS")
            n = min(len(y), len(a.y)) - 4096
            lag = max(range(0, 4096, 8), key=lambda k: float(np.dot(a.y[k:k + n], y[:n])))
            corr = np.corrcoef(a.y[lag:lag + n], y[:n])[0, 1]
            assert corr > 0.9, (name, lag, corr)
        window = audio.load(tmp_path / name, offset_s=0.5, duration_s=1.0)
        whole = audio.load(tmp_path / name).y
        assert np.array_equal(window.y, whole[24_000:72_000])
        info, blocks = audio.stream(tmp_path / name, sr=16_000, block_s=0.5)
        assert sum(map(len, blocks)) == pytest.approx(len(whole) / 3, abs=2)


def test_ffmpeg_formats_keep_the_duration_limit(tmp_path):
    path = tmp_path / "long.m4a"
    path.write_bytes(ffmpeg_bytes(_noise(3.0, sr=44_100), 44_100))
    with pytest.raises(AudioError, match=r"long.m4a: the audio is longer than the limit of 2 s"):
        audio.probe(path, limits=AudioLimits(max_duration_s=2.0))


def test_empty_csv(tmp_path):
    p = tmp_path / "esc50.csv"
    p.write_text("")
    with pytest.raises(DatasetError, match="empty"):
        read_metadata(p)


def test_csv_missing_column(tmp_path):
    p = tmp_path / "esc50.csv"
    p.write_text("filename,fold,target,category,esc10,take\n1-100032-A-0.wav,1,0,dog,True,A\n")
    with pytest.raises(DatasetError, match="missing column src_file"):
        read_metadata(p)


def test_long_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, np.tile(_noise(1.0, sr=8000), 600), 8000)

    def no_read(*a, **k):
        raise AssertionError("the samples were read")

    monkeypatch.setattr(sf, "read", no_read)
    with pytest.raises(AudioError, match=r"600.0 s long; the limit is 60 s"):
        audio.load(path, limits=AudioLimits(max_duration_s=60))


def test_huge_file_is_refused_by_size(tmp_path):
    path = tmp_path / "big.wav"
    path.write_bytes(_wav_bytes(_noise(1.0)))
    with pytest.raises(AudioError, match="the limit is 0 MB"):
        audio.load(path, limits=AudioLimits(max_file_bytes=1000))


def test_window_read(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, _noise(3.0), SR)
    a = audio.load(path, offset_s=1.0, duration_s=0.5)
    assert a.duration_s == pytest.approx(0.5)


def test_load_bytes_and_file_objects(tmp_path):
    data = _wav_bytes(_noise(1.0))
    for source in (data, io.BytesIO(data)):
        a = audio.load(source, name="upload.wav", sr=16_000)
        assert a.sr == 16_000 and a.y.shape == (16_000,) and a.name == "upload.wav"


def test_mono_mix_is_the_channel_mean():
    y = np.stack([np.ones(10, np.float32), -np.ones(10, np.float32) * 0.5])
    assert np.allclose(audio.to_mono(y), 0.25)


def test_resample_keeps_a_tone(tone_440):
    y = audio.resample(tone_440, orig_sr=16_000, target_sr=44_100)
    assert y.shape == (44_100,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 s long: bin k is k Hz


@pytest.mark.parametrize("y, match", [
    (np.zeros((2, 2, 2), np.float32), "1-D"),
    (np.zeros(100, np.int16), "floating-point"),
    (np.zeros(0, np.float32), "empty"),
    (np.array([np.inf] * 2000, np.float32), "NaN or infinite"),
    ([0.1, 0.2], "numpy array"),
])
def test_validate_rejects(y, match):
    with pytest.raises(AudioError, match=match):
        audio.validate(y, 16_000)


def test_validate_silence_is_optional():
    y = np.zeros(16_000, np.float32)
    with pytest.raises(AudioError, match="silent"):
        audio.validate(y, 16_000)
    audio.validate(y, 16_000, allow_silent=True)


def test_real_clip_decodes_as_in_the_official_release(dev_root):
    a = audio.load(next((dev_root / "audio").glob("4-*.wav")))
    assert a.info.sr == 44_100 and a.info.channels == 1 and a.info.frames == 220_500
    y16k = audio.to_model_input(a.y, a.sr)
    assert y16k.shape == (80_000,)

"""Audio I/O: probe, decode, mix to mono, resample, validate.

Every audio file the app touches goes through here. A file is *probed* (header only) before it is
decoded, so a file that is too long, too big or has an absurd rate is refused without being read.
Problems the user can fix raise :class:`soundlab.errors.AudioError` with a message that names them;
oddities that still give usable audio (a truncated wav, a low rate) become ``warnings``.

Arrays follow librosa's conventions: ``y`` is float32, shape ``(n,)`` for mono or
``(channels, n)`` for multichannel, values nominally in [-1, 1].
"""

from __future__ import annotations

import io
import itertools
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from soundlab.config import AudioLimits
from soundlab.errors import AudioError

MODEL_SR = 16_000
SILENCE_PEAK = 1.0 / 32768  # at or below one 16-bit LSB everywhere counts as silence
# libsndfile reads the first group; the rest (phones record AAC in .m4a, browsers Opus in .webm) are decoded with
# FFmpeg through PyAV, which faster-whisper already installs.
SNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".caf")
FFMPEG_SUFFIXES = (".m4a", ".mp4", ".aac", ".webm", ".mka", ".wma", ".amr", ".3gp")
AUDIO_SUFFIXES = SNDFILE_SUFFIXES + FFMPEG_SUFFIXES  # what folder listings pick up as audio
SUPPORTED_FORMATS = "wav, flac, ogg/opus, mp3, aiff, m4a/aac, webm, wma, amr"
MIME_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
              ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".aiff": "audio/aiff", ".aif": "audio/aiff",
              ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac", ".webm": "audio/webm"}

Source = str | os.PathLike | bytes | BinaryIO


@dataclass(frozen=True)
class AudioInfo:
    """What the file's header says, before decoding."""

    sr: int
    channels: int
    frames: int
    format: str
    subtype: str
    size_bytes: int | None = None
    ffmpeg: bool = False  # decoded by FFmpeg (PyAV), not libsndfile; frames counted by decoding

    @property
    def duration_s(self) -> float:
        return self.frames / self.sr if self.sr else 0.0


@dataclass(frozen=True)
class Audio:
    """Decoded audio plus where it came from."""

    y: np.ndarray  # float32, (n,) or (channels, n)
    sr: int
    info: AudioInfo  # the original file's header (rate, channels, format)
    name: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return self.y.shape[-1] / self.sr


def name_of(source: Source, name: str | None = None) -> str:
    """What messages call `source`: the given name, a path's file name, an upload's name, or \"audio\"."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return getattr(source, "name", None) or "audio"


def mime_type(name: str | os.PathLike) -> str:
    """The MIME type a browser player needs for an audio file name ("audio/wav" when the suffix is unknown)."""
    return MIME_TYPES.get(Path(str(name)).suffix.lower(), "audio/wav")


def _size_of(source: Source) -> int | None:
    if isinstance(source, (str, os.PathLike)):
        return os.stat(source).st_size
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if hasattr(source, "getbuffer"):
        return source.getbuffer().nbytes
    try:
        pos = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(pos)
        return end
    except (AttributeError, OSError):
        return None


def _as_readable(source: Source):
    """soundfile wants a path or a seekable binary file object."""
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    source.seek(0)
    return source


def _first_bytes(source: Source, n: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:n])
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read(n)
    source.seek(0)
    data = source.read(n)
    source.seek(0)
    return data


def _looks_like_text(first: bytes) -> bool:
    if not first:
        return False
    sample = first[:512]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    return printable / len(sample) > 0.95


def _wav_data_bytes(first: bytes) -> tuple[int, int] | None:
    """(declared size, offset) of the 'data' chunk of a RIFF/WAVE header, if found in the file's `first` bytes."""
    head = first
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None
    fmt = "<I" if head[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack(fmt, head[pos + 4 : pos + 8])
        if chunk_id == b"data":
            return size, pos + 8
        pos += 8 + size + (size & 1)
    return None


def probe(source: Source, *, name: str | None = None, limits: AudioLimits | None = None) -> AudioInfo:
    """Read the header of `source` and check it against `limits` without decoding the samples.

    Parameters
    ----------
    source : path, bytes or binary file object
    name : str, optional
        Shown in messages instead of the path (e.g. an upload's file name).
    limits : AudioLimits, optional

    Returns
    -------
    info : AudioInfo

    Raises
    ------
    AudioError
        Empty or oversized file, unknown format, absurd rate or channel count, no samples,
        or longer than ``limits.max_duration_s``.
    """
    limits = limits or AudioLimits()
    label = name_of(source, name)
    try:
        size = _size_of(source)
    except FileNotFoundError:
        raise AudioError(f"{label}: the file is not there (deleted or moved since it was listed).") from None
    except OSError as e:
        raise AudioError(f"{label}: the file cannot be read ({e.strerror or e}).") from None
    if size == 0:
        raise AudioError(f"{label}: the file is empty (0 bytes).")
    if size is not None and size > limits.max_file_bytes:
        raise AudioError(
            f"{label}: the file is {size / 2**20:.0f} MB; the limit is "
            f"{limits.max_file_bytes / 2**20:.0f} MB."
        )
    try:
        raw = sf.info(_as_readable(source))
    except OSError as e:  # removed or unreadable between the size check and here
        raise AudioError(f"{label}: the file cannot be read ({e.strerror or e}).") from None
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        first = _first_bytes(source, 512)
        if _looks_like_text(first):
            what = "it looks like a text file, not audio"
        elif len(first) < 64:
            what = f"it is only {len(first)} bytes, too short to hold an audio header"
        else:
            info = _ffmpeg_info(source, label, size, limits)
            if info is not None:
                return _checked(info, label, limits)
            what = f"the decoder says: {getattr(e, 'error_string', None) or e}"
        raise AudioError(
            f"{label}: could not decode this file as audio ({what}). "
            f"Supported formats: {SUPPORTED_FORMATS}."
        ) from None
    info = AudioInfo(
        sr=int(raw.samplerate),
        channels=int(raw.channels),
        frames=int(raw.frames),
        format=str(raw.format),
        subtype=str(raw.subtype),
        size_bytes=size,
    )
    return _checked(info, label, limits)


def _checked(info: AudioInfo, label: str, limits: AudioLimits) -> AudioInfo:
    if not limits.min_sr_hz <= info.sr <= limits.max_sr_hz:
        raise AudioError(
            f"{label}: sample rate {info.sr} Hz is outside the supported range "
            f"{limits.min_sr_hz}-{limits.max_sr_hz} Hz."
        )
    if not 1 <= info.channels <= limits.max_channels:
        raise AudioError(
            f"{label}: {info.channels} channels; at most {limits.max_channels} are supported."
        )
    if info.frames <= 0:
        raise AudioError(f"{label}: the file holds no audio samples (a header without data).")
    if info.duration_s > limits.max_duration_s:
        raise AudioError(
            f"{label}: the audio is {info.duration_s:.1f} s long; the limit is "
            f"{limits.max_duration_s:.0f} s (setting {limits.duration_setting}). "
            "Trim the file or raise the limit."
        )
    return info


def _ffmpeg_open(source: Source):
    import av  # lazily: most files never need it

    src = _as_readable(source)
    return av.open(src, mode="r", metadata_errors="ignore")


def _ffmpeg_info(source: Source, label: str, size: int | None, limits: AudioLimits) -> AudioInfo | None:
    """The header of a file libsndfile cannot read, through FFmpeg; None if FFmpeg cannot read it either (or PyAV is
    missing). Frames are counted by decoding, as far as the duration limit: compressed streams' headers only estimate
    their length, or (a browser's webm) leave it out."""
    try:
        import av
    except ImportError:  # pragma: no cover - PyAV is in requirements.txt
        return None
    try:
        with _ffmpeg_open(source) as container:
            if not container.streams.audio:
                raise AudioError(f"{label}: the file holds no audio stream (a video or data file without sound).")
            stream = container.streams.audio[0]
            sr, channels = int(stream.rate or 0), int(stream.channels or 0)
            frames, most = 0, limits.max_duration_s * sr if sr else float("inf")
            for frame in container.decode(stream):
                frames += frame.samples
                if frames > most:
                    raise AudioError(f"{label}: the audio is longer than the limit of {limits.max_duration_s:.0f} s "
                                     f"(setting {limits.duration_setting}). Trim the file or raise the limit.")
            suffix = Path(label).suffix.lstrip(".").upper()
            return AudioInfo(sr=sr, channels=channels, frames=frames,
                             format=suffix or container.format.name.split(",")[0].upper(),
                             subtype=stream.codec_context.name.upper(), size_bytes=size, ffmpeg=True)
    except av.FFmpegError:
        return None


def _ffmpeg_blocks(source: Source, info: AudioInfo, frames: int, label: str):
    """(n, channels) float32 blocks of `frames` at the stream's own rate and channel count, through FFmpeg."""
    import av

    pending, have = [], 0
    try:
        with _ffmpeg_open(source) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=info.sr)
            decoded = (out for frame in container.decode(stream) for out in resampler.resample(frame))
            for out in itertools.chain(decoded, resampler.resample(None)):
                pending.append(out.to_ndarray().T)
                have += out.samples
                while have >= frames:
                    block = np.concatenate(pending)
                    yield np.ascontiguousarray(block[:frames])
                    pending, have = [block[frames:]], have - frames
    except av.FFmpegError as e:
        raise AudioError(f"{label}: decoding failed partway through the file ({e}).") from None
    if have:
        yield np.ascontiguousarray(np.concatenate(pending))


def _blocks(source: Source, info: AudioInfo, frames: int, label: str, start: int = 0):
    """The file's samples from `start` as (n, channels) float32 blocks of `frames` (the last may be shorter)."""
    if info.ffmpeg:
        skip = start
        for block in _ffmpeg_blocks(source, info, frames, label):
            if skip >= len(block):
                skip -= len(block)
                continue
            yield block[skip:]
            skip = 0
        return
    with sf.SoundFile(_as_readable(source)) as f:
        if start:
            f.seek(start)
        while True:
            try:
                data = f.read(frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                raise AudioError(f"{label}: decoding failed partway through the file ({e}).") from None
            if len(data):
                yield data
            if len(data) < frames:
                return


def _header_warnings(source: Source, info: AudioInfo, label: str) -> list[str]:
    out = []
    if info.format == "WAV" and info.size_bytes:
        found = _wav_data_bytes(_first_bytes(source, 4096))
        if found:
            declared, offset = found
            available = info.size_bytes - offset
            if declared > available and declared != 0xFFFFFFFF:
                out.append(
                    f"{label}: the file is truncated or its header is wrong: the header promises "
                    f"{declared} bytes of audio, the file holds {max(available, 0)}; "
                    "using what is there."
                )
            elif declared < available - 1 and declared < 0.9 * available:
                out.append(
                    f"{label}: the wav header declares {declared} bytes of audio but the file "
                    f"holds {available}; only the declared part is read."
                )
    if info.sr < MODEL_SR:
        out.append(
            f"{label}: low sample rate ({info.sr} Hz): nothing above {info.sr // 2} Hz was recorded."
        )
    return out


def too_short_message(name: str, n: int, sr: int, limits: AudioLimits) -> str:
    return (f"{name}: the audio is too short: {n} sample{'s' if n != 1 else ''} "
            f"({1000 * n / sr:.1f} ms at {sr} Hz); at least {1000 * limits.min_duration_s:.0f} ms is needed.")


def validate(y: np.ndarray, sr: int, *, allow_silent: bool = False, name: str = "audio",
             limits: AudioLimits | None = None) -> None:
    """Check a decoded buffer.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], floating point
    sr : int > 0
    allow_silent : bool
        If False (default), an all-silent buffer raises.

    Raises
    ------
    AudioError
        Not floating point, wrong number of dimensions, empty, non-finite samples,
        shorter than ``limits.min_duration_s``, or silent.
    """
    limits = limits or AudioLimits()
    if not isinstance(y, np.ndarray):
        raise AudioError(f"{name}: audio must be a numpy array, got {type(y).__name__}")
    if not np.issubdtype(y.dtype, np.floating):
        raise AudioError(f"{name}: audio data must be floating-point, got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise AudioError(f"{name}: audio must be 1-D (mono) or 2-D (channels, samples), got shape {y.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(f"{name}: sample rate must be a positive integer, got {sr!r}")
    n = y.shape[-1]
    if n == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples).")
    bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
    if bad:
        raise AudioError(f"{name}: {bad} samples are NaN or infinite; the file is damaged.")
    if n / sr < limits.min_duration_s:
        raise AudioError(too_short_message(name, n, sr, limits))
    if not allow_silent and float(np.max(np.abs(y))) <= SILENCE_PEAK:
        raise AudioError(f"{name}: the audio is silent (every sample is at or below -90 dBFS).")


def to_mono(y: np.ndarray) -> np.ndarray:
    """(channels, n) or (n,) -> (n,) by averaging channels."""
    if y.ndim == 1:
        return y
    return y.mean(axis=0, dtype=np.float32)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality). Returns float32."""
    if orig_sr == target_sr:
        return y.astype(np.float32, copy=False)
    import soxr  # installed with librosa; imported lazily like the rest of the DSP stack

    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    # soxr wants (n, channels)
    return soxr.resample(y.T, orig_sr, target_sr, quality="HQ").T.astype(np.float32, copy=False)


def load(source: Source, *, sr: int | None = None, mono: bool = True, name: str | None = None,
         limits: AudioLimits | None = None, allow_silent: bool = False,
         offset_s: float = 0.0, duration_s: float | None = None) -> Audio:
    """Probe, decode, optionally mix to mono and resample.

    Parameters
    ----------
    source : path, bytes or binary file object
    sr : int, optional
        Target rate; ``None`` keeps the file's rate.
    mono : bool
        Average the channels (default).
    offset_s, duration_s : float
        Read only this window (the duration limit then applies to the window).

    Returns
    -------
    audio : Audio
        ``audio.y`` is float32 with shape ``(n,)`` if mono else ``(channels, n)``.

    Raises
    ------
    AudioError
        See :func:`probe` and :func:`validate`.

    Examples
    --------
    >>> a = load("dog.wav", sr=16_000)   # doctest: +SKIP
    >>> a.y.shape, a.sr
    ((80000,), 16000)
    """
    limits = limits or AudioLimits()
    label = name_of(source, name)
    window = duration_s is not None or offset_s > 0
    info = probe(source, name=label, limits=limits if not window else _no_duration_limit(limits))
    warnings = _header_warnings(source, info, label)
    start = max(0, int(round(offset_s * info.sr)))
    stop = info.frames if duration_s is None else min(info.frames, start + int(round(duration_s * info.sr)))
    if window and (stop - start) / info.sr > limits.max_duration_s:
        raise AudioError(f"{label}: the requested window is longer than {limits.max_duration_s:.0f} s.")
    parts, need = [], stop - start
    for block in _blocks(source, info, max(1, min(need, 30 * info.sr)), label, start):
        parts.append(block[:need])
        need -= len(parts[-1])
        if need <= 0:
            break
    data = np.concatenate(parts) if parts else np.zeros((0, info.channels), np.float32)
    file_sr = info.sr
    y = np.ascontiguousarray(data.T)  # (channels, n)
    if mono or y.shape[0] == 1:
        y = to_mono(y) if y.shape[0] > 1 else y[0]
    validate(y, file_sr, allow_silent=allow_silent, name=label, limits=limits)
    peak = float(np.max(np.abs(y)))
    if peak > 1.0:
        warnings.append(f"{label}: samples exceed full scale (peak {peak:.2f}); they are clipped for the models.")
    if sr is not None and sr != file_sr:
        y = resample(y, orig_sr=file_sr, target_sr=sr)
        file_sr = sr
    return Audio(y=y, sr=file_sr, info=info, name=label, warnings=tuple(warnings))


def stream(source: Source, *, sr: int = MODEL_SR, block_s: float = 30.0, name: str | None = None,
           limits: AudioLimits | None = None, on_decoded=None):
    """Probe `source`, then decode it block by block as mono float32 at `sr` (bounded memory).

    `on_decoded(samples)`, if given, sees each block as decoded, before mixing and resampling: (n, channels) float32 at
    the file's own rate (what the file's levels are measured on; a resampled copy can overshoot its peak).

    Returns
    -------
    info : AudioInfo
    blocks : iterator of np.ndarray [shape=(n,)]
        Consecutive, gap-free blocks of about `block_s` seconds (resampled with one streaming
        resampler, so block edges leave no artefacts). Raises AudioError on non-finite samples.

    Raises
    ------
    AudioError
        As :func:`probe`.
    """
    limits = limits or AudioLimits()
    label = name_of(source, name)
    info = probe(source, name=label, limits=limits)
    if info.duration_s < limits.min_duration_s:
        raise AudioError(too_short_message(label, info.frames, info.sr, limits))

    def blocks():
        import soxr

        resampler = soxr.ResampleStream(info.sr, sr, 1, dtype="float32", quality="HQ") if info.sr != sr else None
        frames = max(1, int(block_s * info.sr))
        decoded = _blocks(source, info, frames, label)
        data = next(decoded, None)
        while data is not None:
            following = next(decoded, None)
            last = following is None
            y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
            if not np.isfinite(y).all():
                raise AudioError(f"{label}: the audio holds NaN or infinite samples; the file is damaged.")
            if on_decoded is not None:
                on_decoded(data)
            if resampler is not None:
                y = resampler.resample_chunk(np.ascontiguousarray(y), last=last)
            if len(y):
                yield y
            data = following

    return info, blocks()


def _no_duration_limit(limits: AudioLimits) -> AudioLimits:
    from dataclasses import replace

    return replace(limits, max_duration_s=float("inf"))


def to_model_input(y: np.ndarray, sr: int) -> np.ndarray:
    """Any decoded buffer -> what the models take: mono, 16 kHz, float32, clipped to [-1, 1].

    Returns
    -------
    y16k : np.ndarray [shape=(n,), dtype=float32]
    """
    y = to_mono(np.asarray(y, dtype=np.float32))
    y = resample(y, orig_sr=sr, target_sr=MODEL_SR)
    return np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)

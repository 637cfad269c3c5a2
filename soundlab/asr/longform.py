"""Long-form transcription: chunks cut at pauses, one engine call per chunk, timestamps, language, notes.

Long audio is cut into chunks of at most `chunk_length_s` (<= 30 s, Whisper's window). Each cut is
placed at the quietest 100 ms within the last `stride_s` seconds of the chunk, so a cut falls in a
pause rather than through a word; chunks do not overlap, so nothing has to be merged and no text can
be lost or repeated at a seam. Each chunk is decoded with timestamps, which are shifted by the
chunk's start.

English-only models (``*.en``, distil-large-v3) are always run in English; when they are unsure of what they
heard (mean token log-probability below -1), the transcript carries a note that the speech may not be English.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from soundlab.errors import ParameterError

SAMPLE_RATE = 16_000  # Whisper's input rate
WHISPER_WINDOW_S = 30.0
LOW_CONFIDENCE_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4  # OpenAI's threshold for a decoding that got stuck repeating itself
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None


@dataclass
class Transcript:
    text: str
    segments: list[Segment]
    language: str | None  # ISO code, e.g. "en"
    language_probability: float | None  # None when not detected (given, or English-only model)
    task: str
    engine: str
    model: str
    duration_s: float
    seconds: float  # processing time
    chunks: int
    notes: list[str] = field(default_factory=list)

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.duration_s if self.duration_s else float("nan")

    def to_json(self) -> dict:
        d = asdict(self)
        d["segments"] = [asdict(s) for s in self.segments]
        d["real_time_factor"] = self.real_time_factor
        return d


def plan_chunks(y16k: np.ndarray, *, chunk_length_s: float = 30.0, stride_s: float = 5.0) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) sample ranges of at most `chunk_length_s`, each cut at the quietest
    100 ms within the last `stride_s` seconds of its chunk."""
    if not 5.0 <= chunk_length_s <= WHISPER_WINDOW_S:
        raise ParameterError(f"chunk_length_s must be between 5 and {WHISPER_WINDOW_S:.0f} s, got {chunk_length_s}")
    if not 0.0 <= stride_s < chunk_length_s / 2:
        raise ParameterError(f"stride_s must be >= 0 and below half the chunk length, got {stride_s}")
    n = len(y16k)
    size = int(chunk_length_s * SAMPLE_RATE)
    search = int(stride_s * SAMPLE_RATE)
    hop = int(0.02 * SAMPLE_RATE)
    win = int(0.1 * SAMPLE_RATE)
    chunks, start = [], 0
    while n - start > size:
        lo, hi = start + size - search, start + size
        if search >= win:
            region = y16k[lo:hi].astype(np.float64) ** 2
            # energy of each 100 ms window starting every 20 ms; cut in the middle of the quietest
            csum = np.concatenate([[0.0], np.cumsum(region)])
            starts = np.arange(0, len(region) - win + 1, hop)
            energy = csum[starts + win] - csum[starts]
            cut = lo + int(starts[int(np.argmin(energy))]) + win // 2
        else:
            cut = hi
        chunks.append((start, cut))
        start = cut
    chunks.append((start, n))
    return chunks


def transcribe(engine, y16k: np.ndarray, *, language: str | None = None, task: str = "transcribe",
               chunk_length_s: float = 30.0, stride_s: float = 5.0, progress: Progress | None = None) -> Transcript:
    """Transcribe (or translate to English) 16 kHz mono audio of any length.

    Parameters
    ----------
    language : str, optional
        ISO code ("en", "de"); None detects it (multilingual models).
    task : "transcribe" or "translate"
        Translation to English needs a multilingual model.
    """
    if task not in ("transcribe", "translate"):
        raise ParameterError(f"task must be transcribe or translate, got {task!r}")
    t0 = time.perf_counter()
    notes = []
    english_only = getattr(engine, "english_only", not engine.multilingual)
    prob = None
    if not engine.multilingual:
        if task == "translate":
            notes.append("This model is English-only: it cannot translate; it transcribes.")
            task = "transcribe"
        if language not in (None, "en"):
            notes.append(f"This model is English-only: language {language!r} was ignored.")
        language = "en"
    elif language is None:
        detected = engine.detect_language(y16k)
        if detected:
            language, prob = detected
    chunks = plan_chunks(y16k, chunk_length_s=chunk_length_s, stride_s=stride_s)
    segments: list[Segment] = []
    for i, (a, b) in enumerate(chunks):
        for s in engine.transcribe_chunk(y16k[a:b], language=language, task=task):
            off = a / SAMPLE_RATE
            end = min(s.end_s + off, b / SAMPLE_RATE)
            segments.append(Segment(round(s.start_s + off, 3), round(max(end, s.start_s + off), 3), s.text,
                                    s.avg_logprob))
        if progress:
            progress(i + 1, len(chunks))
    text = " ".join(s.text for s in segments).strip()
    logprobs = [s.avg_logprob for s in segments if s.avg_logprob is not None]
    mean_logprob = float(np.mean(logprobs)) if logprobs else None
    ratio = compression_ratio(text)
    doubtful = (mean_logprob is not None and mean_logprob < LOW_CONFIDENCE_LOGPROB) or ratio > MAX_COMPRESSION_RATIO
    why = (f"mean log-probability {mean_logprob:.2f}" if mean_logprob is not None else "") + \
          (f"{', ' if mean_logprob is not None else ''}the text repeats itself (compression ratio {ratio:.1f})"
           if ratio > MAX_COMPRESSION_RATIO else "")
    if english_only and doubtful:
        notes.append(f"This English-only model is unsure of what it heard ({why}). If the speech is not English, "
                     "the transcript is wrong: use a multilingual model (e.g. whisper-base) to transcribe or "
                     "translate it.")
    elif english_only:
        notes.append("English-only model: speech in other languages cannot be transcribed with it.")
    elif doubtful:
        notes.append(f"The model is unsure of this transcript ({why}); treat it with care.")
    return Transcript(text=text, segments=segments, language=language,
                      language_probability=prob, task=task, engine=engine.name, model=engine.model,
                      duration_s=len(y16k) / SAMPLE_RATE, seconds=time.perf_counter() - t0, chunks=len(chunks),
                      notes=notes)


def compression_ratio(text: str) -> float:
    """len(text) / len(zlib(text)): high for text that repeats itself (a failed decoding)."""
    import zlib

    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0



"""Long-form transcription: chunks cut at pauses, one engine call per chunk, timestamps, language, notes.

Long audio is cut into chunks of at most `chunk_length_s` (<= 30 s, Whisper's window). Each cut is
placed at the quietest 100 ms within the last `stride_s` seconds of the chunk, so a cut falls in a
pause rather than through a word; chunks do not overlap, so nothing has to be merged and no text can
be lost or repeated at a seam. Each chunk is decoded with timestamps, which are shifted by the
chunk's start. An engine with `transcribe_long` (faster-whisper) decodes the whole audio in its own sequential
30 s windows instead, each starting where the last complete segment ended: no chunk settings apply to it.
`progress(done, total)` counts chunks, or whole seconds of audio with such an engine.

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
# Language detection is "unsure" below this probability or margin over the second language. On a 4 s German clip
# whisper-base said German (0.32) on one CPU and Thai (0.25) on another: the first 30 s are then decoded with each
# of the top candidates and the language whose transcript the model finds most probable wins, as OpenAI's Whisper
# does for uncertain audio.
UNSURE_LANGUAGE_PROBABILITY = 0.6
UNSURE_LANGUAGE_MARGIN = 0.3
LANGUAGE_CANDIDATES = 3
MAX_COMPRESSION_RATIO = 2.4  # OpenAI's threshold for a decoding that got stuck repeating itself
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None
    # the text tokens avg_logprob covers (the transformers engine scores a chunk's tokens at once: its first segment
    # carries them all, the others 0), so that sum(avg_logprob * n_tokens) is the chunk's total log-probability
    n_tokens: int = 0


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
    chunks: int  # pause-aligned chunks, or the engine's own windows (chunk_kind)
    notes: list[str] = field(default_factory=list)
    language_candidates: list = field(default_factory=list)  # [(code, probability, mean log-probability or None)]
    language_unsure: bool = False  # detection was unsure: the language was chosen by decoding the candidates
    chunk_kind: str = "chunks"  # "chunks" (cut at pauses) or "windows" (the engine's own sequential 30 s windows)

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.duration_s if self.duration_s else float("nan")

    def to_json(self) -> dict:
        d = asdict(self)
        d["segments"] = [asdict(s) for s in self.segments]
        d["real_time_factor"] = self.real_time_factor
        return d


def check_chunking(chunk_length_s: float, stride_s: float) -> None:
    """Raise ParameterError for chunk settings plan_chunks cannot use."""
    if not 5.0 <= chunk_length_s <= WHISPER_WINDOW_S:
        raise ParameterError(f"chunk_length_s must be between 5 and {WHISPER_WINDOW_S:.0f} s, got {chunk_length_s}")
    if not 0.0 <= stride_s < chunk_length_s / 2:
        raise ParameterError(f"stride_s must be >= 0 and below half the chunk length, got {stride_s}")


def plan_chunks(y16k: np.ndarray, *, chunk_length_s: float = 30.0, stride_s: float = 5.0) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) sample ranges of at most `chunk_length_s`, each cut at the quietest
    100 ms within the last `stride_s` seconds of its chunk."""
    check_chunking(chunk_length_s, stride_s)
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
            notes.append("This model is English-only: it cannot translate, so it transcribes. Choose a multilingual "
                         "model (e.g. whisper-base) to translate.")
            task = "transcribe"
        if language not in (None, "en"):
            notes.append(f"This model is English-only: language {language!r} was ignored.")
        language = "en"
    candidates, unsure = [], False
    if engine.multilingual and language is None:
        language, prob, candidates, unsure = choose_language(engine, y16k, task=task)
        if unsure:
            notes.append("The language was hard to tell from the sound alone ("
                         + ", ".join(f"{c} {p:.0%}" for c, p, _ in candidates) + f"); {language} was chosen because "
                         "its transcript is the one the model finds most probable.")
    check_chunking(chunk_length_s, stride_s)  # bad settings are refused with either engine
    segments: list[Segment] = []
    if hasattr(engine, "transcribe_long"):  # faster-whisper: its own sequential windows (its docstring says why)
        found, n_parts = engine.transcribe_long(y16k, language=language, task=task, progress=progress)
        duration = len(y16k) / SAMPLE_RATE
        segments = [Segment(round(s.start_s, 3), round(max(min(s.end_s, duration), s.start_s), 3), s.text,
                            s.avg_logprob, s.n_tokens) for s in found]
        kind = "windows"
    else:
        chunks = plan_chunks(y16k, chunk_length_s=chunk_length_s, stride_s=stride_s)
        for i, (a, b) in enumerate(chunks):
            for s in engine.transcribe_chunk(y16k[a:b], language=language, task=task):
                off = a / SAMPLE_RATE
                end = min(s.end_s + off, b / SAMPLE_RATE)
                segments.append(Segment(round(s.start_s + off, 3), round(max(end, s.start_s + off), 3), s.text,
                                        s.avg_logprob, s.n_tokens))
            if progress:
                progress(i + 1, len(chunks))
        n_parts, kind = len(chunks), "chunks"
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
                      language_probability=prob, language_candidates=candidates, language_unsure=unsure, task=task, engine=engine.name, model=engine.model,
                      duration_s=len(y16k) / SAMPLE_RATE, seconds=time.perf_counter() - t0, chunks=n_parts,
                      chunk_kind=kind, notes=notes)


def choose_language(engine, y16k: np.ndarray, *, task: str = "transcribe"
                    ) -> tuple[str | None, float | None, list, bool]:
    """(language, its detection probability, candidates, unsure). When the detection is unsure (top probability or
    margin small), the first 30 s are decoded with each of the top candidates, and the language with the most
    probable (language, transcript) pair wins: log p(language | audio) + log p(transcript | audio, language), the
    transcript's *total* token log-probability. (Not the mean per token: a script written in many byte-level tokens,
    such as Thai, has easy tokens after each character's first byte and a high mean for gibberish; on a 4 s German
    clip the Thai decoding had the best mean, -0.86 vs -1.28, and the worst total.) Candidates carry that score."""
    found = engine.language_probabilities(y16k, top=LANGUAGE_CANDIDATES)
    if not found:
        return None, None, [], False
    (best, p1), p2 = found[0], (found[1][1] if len(found) > 1 else 0.0)
    if p1 >= UNSURE_LANGUAGE_PROBABILITY and p1 - p2 >= UNSURE_LANGUAGE_MARGIN:
        return best, p1, [(c, p, None) for c, p in found], False
    head = y16k[: int(WHISPER_WINDOW_S * SAMPLE_RATE)]
    scored = []
    for code, p in found:
        # the language is a property of the speech: always score the transcription, also when translating
        segs = engine.transcribe_chunk(head, language=code, task="transcribe")  # greedy: deterministic
        scored_segs = [s for s in segs if s.avg_logprob is not None and s.n_tokens > 0]
        text = " ".join(s.text for s in segs)
        # a decoding stuck repeating itself scores a high log-probability: OpenAI's Whisper rejects it by its
        # compression ratio, and so does this
        looped = compression_ratio(text) > MAX_COMPRESSION_RATIO
        total = sum(s.avg_logprob * s.n_tokens for s in scored_segs)
        scored.append((code, p, float(np.log(max(p, 1e-9)) + total) if scored_segs and not looped else float("-inf")))
    code, p, _ = max(scored, key=lambda c: (c[2], c[1]))
    return code, p, scored, True


def compression_ratio(text: str) -> float:
    """len(text) / len(zlib(text)): high for text that repeats itself (a failed decoding)."""
    import zlib

    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0



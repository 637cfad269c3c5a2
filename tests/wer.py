"""Word error rate, for the transcription tests and benchmarks (the app itself never needs it)."""

from __future__ import annotations


def word_error_rate(reference: str, hypothesis: str, *, english: bool = True) -> float:
    """WER after Whisper's text normalisation (English: numbers and spellings standardised)."""
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer, EnglishTextNormalizer

    norm = EnglishTextNormalizer({}) if english else BasicTextNormalizer()
    ref, hyp = norm(reference).split(), norm(hypothesis).split()
    if not ref:
        return float(len(hyp) > 0)
    # Levenshtein distance over words
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)

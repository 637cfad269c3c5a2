"""The speech gate: does the backbone hear speech in enough of the audio to transcribe it?

Whisper transcribes a dog bark into invented words; the Transcribe page and CLI first ask the backbone (YAMNet
by default) how much of the audio is speech and withhold the transcript below `MIN_SPEECH_SHARE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPEECH_TAG = "Speech"  # the AudioSet class the gate reads
SPEECH_FRAME_SCORE = 0.5
MIN_SPEECH_SHARE = 0.2


@dataclass(frozen=True)
class SpeechGate:
    share: float  # of the backbone's frames whose Speech score is >= SPEECH_FRAME_SCORE
    frames: int
    passed: bool
    tagger: str = "YAMNet"

    def message(self) -> str:
        if self.passed:
            return f"{self.tagger} hears speech in {self.share:.0%} of the audio."
        return (f"{self.tagger} hears almost no speech ({self.share:.0%} of the audio); Whisper would transcribe "
                "noise as words, so the transcript is withheld.")


def speech_gate(y: np.ndarray, backbone, *, block_s: float = 60.0) -> SpeechGate:
    """Share of the backbone's frames that are speech, computed block by block (bounded memory).

    `y` is mono at the backbone's rate (16 kHz for YAMNet and Whisper alike).
    """
    params = backbone.params
    speech_index = backbone.tag_index(SPEECH_TAG)
    block = int(block_s * params.sample_rate_hz)
    hop = params.hop_samples
    speech = frames = 0
    for a in range(0, max(len(y), 1), block):
        part = y[a : a + block + hop]  # a frame's overlap into the next block
        if len(part) == 0:
            break
        scores = backbone(part).scores[:, speech_index]
        keep = scores[: max(1, int(np.ceil(min(block, len(y) - a) / hop)))]
        speech += int(np.sum(keep >= SPEECH_FRAME_SCORE))
        frames += len(keep)
    share = speech / frames if frames else 0.0
    return SpeechGate(share=share, frames=frames, passed=share >= MIN_SPEECH_SHARE, tagger=backbone.short_name)

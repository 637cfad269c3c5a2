"""Transcript exports: plain text, SubRip (.srt), WebVTT (.vtt) and JSON."""

from __future__ import annotations

import json

from soundlab.asr.longform import Segment, Transcript
from soundlab.errors import ParameterError


def _clock(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[Segment]) -> str:
    blocks = [f"{i}\n{_clock(s.start_s, ',')} --> {_clock(s.end_s, ',')}\n{s.text}\n" for i, s in
              enumerate(segments, 1)]
    return "\n".join(blocks)


def to_vtt(segments: list[Segment]) -> str:
    blocks = [f"{_clock(s.start_s, '.')} --> {_clock(s.end_s, '.')}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_txt(t: Transcript) -> str:
    return t.text + "\n"


def export(t: Transcript, fmt: str) -> str:
    if fmt == "txt":
        return to_txt(t)
    if fmt == "srt":
        return to_srt(t.segments)
    if fmt == "vtt":
        return to_vtt(t.segments)
    if fmt == "json":
        return json.dumps(t.to_json(), indent=1, ensure_ascii=False)
    raise ParameterError(f"unknown format {fmt!r}; use txt, srt, vtt or json")

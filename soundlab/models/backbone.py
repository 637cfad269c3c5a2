"""The backbone interface: a pretrained audio network that turns a waveform into frames of embeddings and
AudioSet tag scores, and the registry that finds one by name.

Everything downstream (the heads, the embedding cache, the open-set check, the timeline, live mode, the speech
gate) talks to this interface only. A new backbone is one module that defines a `Backbone` subclass, its
`PARAMS` and a ``load(settings)`` function, plus one line in `REGISTRY`.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundlab.errors import AudioError, ModelError


@dataclass(frozen=True)
class BackboneParams:
    """What a backbone takes and gives: the numbers every other module derives its own from."""

    sample_rate_hz: int  # mono float32 input in [-1, 1] at this rate
    frame_window_s: float  # audio one output frame covers
    frame_hop_s: float  # time between the starts of consecutive frames
    min_input_s: float  # shortest input that yields one frame (shorter input is zero-padded to it)
    embedding_dim: int
    n_tags: int  # AudioSet classes scored per frame

    @property
    def hop_samples(self) -> int:
        return int(round(self.frame_hop_s * self.sample_rate_hz))

    @property
    def min_samples(self) -> int:
        return int(round(self.min_input_s * self.sample_rate_hz))


SILENCE_TAG = "Silence"  # the AudioSet class both backbones score; a frame scored above SILENT_FRAME is silence
SILENT_FRAME = 0.5


def sound_pooled(embeddings: np.ndarray, scores: np.ndarray, silence_index: int | None) -> np.ndarray:
    """(d,) the mean embedding of the frames that are not silence (all frames if every one is, or if the backbone
    has no silence tag). Many ESC-50 clips are a short sound padded with digital silence to 5 s: their plain mean
    embedding is mostly the embedding of silence, so with YAMNet hundreds of unrelated clips end up within 0.002 of
    each other. Sound search and the near-duplicate check compare sounds, so they use this."""
    if silence_index is None or len(embeddings) == 0:
        return embeddings.mean(axis=0)
    keep = np.asarray(scores[:, silence_index], np.float32) < SILENT_FRAME
    return embeddings[keep].mean(axis=0) if keep.any() else embeddings.mean(axis=0)


def read_tag_names(path: Path, n_tags: int, what: str) -> list[str]:
    """AudioSet display names in logit order from an ``index,mid,display_name`` csv (both backbones ship one);
    `what` names the file in messages ("the YAMNet class map")."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        names = [r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"]))]
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"cannot read {what} {path}: {e}") from None
    if len(names) != n_tags:
        raise ModelError(f"{what} {path} has {len(names)} classes, expected {n_tags}")
    return names


def silence_index(tag_names: list[str]) -> int | None:
    """The position of the AudioSet "Silence" tag, or None."""
    return tag_names.index(SILENCE_TAG) if SILENCE_TAG in tag_names else None


@dataclass(frozen=True)
class BackboneOutput:
    """What a backbone gives for one waveform."""

    embeddings: np.ndarray  # (frames, embedding_dim) float32
    scores: np.ndarray  # (frames, n_tags) float32, AudioSet tag scores in [0, 1]
    log_mel: np.ndarray | None = None  # the model's own spectrogram, if it exposes one
    clip_scores: np.ndarray | None = None  # (n_tags,) the model's own tags for the whole input, if it has them

    @property
    def pooled_embedding(self) -> np.ndarray:
        """(embedding_dim,) the mean over frames."""
        return self.embeddings.mean(axis=0)

    @property
    def pooled_scores(self) -> np.ndarray:
        """(n_tags,) tags of the whole input: the model's own clip-level output if it has one (EfficientAT), else the
        mean over frames (YAMNet's documented way)."""
        return self.clip_scores if self.clip_scores is not None else self.scores.mean(axis=0)


class Backbone(ABC):
    """One loaded backbone. Implementations are thread-safe: Streamlit sessions share one instance."""

    key: str  # registry name, e.g. "yamnet"
    name: str  # for people, e.g. "YAMNet (TFLite)"
    short_name: str  # in sentences, e.g. "YAMNet hears: Speech"
    fingerprint: str  # changes whenever the weights change; runs and caches record it
    params: BackboneParams
    tag_names: list[str]  # AudioSet display names in score order
    runtime: str = ""

    @abstractmethod
    def embed(self, y: np.ndarray) -> BackboneOutput:
        """(n,) float32 mono at ``params.sample_rate_hz`` -> frames of embeddings and tag scores."""

    def __call__(self, y: np.ndarray) -> BackboneOutput:
        return self.embed(y)

    def fine_tuned(self, path: Path, n_classes: int):
        """A network fine-tuned end to end from this backbone's weights, for inference on its windows (called with a
        window's waveform; returns clip and frame probabilities). Only backbones that can be fine-tuned have one."""
        raise ModelError(f"{self.name} has no fine-tuned networks; a fused model needs the backbone it was "
                         "fine-tuned from")

    def beside(self) -> Backbone:
        """This backbone for passes that run beside another model's on a shared machine (a fused model's second
        backbone, `soundlab.classify`): the same weights and outputs, sized not to compete for the other's core."""
        return self

    def frame_starts(self, n_frames: int) -> np.ndarray:
        """Start time in seconds of each frame (each covers ``params.frame_window_s``)."""
        return np.arange(n_frames) * self.params.frame_hop_s

    def tag_index(self, display_name: str) -> int:
        """Index of an AudioSet class in this backbone's scores (ModelError if it has none by that name)."""
        try:
            return self.tag_names.index(display_name)
        except ValueError:
            raise ModelError(f"{self.name} has no AudioSet class {display_name!r}") from None

    def check_input(self, y: np.ndarray) -> np.ndarray:
        """Validate a waveform and zero-pad it to the shortest input that gives one frame."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise AudioError(f"{self.name} needs a 1-D mono waveform, got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.floating):
            raise AudioError(f"{self.name} needs floating-point samples, got dtype {y.dtype}")
        if y.size == 0:
            raise AudioError(f"{self.name} got an empty waveform")
        if not np.isfinite(y).all():
            raise AudioError(f"{self.name} got NaN or infinite samples")
        y = np.clip(y.astype(np.float32, copy=False), -1.0, 1.0)
        short = self.params.min_samples - len(y)
        return np.pad(y, (0, short)) if short > 0 else y


@dataclass(frozen=True)
class BackboneStatus:
    """What a backbone needs on disk and whether it is there (cheap: no loading), for the Home page."""

    key: str
    name: str
    files: tuple[tuple[str, Path, bool], ...]  # (what, where, present)
    note: str = ""  # where it comes from, or how to get what is missing

    @property
    def ready(self) -> bool:
        return all(present for _, _, present in self.files)


# name -> module defining PARAMS, load(settings) -> Backbone, status(settings) -> BackboneStatus and
# tag_names(settings) -> list[str]. Modules are imported only when used, so the
# app never imports torch for a page that needs only YAMNet.
REGISTRY: dict[str, str] = {
    "yamnet": "soundlab.models.yamnet",
    "efficientat": "soundlab.models.efficientat",
}
DEFAULT = "yamnet"


def _module(key: str):
    if key not in REGISTRY:
        raise ModelError(f"unknown backbone {key!r}; known: {', '.join(REGISTRY)}")
    return importlib.import_module(REGISTRY[key])


def params_of(key: str) -> BackboneParams:
    """A backbone's parameters without loading its weights."""
    return _module(key).PARAMS


def tag_names_of(key: str, settings) -> list[str]:
    """A backbone's AudioSet tag names (from its label file), without loading its weights. Raises ModelError."""
    return _module(key).tag_names(settings)


def status(key: str, settings) -> BackboneStatus:
    """What backbone `key` needs on disk and whether it is there, without loading it."""
    return _module(key).status(settings)


def load_backbone(key: str = DEFAULT, settings=None) -> Backbone:
    """Load the backbone registered as `key`, configured by `settings` (default: the environment).

    Raises
    ------
    ModelError
        An unknown name, or a model that cannot be loaded (the message says what to do).
    """
    module = _module(key)
    if settings is None:
        from soundlab.config import get_settings

        settings = get_settings()
    return module.load(settings)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

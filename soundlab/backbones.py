"""YAMNet behind one interface: waveform in; per-frame AudioSet scores, embeddings and the log-mel out.

YAMNet (Google, AudioSet, 521 classes) takes 16 kHz mono float32 in [-1, 1] and produces one frame
per 0.48 s hop over 0.96 s windows: a 5 s clip gives 10 frames. Two implementations:

* :class:`TFLiteYamnet` -- the TFLite file shipped in ``model_artifacts/`` (int8 weights, float32
  activations), run with LiteRT (``ai-edge-litert``) or, if that is missing, TF's own interpreter.
  The default; works offline.
* :class:`HubYamnet` -- ``tensorflow_hub.load(handle)`` where the handle is a URL (default
  ``https://tfhub.dev/google/yamnet/1``) or a local SavedModel folder.

Their embeddings differ slightly (the TFLite weights are int8). Each backbone has a `fingerprint`
that embeddings and trained heads record, so a head is never silently used on another backbone.
"""

from __future__ import annotations

import csv
import hashlib
import os
import socket
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from soundlab.errors import SoundLabError

SAMPLE_RATE = 16_000
FRAME_WINDOW_S = 0.96
FRAME_HOP_S = 0.48
MIN_SAMPLES = 15_600  # 0.975 s: the shortest input that yields one frame of scores (YAMNet README)
N_AUDIOSET = 521
EMBEDDING_DIM = 1024
DEFAULT_HUB_HANDLE = "https://tfhub.dev/google/yamnet/1"


class ModelError(SoundLabError, RuntimeError):
    """A model that cannot be loaded or used (missing, corrupt, offline, mismatched); says what to do."""


@dataclass(frozen=True)
class BackboneOutput:
    """What YAMNet gives for one waveform."""

    scores: np.ndarray  # (frames, 521) float32, AudioSet class scores in [0, 1]
    embeddings: np.ndarray  # (frames, 1024) float32
    log_mel: np.ndarray  # (rows, 64) float32, the model's own log-mel spectrogram

    @property
    def n_frames(self) -> int:
        return int(self.scores.shape[0])


class Backbone(Protocol):
    name: str
    fingerprint: str
    class_names: list[str]

    def __call__(self, y16k: np.ndarray) -> BackboneOutput: ...


def frame_starts(n_frames: int) -> np.ndarray:
    """Start time in seconds of each YAMNet frame (each covers 0.96 s)."""
    return np.arange(n_frames) * FRAME_HOP_S


def pad_waveform(y16k: np.ndarray) -> np.ndarray:
    """Pads waveform with silence if needed to get at least one frame (0.975 s)."""
    if len(y16k) >= MIN_SAMPLES:
        return y16k
    return np.pad(y16k, (0, MIN_SAMPLES - len(y16k)))


def _check_input(y16k: np.ndarray) -> np.ndarray:
    from soundlab.errors import AudioError

    y = np.asarray(y16k)
    if y.ndim != 1:
        raise AudioError(f"YAMNet needs a 1-D mono waveform, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise AudioError(f"YAMNet needs floating-point samples, got dtype {y.dtype}")
    if y.size == 0:
        raise AudioError("YAMNet got an empty waveform")
    if not np.isfinite(y).all():
        raise AudioError("YAMNet got NaN or infinite samples")
    return pad_waveform(np.clip(y.astype(np.float32, copy=False), -1.0, 1.0))


def read_class_map(path: Path) -> list[str]:
    """AudioSet display names in index order from ``yamnet_class_map.csv``."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        names = [r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"]))]
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"cannot read the YAMNet class map {path}: {e}") from None
    if len(names) != N_AUDIOSET:
        raise ModelError(f"the YAMNet class map {path} has {len(names)} classes, expected {N_AUDIOSET}")
    return names


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TFLiteYamnet:
    """YAMNet from a .tflite file. Thread-safe: calls are serialised with a lock.

    One interpreter per process is enough here: an invoke on a 5 s clip takes ~11 ms with two
    XNNPACK threads, and Streamlit sessions share the object through ``st.cache_resource``.
    """

    name = "YAMNet (TFLite)"

    def __init__(self, model_path: Path, class_map_path: Path, *, num_threads: int = 2):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelError(
                f"YAMNet model file not found: {model_path}. It ships in model_artifacts/ "
                "(restore it with `git checkout model_artifacts/yamnet.tflite`), or set SOUNDLAB_YAMNET "
                "to another .tflite file or a TF Hub handle."
            )
        self.model_path = model_path
        self.class_names = read_class_map(class_map_path)
        self.fingerprint = f"yamnet-tflite-{file_sha256(model_path)[:16]}"
        try:
            from ai_edge_litert.interpreter import Interpreter

            self.runtime = "LiteRT"
        except ImportError:  # pragma: no cover - LiteRT is in requirements.txt
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
            self.runtime = "tf.lite"
        try:
            self._interp = Interpreter(model_path=str(model_path), num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{model_path} is not a usable TFLite model ({e}). Restore the shipped file with "
                             "`git checkout model_artifacts/yamnet.tflite`.") from None
        self._input = self._interp.get_input_details()[0]["index"]
        # outputs by width: 521 scores, 1024 embeddings, 64 log-mel bands
        by_width = {int(o["shape_signature"][-1]): o["index"] for o in self._interp.get_output_details()}
        try:
            self._out_scores, self._out_emb, self._out_mel = by_width[N_AUDIOSET], by_width[EMBEDDING_DIM], by_width[64]
        except KeyError:
            raise ModelError(f"{model_path} does not have YAMNet's outputs (scores, embeddings, log-mel)") from None
        self._length = None
        self._lock = threading.Lock()

    def __call__(self, y16k: np.ndarray) -> BackboneOutput:
        y = _check_input(y16k)
        with self._lock:
            if self._length != len(y):
                self._interp.resize_tensor_input(self._input, [len(y)], strict=False)
                self._interp.allocate_tensors()
                self._length = len(y)
            self._interp.set_tensor(self._input, y)
            self._interp.invoke()
            return BackboneOutput(
                scores=self._interp.get_tensor(self._out_scores).copy(),
                embeddings=self._interp.get_tensor(self._out_emb).copy(),
                log_mel=self._interp.get_tensor(self._out_mel).copy(),
            )


def _hub_cache_dir() -> Path:
    return Path(os.environ.get("TFHUB_CACHE_DIR") or Path(tempfile.gettempdir()) / "tfhub_modules")


def _hub_is_cached(handle: str) -> bool:
    folder = _hub_cache_dir() / hashlib.sha1(handle.encode("utf8")).hexdigest()
    return (folder / "saved_model.pb").is_file()


def _check_reachable(url: str, timeout_s: float = 3.0) -> None:
    parts = urllib.parse.urlparse(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        raise ModelError(
            f"Cannot reach {host} to fetch the YAMNet model {url} ({e}); this machine looks offline. "
            "Use the shipped TFLite model (unset SOUNDLAB_YAMNET), or download the model where there is "
            "internet (e.g. https://www.kaggle.com/models/google/yamnet/tensorFlow2/yamnet/1, unpacked to a "
            "folder with saved_model.pb) and set SOUNDLAB_YAMNET=/path/to/that/folder."
        ) from None


class HubYamnet:
    """YAMNet through ``tensorflow_hub.load``: a URL handle or a local SavedModel folder."""

    name = "YAMNet (TF Hub)"

    def __init__(self, handle: str, class_map_path: Path | None = None):
        local = Path(handle).expanduser()
        is_url = "://" in handle
        if not is_url:
            if not (local / "saved_model.pb").is_file():
                raise ModelError(f"{handle} is not a SavedModel folder (no saved_model.pb). Point SOUNDLAB_YAMNET at "
                                 "an unpacked YAMNet SavedModel, a .tflite file, or a TF Hub URL.")
            handle = str(local.resolve())
            h = hashlib.sha256()
            for part in ("saved_model.pb", "variables/variables.index"):
                if (local / part).is_file():
                    h.update(file_sha256(local / part).encode())
            self.fingerprint = f"yamnet-hub-{h.hexdigest()[:16]}"
        else:
            self.fingerprint = f"yamnet-hub-{hashlib.sha256(handle.encode()).hexdigest()[:16]}"
            if not _hub_is_cached(handle):
                _check_reachable(handle)
        self.handle = handle
        import tensorflow_hub as hub  # deferred: imports TensorFlow

        try:
            self._model = hub.load(handle)
        except Exception as e:  # TF raises many types for a broken SavedModel
            raise ModelError(f"could not load YAMNet from {handle}: {type(e).__name__}: {e}") from None
        names = None
        if hasattr(self._model, "class_map_path"):
            try:
                names = read_class_map(Path(self._model.class_map_path().numpy().decode()))
            except (ModelError, Exception):
                names = None
        if names is None:
            if class_map_path is None:
                raise ModelError(f"{handle} has no class map; the YAMNet class map csv is needed")
            names = read_class_map(class_map_path)
        self.class_names = names
        self._lock = threading.Lock()
        self.runtime = "TensorFlow"

    def __call__(self, y16k: np.ndarray) -> BackboneOutput:
        y = _check_input(y16k)
        with self._lock:  # TF functions are thread-safe, but one at a time keeps memory bounded
            scores, embeddings, log_mel = self._model(y)
        return BackboneOutput(scores=np.asarray(scores, np.float32), embeddings=np.asarray(embeddings, np.float32),
                              log_mel=np.asarray(log_mel, np.float32))


def load_backbone(spec: str, artifacts_dir: Path) -> Backbone:
    """Build the backbone named by the SOUNDLAB_YAMNET setting.

    `spec` is "tflite" (the shipped model_artifacts/yamnet.tflite), a path to a .tflite file,
    "hub" (the default TF Hub URL), a URL, or a local SavedModel folder.
    """
    class_map = Path(artifacts_dir) / "yamnet_class_map.csv"
    spec = (spec or "tflite").strip()
    if spec == "tflite":
        return TFLiteYamnet(Path(artifacts_dir) / "yamnet.tflite", class_map)
    if spec.endswith(".tflite"):
        return TFLiteYamnet(Path(spec).expanduser(), class_map)
    if spec == "hub":
        spec = DEFAULT_HUB_HANDLE
    return HubYamnet(spec, class_map if class_map.is_file() else None)

"""YAMNet behind the backbone interface: 16 kHz waveform in; per-frame AudioSet scores and embeddings out.

YAMNet (Google, AudioSet, 521 classes) takes 16 kHz mono float32 in [-1, 1] and produces one frame
per 0.48 s hop over 0.96 s windows: a 5 s clip gives 10 frames. Two implementations:

* :class:`TFLiteYamnet` -- the TFLite file shipped in ``model_artifacts/`` (int8 weights, float32
  activations), run with LiteRT (``ai-edge-litert``) or, if that is missing, TF's own interpreter.
  The default; works offline.
* :class:`HubYamnet` -- ``tensorflow_hub.load(handle)`` where the handle is a URL (default
  ``https://tfhub.dev/google/yamnet/1``) or a local SavedModel folder.

Their embeddings differ slightly (the TFLite weights are int8). Each has a `fingerprint` that embeddings and
trained runs record, so a head is never silently used on another backbone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import urllib.parse
from pathlib import Path

import numpy as np

from soundlab.errors import ModelError
from soundlab.models.backbone import (
    Backbone,
    BackboneOutput,
    BackboneParams,
    BackboneStatus,
    file_sha256,
    read_tag_names,
)

PARAMS = BackboneParams(
    sample_rate_hz=16_000,
    frame_window_s=0.96,
    frame_hop_s=0.48,
    min_input_s=0.975,  # 15,600 samples: the shortest input that yields one frame of scores (YAMNet README)
    embedding_dim=1024,
    n_tags=521,
)
LOG_MEL_BANDS = 64
TFLITE_FILE = "yamnet.tflite"
CLASS_MAP_FILE = "yamnet_class_map.csv"
DEFAULT_HUB_HANDLE = "https://tfhub.dev/google/yamnet/1"


def read_class_map(path: Path) -> list[str]:
    """AudioSet display names in index order from ``yamnet_class_map.csv``."""
    return read_tag_names(path, PARAMS.n_tags, "the YAMNet class map")


class TFLiteYamnet(Backbone):
    """YAMNet from a .tflite file. Thread-safe: calls are serialised with a lock.

    One interpreter per process is enough here: an invoke on a 5 s clip takes ~11 ms with two
    XNNPACK threads, and Streamlit sessions share the object through ``st.cache_resource``.
    """

    key = "yamnet"
    short_name = "YAMNet"
    name = "YAMNet (TFLite)"
    params = PARAMS

    def __init__(self, model_path: Path, class_map_path: Path, *, num_threads: int = 2):
        model_path = Path(model_path)
        self.class_map_path, self.num_threads = Path(class_map_path), num_threads
        self._beside: TFLiteYamnet | None = None
        if not model_path.is_file():
            raise ModelError(
                f"YAMNet model file not found: {model_path}. It ships in model_artifacts/ "
                "(restore it with `git checkout model_artifacts/yamnet.tflite`), or set SOUNDLAB_YAMNET "
                "to another .tflite file or a TF Hub handle."
            )
        self.model_path = model_path
        self.tag_names = read_class_map(class_map_path)
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
            self._out_scores, self._out_emb, self._out_mel = (by_width[PARAMS.n_tags], by_width[PARAMS.embedding_dim],
                                                              by_width[LOG_MEL_BANDS])
        except KeyError:
            raise ModelError(f"{model_path} does not have YAMNet's outputs (scores, embeddings, log-mel)") from None
        self._length = None
        self._lock = threading.Lock()

    def beside(self) -> Backbone:
        """A one-thread twin: beside the fine-tuned network and EfficientAT (one OpenMP thread each) on two cores, a
        second XNNPACK thread only competes with them (bench/RESULTS.md, bench_classify)."""
        if self.num_threads == 1:
            return self
        with self._lock:
            if self._beside is None:
                self._beside = TFLiteYamnet(self.model_path, self.class_map_path, num_threads=1)
            return self._beside

    def embed(self, y: np.ndarray) -> BackboneOutput:
        y = self.check_input(y)
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


class HubYamnet(Backbone):
    """YAMNet through ``tensorflow_hub.load``: a URL handle or a local SavedModel folder."""

    key = "yamnet"
    short_name = "YAMNet"
    name = "YAMNet (TF Hub)"
    params = PARAMS

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
            # The asset can be missing or unreadable in a re-exported SavedModel, and TF raises its own error
            # types for that (tf.errors.*, not a common base we can import cheaply): fall back to the shipped map.
            except Exception:  # noqa: BLE001
                names = None
        if names is None:
            if class_map_path is None:
                raise ModelError(f"{handle} has no class map; the YAMNet class map csv is needed")
            names = read_class_map(class_map_path)
        self.tag_names = names
        self._lock = threading.Lock()
        self.runtime = "TensorFlow"

    def embed(self, y: np.ndarray) -> BackboneOutput:
        y = self.check_input(y)
        with self._lock:  # TF functions are thread-safe, but one at a time keeps memory bounded
            scores, embeddings, log_mel = self._model(y)
        return BackboneOutput(scores=np.asarray(scores, np.float32), embeddings=np.asarray(embeddings, np.float32),
                              log_mel=np.asarray(log_mel, np.float32))


def load_yamnet(spec: str, artifacts_dir: Path) -> Backbone:
    """YAMNet as the SOUNDLAB_YAMNET setting names it.

    `spec` is "tflite" (the shipped model_artifacts/yamnet.tflite), a path to a .tflite file,
    "hub" (the default TF Hub URL), a URL, or a local SavedModel folder.
    """
    class_map = Path(artifacts_dir) / CLASS_MAP_FILE
    spec = (spec or "tflite").strip()
    if spec == "tflite":
        return TFLiteYamnet(Path(artifacts_dir) / TFLITE_FILE, class_map)
    if spec.endswith(".tflite"):
        return TFLiteYamnet(Path(spec).expanduser(), class_map)
    if spec == "hub":
        spec = DEFAULT_HUB_HANDLE
    return HubYamnet(spec, class_map if class_map.is_file() else None)


def load(settings) -> Backbone:
    """The registry's entry point (see `soundlab.models.backbone`)."""
    return load_yamnet(settings.yamnet, settings.artifacts_dir)


def status(settings) -> BackboneStatus:
    """The files SOUNDLAB_YAMNET points at, and whether they are there."""
    art = Path(settings.artifacts_dir)
    spec = (settings.yamnet or "tflite").strip()
    class_map = ("YAMNet AudioSet class map", art / CLASS_MAP_FILE, (art / CLASS_MAP_FILE).is_file())
    if spec == "tflite" or spec.endswith(".tflite"):
        model = art / TFLITE_FILE if spec == "tflite" else Path(spec).expanduser()
        return BackboneStatus("yamnet", "YAMNet (TFLite)", (("YAMNet TFLite model", model, model.is_file()), class_map),
                              "Ships in model_artifacts/; restore it with `git checkout model_artifacts/`.")
    if spec == "hub" or "://" in spec:
        handle = DEFAULT_HUB_HANDLE if spec == "hub" else spec
        return BackboneStatus("yamnet", "YAMNet (TF Hub)", (class_map,),
                              f"Loaded from {handle} on first use (needs internet once"
                              f"{', cached already' if _hub_is_cached(handle) else ''}).")
    folder = Path(spec).expanduser()
    return BackboneStatus("yamnet", "YAMNet (SavedModel folder)",
                          (("YAMNet SavedModel", folder / "saved_model.pb", (folder / "saved_model.pb").is_file()),
                           class_map), "Set by SOUNDLAB_YAMNET.")


def tag_names(settings) -> list[str]:
    return read_class_map(Path(settings.artifacts_dir) / CLASS_MAP_FILE)

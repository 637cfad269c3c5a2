"""Settings and paths. Every setting is an environment variable with a safe default.

`SETTINGS` describes each variable once; docs/configuration.md is generated from it (`python -m soundlab settings
--markdown`, checked by tests/test_config.py). Settings are read when :func:`get_settings` is called, not at import
time, so a test (or a user in a shell) can change them without reloading modules.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from soundlab.errors import SettingsError

PROJ_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ROOT = PROJ_ROOT / "sample"
DEFAULT_ESC50_ROOT = PROJ_ROOT / "data" / "ESC-50"
DEFAULT_URBANSOUND8K_ROOT = PROJ_ROOT / "data" / "UrbanSound8K"
DATASET_KINDS = ("esc50", "urbansound8k", "folder", "csv")
DEFAULT_ARTIFACTS_DIR = PROJ_ROOT / "model_artifacts"
DEFAULT_CACHE_DIR = PROJ_ROOT / ".cache"
ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/master.zip"


@dataclass(frozen=True)
class AudioLimits:
    """What `soundlab.audio` accepts before it decodes a file."""

    max_duration_s: float = 600.0  # longer files are refused before they are read
    min_duration_s: float = 0.05
    min_sr_hz: int = 4_000
    max_sr_hz: int = 384_000
    max_channels: int = 32
    max_file_bytes: int = 1024 * 1024 * 1024  # 1 GiB on disk or as an upload
    duration_setting: str = "SOUNDLAB_MAX_AUDIO_SECONDS"  # the setting named when a file is too long


# Classify (page and command) takes long recordings: they are classified in windows, in bounded memory
CLASSIFY_LIMITS = AudioLimits(max_duration_s=7200.0, duration_setting="SOUNDLAB_MAX_CLASSIFY_SECONDS")


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`get_settings`."""

    esc50_root: Path
    sample_root: Path
    artifacts_dir: Path
    cache_dir: Path
    esc50_url: str
    download_timeout_s: float
    audio_limits: AudioLimits
    yamnet: str  # "tflite" (shipped), a .tflite path, "hub", a TF Hub URL or a SavedModel folder
    efficientat: str  # "" (the shipped weights) or a path to mn04_as_mAP_432.pt or a folder holding it
    ice_servers: list  # WebRTC ICE servers for the live microphone; [] = none (same network only)
    max_classify_s: float  # longest audio the Classify page and CLI accept (classified in windows)
    whisper_model: str  # hub id or local folder
    whisper_engine: str  # "transformers" or "faster-whisper"
    whisper_chunk_s: float
    whisper_stride_s: float
    whisper_threads: int
    max_transcribe_s: float
    logmel_sr: int  # input rate of the from-scratch models' log-mels (the seeds used 22050 or 32000)
    logmel_fmax_hz: float  # highest mel band edge; 0 = half the rate
    review_db: Path  # the SQLite file of review decisions
    dataset: tuple[str, Path | None]  # SOUNDLAB_DATASET: ("esc50", None) or (urbansound8k|folder|csv, its path)
    dataset_setting: str  # SOUNDLAB_DATASET as given (for messages)
    group_separator: str  # folder datasets: a file's group is its stem before this

    @property
    def classify_limits(self) -> AudioLimits:
        """What Classify and `classify` accept: longer audio than elsewhere (it is classified in windows)."""
        return replace(self.audio_limits, max_duration_s=self.max_classify_s,
                       duration_setting="SOUNDLAB_MAX_CLASSIFY_SECONDS")

    @property
    def transcribe_limits(self) -> AudioLimits:
        """What Transcribe and `transcribe` accept."""
        return replace(self.audio_limits, max_duration_s=self.max_transcribe_s,
                       duration_setting="SOUNDLAB_MAX_TRANSCRIBE_SECONDS")


@dataclass(frozen=True)
class Setting:
    """One environment variable as docs/configuration.md lists it."""

    name: str
    default: str  # as a person reads it
    meaning: str
    group: str = "App"  # App | Transcription | Training | Tests and scripts


SETTINGS = (
    Setting("SOUNDLAB_ESC50_ROOT", "`data/ESC-50` (in the repo, git-ignored)",
            "The ESC-50 folder: `meta/esc50.csv` and `audio/*.wav`. A partial folder is fine: the app works on the clips "
            "present and says how many. With no usable folder the app uses the shipped sample."),
    Setting("SOUNDLAB_DATASET", "`esc50`",
            "Which dataset the app, `train`, `classify` and `embed` use: `esc50`, `urbansound8k` (at "
            "`SOUNDLAB_URBANSOUND8K_ROOT`) or `urbansound8k:PATH`, `csv:FILE` or `folder:PATH` "
            "([datasets](datasets.md)). If it cannot be used, the app says why on the Home page and shows ESC-50; a "
            "command stops with the reason."),
    Setting("SOUNDLAB_URBANSOUND8K_ROOT", "`data/UrbanSound8K`",
            "The UrbanSound8K folder for `SOUNDLAB_DATASET=urbansound8k`: `metadata/UrbanSound8K.csv` and "
            "`audio/fold1` … `audio/fold10`."),
    Setting("SOUNDLAB_GROUP_SEPARATOR", "`-`",
            "`folder:` datasets: a file's group (the recording it was cut from; a group never spans two folds) is its "
            "name before the first separator, so `rec12-a.wav` and `rec12-b.wav` share one."),
    Setting("SOUNDLAB_SAMPLE_ROOT", "`sample`", "The shipped sample (50 FLAC clips, the full csv, `LICENSE.md`) and "
            "the example sounds of the Classify page."),
    Setting("SOUNDLAB_ARTIFACTS_DIR", "`model_artifacts`", "Model files and trained runs."),
    Setting("SOUNDLAB_CACHE_DIR", "`.cache` (git-ignored)", "Computed embeddings, features and other caches."),
    Setting("SOUNDLAB_ESC50_URL", f"`{ESC50_URL}`", "Where `download` fetches the archive."),
    Setting("SOUNDLAB_DOWNLOAD_TIMEOUT_S", "`20`", "Network timeout (seconds) for the download."),
    Setting("SOUNDLAB_MAX_AUDIO_SECONDS", "`600`",
            "Longest audio decoded in one piece (Explore, Transcribe's dataset clips); longer files are refused from "
            "their header, before they are read."),
    Setting("SOUNDLAB_MAX_CLASSIFY_SECONDS", "`7200`",
            "Longest audio the Classify page and `classify` accept; it is decoded block by block and classified in 5 s "
            "windows (bounded memory)."),
    Setting("SOUNDLAB_YAMNET", "`tflite`",
            "The YAMNet backbone: `tflite` (the shipped `model_artifacts/yamnet.tflite`, run with LiteRT), a path to "
            "another `.tflite`, `hub` (https://tfhub.dev/google/yamnet/1 through `tensorflow_hub`, needs internet "
            "once), any TF Hub URL, or a local SavedModel folder. Runs record the backbone they were trained on; the "
            "app warns on a mismatch."),
    Setting("SOUNDLAB_EFFICIENTAT", "(the shipped weights)",
            "The EfficientAT mn04_as weights: a path to `mn04_as_mAP_432.pt` or to a folder holding it (and, "
            "optionally, `class_labels_indices.csv`). The upstream file is "
            "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/mn04_as_mAP_432.pt."),
    Setting("SOUNDLAB_ICE_SERVERS", "`[]`",
            "ICE servers for the live microphone as JSON, e.g. `[{\"urls\": [\"stun:stun.l.google.com:19302\"]}]`. "
            "The default (none) works when browser and server share a network; behind NAT use STUN/TURN."),
    Setting("SOUNDLAB_REVIEW_DB", "`review.db` in the cache folder (`review-<kind>-<name>.db` for another dataset)",
            "The review log of the Data issues page (SQLite, WAL mode: safe for concurrent sessions). A damaged file "
            "is reported by name and the rest of the app works; move it away to start a new log."),
    Setting("SOUNDLAB_WARMUP", "`models`",
            "What the start command warms in the background when the server starts: `models` (the pages' libraries, "
            "then the Classify page's default model), `libraries` (no model: Classify's first visitor waits for it) "
            "or `off`."),
    Setting("SOUNDLAB_WHISPER_MODEL", "`distil-whisper/distil-large-v3`",
            "Whisper model: a Hugging Face hub id (downloaded once into the Hugging Face cache, `HF_HOME`) or a local "
            "folder: a transformers folder (`config.json`, `model.safetensors`, tokenizer) for the transformers engine, "
            "a CTranslate2 folder (`model.bin`) for faster-whisper.", "Transcription"),
    Setting("SOUNDLAB_WHISPER_ENGINE", "`transformers`", "`transformers` or `faster-whisper`.", "Transcription"),
    Setting("SOUNDLAB_WHISPER_CHUNK_S", "`30`",
            "Longest chunk decoded at once by the transformers engine (5-30 s; faster-whisper uses its own 30 s "
            "windows).", "Transcription"),
    Setting("SOUNDLAB_WHISPER_STRIDE_S", "`5`",
            "Each cut between chunks is placed at the quietest 100 ms within the last this-many seconds of the chunk.",
            "Transcription"),
    Setting("SOUNDLAB_WHISPER_THREADS", "the number of cores", "CPU threads for Whisper.", "Transcription"),
    Setting("SOUNDLAB_MAX_TRANSCRIBE_SECONDS", "`3600`", "Longest audio the Transcribe page and `transcribe` accept.",
            "Transcription"),
    Setting("SOUNDLAB_LOGMEL_SR", "`22050`",
            "`train --model cnn|crnn|mfcc-svm|mfcc-rf`: the rate clips are resampled to before their log-mel or MFCC "
            "features. The run records the features it was trained on.", "Training"),
    Setting("SOUNDLAB_LOGMEL_FMAX_HZ", "half the rate", "The top mel band edge of those features.", "Training"),
    Setting("SOUNDLAB_SHARED", "`../shared`", "Tests: the shared folder the test assets are built from.",
            "Tests and scripts"),
    Setting("SOUNDLAB_REQUIRE_WEBRTC", "unset",
            "Tests: `1` makes the live-microphone end-to-end test fail (instead of skip) where network namespaces are "
            "unavailable. `.ci/run` sets it.", "Tests and scripts"),
    Setting("SOUNDLAB_CHROMIUM", "`/usr/bin/chromium`", "Tests and benchmarks: the Chromium Playwright drives.",
            "Tests and scripts"),
    Setting("SOUNDLAB_STATEFUL_EXAMPLES", "`6`",
            "Tests: how many random click sequences each page's stateful test tries ([testing](testing.md)).",
            "Tests and scripts"),
    Setting("SOUNDLAB_STATEFUL_STEPS", "`10`", "Tests: the longest such sequence.", "Tests and scripts"),
    Setting("SOUNDLAB_PYTHON", "`python3.11`", "Scripts: the interpreter a new virtual environment is built with.",
            "Tests and scripts"),
    Setting("SOUNDLAB_VENV", "`.venv`", "Scripts: where the virtual environment lives.", "Tests and scripts"),
    Setting("SOUNDLAB_MEMPROBE", "unset",
            "`bench/memprobe`: the folder a server started with it on `PYTHONPATH` writes its memory reports to "
            "(`SOUNDLAB_MEMPROBE_TRACE=1` adds tracemalloc snapshots).", "Tests and scripts"),
    Setting("SOUNDLAB_MEMPROBE_TRACE", "unset", "See `SOUNDLAB_MEMPROBE`.", "Tests and scripts"),
)


def settings_markdown() -> str:
    """docs/configuration.md: every setting of `SETTINGS`, grouped."""
    lines = ["# Configuration", "",
             "Every setting is an environment variable; all have defaults. This page is generated from "
             "`soundlab/config.py` (`python -m soundlab settings --markdown > docs/configuration.md`); a test fails "
             "when they differ. `python -m soundlab settings` prints the values in effect.", "",
             "A setting that cannot be used (not a number, not above 0, not a JSON list ...) stops every page with one "
             "line naming the variable, and a command with the same line.", ""]
    for group in dict.fromkeys(x.group for x in SETTINGS):
        lines += [f"## {group}", "", "| variable | default | meaning |", "|---|---|---|"]
        lines += [f"| `{x.name}` | {x.default} | {x.meaning} |" for x in SETTINGS if x.group == group]
        lines.append("")
    lines += ["Streamlit's own settings are in `.streamlit/config.toml`: the upload limit (200 MB), a headless server, "
              "the theme, no file watcher (a code change needs a restart; for development add "
              "`--server.fileWatcherType auto --server.runOnSave true` to the start command), no full garbage "
              "collection after every script run, and no \"magic\". [bench/RESULTS.md](../bench/RESULTS.md) has the "
              "measurements behind them.", ""]
    return "\n".join(lines)


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"setting {name} must be a number, got {value!r}") from None
    if not (number == number and abs(number) != float("inf")):  # NaN or infinite
        raise SettingsError(f"setting {name} must be a finite number, got {value!r}")
    if number <= 0:
        raise SettingsError(f"setting {name} must be above 0, got {value!r}")
    return number


def _env_int(name: str, default: int) -> int:
    number = _env_float(name, float(default))
    if number != int(number):
        raise SettingsError(f"setting {name} must be a whole number, got {os.environ.get(name)!r}")
    return int(number)


def _env_json_list(name: str) -> list:
    value = os.environ.get(name, "").strip()
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        raise SettingsError(f"setting {name} must be a JSON list, e.g. "
                         '[{"urls": ["stun:stun.l.google.com:19302"]}], got ' + repr(value)) from None
    if not isinstance(parsed, list):
        raise SettingsError(f"setting {name} must be a JSON list, got {type(parsed).__name__}")
    return parsed


def _env_dataset() -> tuple[str, Path | None]:
    value = os.environ.get("SOUNDLAB_DATASET", "").strip()
    kind, _, where = value.partition(":")
    kind = kind.strip().lower() or "esc50"
    if kind not in DATASET_KINDS or (kind == "esc50" and where.strip()):
        raise SettingsError("setting SOUNDLAB_DATASET must be esc50, urbansound8k, urbansound8k:PATH, folder:PATH or "
                            f"csv:PATH, got {value!r}")
    if kind == "esc50":
        return kind, None
    if kind == "urbansound8k" and not where.strip():
        return kind, _env_path("SOUNDLAB_URBANSOUND8K_ROOT", DEFAULT_URBANSOUND8K_ROOT)
    if not where.strip():
        raise SettingsError(f"setting SOUNDLAB_DATASET={value!r} needs a path after '{kind}:'")
    return kind, Path(where.strip()).expanduser().resolve()


WARMUP_MODES = ("models", "libraries", "off")


def warmup_mode() -> str:
    """SOUNDLAB_WARMUP: what `scripts/serve.py` warms when the server starts (`components.warmup`). Read only there, not
    in `Settings`: a mistyped value must not stop the pages. Raises SettingsError."""
    value = os.environ.get("SOUNDLAB_WARMUP", "").strip().lower() or WARMUP_MODES[0]
    if value not in WARMUP_MODES:
        raise SettingsError(f"setting SOUNDLAB_WARMUP must be {', '.join(WARMUP_MODES[:-1])} or {WARMUP_MODES[-1]}, "
                            f"got {os.environ.get('SOUNDLAB_WARMUP')!r}")
    return value


def get_settings() -> Settings:
    """Read the settings from the environment (see README, "Settings").

    Raises
    ------
    SettingsError
        A variable that cannot be used (not a number, not above 0, not a JSON list); the message names it.
    """
    dataset = _env_dataset()
    cache_dir = _env_path("SOUNDLAB_CACHE_DIR", DEFAULT_CACHE_DIR)
    # one review log per dataset (clip names of two datasets may coincide)
    review_name = "review.db" if dataset[0] == "esc50" else f"review-{dataset[0]}-{dataset[1].name}.db"
    return Settings(
        esc50_root=_env_path("SOUNDLAB_ESC50_ROOT", DEFAULT_ESC50_ROOT),
        sample_root=_env_path("SOUNDLAB_SAMPLE_ROOT", SAMPLE_ROOT),
        artifacts_dir=_env_path("SOUNDLAB_ARTIFACTS_DIR", DEFAULT_ARTIFACTS_DIR),
        cache_dir=_env_path("SOUNDLAB_CACHE_DIR", DEFAULT_CACHE_DIR),
        esc50_url=os.environ.get("SOUNDLAB_ESC50_URL", "").strip() or ESC50_URL,
        download_timeout_s=_env_float("SOUNDLAB_DOWNLOAD_TIMEOUT_S", 20.0),
        audio_limits=AudioLimits(
            max_duration_s=_env_float("SOUNDLAB_MAX_AUDIO_SECONDS", AudioLimits.max_duration_s),
        ),
        yamnet=os.environ.get("SOUNDLAB_YAMNET", "").strip() or "tflite",
        efficientat=os.environ.get("SOUNDLAB_EFFICIENTAT", "").strip(),
        ice_servers=_env_json_list("SOUNDLAB_ICE_SERVERS"),
        max_classify_s=_env_float("SOUNDLAB_MAX_CLASSIFY_SECONDS", CLASSIFY_LIMITS.max_duration_s),
        whisper_model=os.environ.get("SOUNDLAB_WHISPER_MODEL", "").strip() or "distil-whisper/distil-large-v3",
        whisper_engine=os.environ.get("SOUNDLAB_WHISPER_ENGINE", "").strip() or "transformers",
        whisper_chunk_s=_env_float("SOUNDLAB_WHISPER_CHUNK_S", 30.0),
        whisper_stride_s=_env_float("SOUNDLAB_WHISPER_STRIDE_S", 5.0),
        whisper_threads=_env_int("SOUNDLAB_WHISPER_THREADS", os.cpu_count() or 2),
        max_transcribe_s=_env_float("SOUNDLAB_MAX_TRANSCRIBE_SECONDS", 3600.0),
        logmel_sr=_env_int("SOUNDLAB_LOGMEL_SR", 22_050),
        logmel_fmax_hz=_env_float("SOUNDLAB_LOGMEL_FMAX_HZ", 0.0),
        review_db=_env_path("SOUNDLAB_REVIEW_DB", cache_dir / review_name),
        dataset=dataset,
        dataset_setting=os.environ.get("SOUNDLAB_DATASET", "").strip() or "esc50",
        group_separator=os.environ.get("SOUNDLAB_GROUP_SEPARATOR", "-"),
    )

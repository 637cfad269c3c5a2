"""Whisper engines behind one interface: `transformers` (any checkpoint) and `faster-whisper` (CTranslate2).

* :class:`TransformersEngine` -- Hugging Face `transformers` (torch), any Whisper checkpoint: a hub id
  (default ``distil-whisper/distil-large-v3``, downloaded once into the Hugging Face cache) or a local
  folder. CPU by default, the GPU when torch sees one.
* :class:`FasterWhisperEngine` -- `faster-whisper` (CTranslate2, int8 on CPU): a CTranslate2 model
  folder, a size name ("base", "tiny.en", "distil-large-v3") or a hub id.

An engine decodes one chunk of at most 30 s and detects the language of a window; long audio, chunking and
notes are `soundlab.asr.longform`. The language is detected with the model itself (multilingual models only).
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from soundlab.asr.longform import SAMPLE_RATE, WHISPER_WINDOW_S, Segment
from soundlab.errors import ModelError, ParameterError

DEFAULT_MODEL = "distil-whisper/distil-large-v3"
ENGINES = ("transformers", "faster-whisper")

# Models that only transcribe English even if their tokenizer knows other languages.
ENGLISH_ONLY_HINTS = (".en", "distil-large-v3", "distil-large-v2", "distil-medium.en", "distil-small.en")


@functools.cache
def languages() -> dict[str, str]:
    """ISO code -> English name of every language Whisper knows (transformers' table, 100 entries)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return {code: name.title() for code, name in LANGUAGES.items()}


class Engine(Protocol):
    """What `soundlab.asr.longform.transcribe` needs from an engine."""

    name: str
    model: str
    multilingual: bool

    def language_probabilities(self, y16k: np.ndarray, top: int = 5) -> list[tuple[str, float]]:
        """The `top` most likely languages of the first 30 s, most likely first (empty for English-only models)."""
        ...

    def detect_language(self, y16k: np.ndarray) -> tuple[str, float] | None: ...

    def transcribe_chunk(self, y16k: np.ndarray, *, language: str | None, task: str) -> list[Segment]:
        """Segments of at most 30 s of audio, decoded greedily (temperature 0, no resampling): the same audio gives the
        same text, which the language choice (`longform.choose_language`) and the user rely on."""
        ...


def is_english_only(model: str, multilingual_flag: bool | None) -> bool:
    name = model.rstrip("/").lower()
    if any(h in name for h in ENGLISH_ONLY_HINTS):
        return True
    return multilingual_flag is False


def _hf_offline_error(model: str, reason: object) -> ModelError:
    return ModelError(
        f"Cannot download the Whisper model {model!r} ({reason}); this machine looks offline. Set "
        "SOUNDLAB_WHISPER_MODEL to a local Whisper folder instead (e.g. one made with "
        f"`huggingface-cli download {model} --local-dir ./whisper-model` on a machine with internet), "
        "or pick a local model path on the page."
    )


def _check_hub(model: str, timeout_s: float = 2.0) -> None:
    """Fail within seconds when a hub model is not cached and the hub cannot be reached."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return
    except OSError as e:
        raise _hf_offline_error(model, e) from None


def _hub_cached(repo_id: str, filename: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename)
        return isinstance(found, str) and os.path.isfile(found)
    except Exception:  # noqa: BLE001 - an odd id is simply "not cached"
        return False


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or os.path.sep in model and Path(model).expanduser().exists()


class TransformersEngine:
    name = "transformers"

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str | None = None, threads: int | None = None):
        import torch  # deferred: heavy

        self.model = model
        local = Path(model).expanduser()
        if local.exists() or _looks_like_path(model):
            if not local.is_dir():
                raise ModelError(f"Whisper model folder not found: {model}")
            if (local / "model.bin").is_file():
                raise ModelError(f"{model} is a CTranslate2 (faster-whisper) folder: use the faster-whisper engine, "
                                 "or a Hugging Face Whisper folder (config.json, model.safetensors, tokenizer files).")
            if not (local / "config.json").is_file():
                raise ModelError(f"{model} has no config.json: it is not a Whisper model folder. The transformers "
                                 "engine needs a Hugging Face Whisper folder (config.json, model.safetensors, "
                                 "tokenizer files).")
            source, offline = str(local), True
        else:
            source = model
            offline = _hub_cached(model, "config.json")
            if not offline:
                _check_hub(model)
        if threads:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        try:
            self.processor = WhisperProcessor.from_pretrained(source, local_files_only=offline)
            self._model = WhisperForConditionalGeneration.from_pretrained(source, dtype=dtype, local_files_only=offline)
        except OSError as e:
            raise ModelError(f"could not load the Whisper model {model}: {e}. If it is a folder, it is incomplete "
                             "or damaged; if it is a hub id, check the spelling.") from None
        except Exception as e:  # noqa: BLE001 - corrupt weights raise many types
            raise ModelError(f"could not load the Whisper model {model} ({type(e).__name__}: {e}); "
                             "the files look damaged.") from None
        self._model.to(self.device).eval()
        self._dtype = dtype
        gc = self._model.generation_config
        self.multilingual = bool(getattr(gc, "is_multilingual", True)) and bool(getattr(gc, "lang_to_id", None))
        self.english_only = is_english_only(model, self.multilingual)
        if not self.multilingual:
            # An English-only model must not run language detection: with an empty `lang_to_id`, transformers
            # "detects" token 0 and puts it in the prompt, and the model then skips most of the first window.
            for attr in ("lang_to_id", "task_to_id"):
                if hasattr(gc, attr):
                    delattr(gc, attr)
        gc.max_initial_timestamp_index = 50  # the first timestamp within 1 s, as OpenAI's decoder
        self._lock = threading.Lock()

    def _features(self, y16k: np.ndarray):
        feats = self.processor(y16k, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        return feats.to(self.device, dtype=self._dtype)

    def language_probabilities(self, y16k: np.ndarray, top: int = 5) -> list[tuple[str, float]]:
        if not self.multilingual:
            return []
        import torch

        gc = self._model.generation_config
        codes = list(gc.lang_to_id)
        ids = [gc.lang_to_id[c] for c in codes]
        with self._lock, torch.no_grad():
            feats = self._features(y16k[: int(WHISPER_WINDOW_S * SAMPLE_RATE)])
            enc = self._model.get_encoder()(feats)
            start = torch.tensor([[gc.decoder_start_token_id]], device=self.device)
            logits = self._model(encoder_outputs=enc, decoder_input_ids=start).logits[0, -1].float()
        probs = torch.softmax(logits[ids], dim=-1)
        order = torch.argsort(probs, descending=True)[:top].tolist()
        return [(codes[i].strip("<|>"), float(probs[i])) for i in order]

    def detect_language(self, y16k: np.ndarray) -> tuple[str, float] | None:
        found = self.language_probabilities(y16k, top=1)
        return found[0] if found else None

    def transcribe_chunk(self, y16k: np.ndarray, *, language: str | None, task: str) -> list[Segment]:
        """Greedy (`generate`'s default here: no temperature fallback)."""
        import torch

        kwargs = {"return_timestamps": True, "return_dict_in_generate": True}
        if self.multilingual:
            kwargs.update(task=task, language=language)
        first: list = []  # (input features, output) of generate's first encoder pass

        def keep_first(module, args, kw, output) -> None:
            if not first:
                first.append((kw.get("input_features", args[0] if args else None), output))

        with self._lock, torch.no_grad():
            feats = self._features(y16k)
            hook = self._model.get_encoder().register_forward_hook(keep_first, with_kwargs=True)
            try:
                out = self._model.generate(feats, **kwargs)
            finally:
                hook.remove()
            sequences = out["sequences"] if isinstance(out, dict) else out.sequences
            # the scoring pass reuses that encoder output when it was computed from these very features (a chunk's
            # first window): 0.2 s instead of 0.8-1.0 s per 30 s chunk of whisper-base, the same scores
            reuse = first[0][1] if first and isinstance(first[0][0], torch.Tensor) and torch.equal(first[0][0], feats) \
                else None
            logprob, n_tokens = self._mean_logprob(feats, sequences, language, task, encoder_outputs=reuse)
        segments = []
        for seg in (out.get("segments") or [[]])[0]:
            tokens = seg["tokens"].tolist() if hasattr(seg["tokens"], "tolist") else list(seg["tokens"])
            text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            if text:
                # the whole chunk's tokens were scored at once: the first segment carries their count
                segments.append(Segment(float(seg["start"]), float(seg["end"]), text, logprob,
                                        0 if segments else n_tokens))
        if not segments:  # no timestamp pairs: fall back to the whole sequence as one segment
            text = self.processor.batch_decode(sequences, skip_special_tokens=True)[0].strip()
            if text:
                segments.append(Segment(0.0, len(y16k) / SAMPLE_RATE, text, logprob, n_tokens))
        return segments

    def _mean_logprob(self, feats, sequences, language: str | None, task: str, *,
                      encoder_outputs=None) -> tuple[float | None, int]:
        """(mean log-probability of the generated text tokens, their number), teacher-forced in one decoder pass
        (on `encoder_outputs` when given: the encoder's output for `feats`)."""
        import torch

        gc = self._model.generation_config
        init = [gc.decoder_start_token_id]  # the prompt generate() used; `sequences` starts after it
        if self.multilingual:
            if language and f"<|{language}|>" in gc.lang_to_id:
                init.append(gc.lang_to_id[f"<|{language}|>"])
            init.append(gc.task_to_id[task])
        full = torch.cat([torch.tensor([init], device=sequences.device, dtype=sequences.dtype), sequences], dim=1)
        # the decoder has max_target_positions (448) positions: a decoding that ran to the limit (a loop) is scored
        # on what fits
        full = full[:, : self._model.config.max_target_positions + 1]
        source = {"input_features": feats} if encoder_outputs is None else {"encoder_outputs": encoder_outputs}
        logits = self._model(**source, decoder_input_ids=full[:, :-1]).logits.float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, full[:, 1:, None])[..., 0]
        generated = logp[:, len(init) - 1 :]
        text = full[:, len(init):] < gc.eos_token_id  # ordinary tokens, not timestamps or specials
        return (float(generated[text].mean()), int(text.sum())) if bool(text.any()) else (None, 0)


class FasterWhisperEngine:
    name = "faster-whisper"
    SIZE_ALIASES = {"distil-whisper/distil-large-v3": "distil-large-v3", "openai/whisper-base": "base",
                    "openai/whisper-tiny.en": "tiny.en", "openai/whisper-small": "small"}
    # Greedy, temperature 0 only, as the transformers engine decodes. faster-whisper's default falls back to sampling
    # at rising temperatures when a window scores low, which gives a different transcript on each run
    # (bench/RESULTS.md). A doubtful one is said so on the page (`longform.transcribe`).
    DECODING = {"beam_size": 1, "temperature": 0.0, "condition_on_previous_text": False, "vad_filter": False}

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "auto", threads: int | None = None,
                 compute_type: str = "int8"):
        self.model = model
        local = Path(model).expanduser()
        source = self.SIZE_ALIASES.get(model, model)
        if local.exists() or _looks_like_path(model):
            if not (local / "model.bin").is_file():
                kind = "a transformers folder" if (local / "config.json").is_file() and not (local / "model.bin").exists() else "not a model folder"
                raise ModelError(f"{model} has no model.bin: it is {kind}. faster-whisper needs a CTranslate2 "
                                 "folder (convert with `ct2-transformers-converter --model ... --output_dir ...`), "
                                 "or use the transformers engine.")
            source = str(local)
        else:
            from faster_whisper.utils import _MODELS

            repo = _MODELS.get(source, source)
            if not _hub_cached(repo, "model.bin"):
                _check_hub(model)
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(source, device=device, compute_type=compute_type,
                                       cpu_threads=threads or os.cpu_count() or 2)
        except Exception as e:  # noqa: BLE001 - ctranslate2 raises RuntimeError/ValueError for bad files
            raise ModelError(f"could not load the Whisper model {model} with faster-whisper "
                             f"({type(e).__name__}: {e}); the folder looks incomplete or damaged.") from None
        self.multilingual = bool(self._model.model.is_multilingual)
        self.english_only = is_english_only(model, self.multilingual)
        self._lock = threading.Lock()

    def detect_language(self, y16k: np.ndarray) -> tuple[str, float] | None:
        found = self.language_probabilities(y16k, top=1)
        return found[0] if found else None

    def language_probabilities(self, y16k: np.ndarray, top: int = 5) -> list[tuple[str, float]]:
        if not self.multilingual:
            return []
        import ctranslate2

        # Pad the *audio* to 30 s before the log-mel, as OpenAI's Whisper and transformers do. faster-whisper's
        # own detect_language pads the normalised features with zeros instead, which is not silence, and
        # misses short non-English clips (a 3 s German sentence came out as "en").
        n = int(WHISPER_WINDOW_S * SAMPLE_RATE)
        y = np.pad(y16k[:n], (0, max(0, n - len(y16k))))
        feats = self._model.feature_extractor(y)[:, : self._model.feature_extractor.nb_max_frames]
        with self._lock:
            found = self._model.model.detect_language(
                ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None], dtype=np.float32)))
        return [(token.strip("<|>"), float(prob)) for token, prob in found[0][:top]]

    def transcribe_chunk(self, y16k: np.ndarray, *, language: str | None, task: str) -> list[Segment]:
        """Greedy (`DECODING`)."""
        with self._lock:
            segs, _ = self._model.transcribe(y16k, language=language if self.multilingual else None,
                                             task=task if self.multilingual else "transcribe", **self.DECODING)
            return [Segment(float(s.start), float(s.end), s.text.strip(), float(s.avg_logprob), len(s.tokens))
                    for s in segs if s.text.strip()]

    def transcribe_long(self, y16k: np.ndarray, *, language: str | None, task: str,
                        progress=None) -> tuple[list[Segment], int]:
        """(segments, windows decoded): the whole audio in faster-whisper's own sequential 30 s windows, each
        starting where the last complete segment of the one before ended (OpenAI's long-form decoding), with the
        same decoding options as `transcribe_chunk`. `progress(done_s, total_s)` after each segment (whole seconds).

        Not our pause-aligned chunks for this engine: the decoding of a chunk's first window ends with its last
        complete segment, so every chunk took a second full window for its last few seconds; fewer windows, faster
        and as accurate (bench/RESULTS.md)."""
        total = int(round(len(y16k) / SAMPLE_RATE))
        with self._lock:
            segs, _ = self._model.transcribe(y16k, language=language if self.multilingual else None,
                                             task=task if self.multilingual else "transcribe", **self.DECODING)
            out, windows = [], set()
            for s in segs:  # a generator: each window is decoded as its segments are asked for
                windows.add(s.seek)
                if s.text.strip():
                    out.append(Segment(float(s.start), float(s.end), s.text.strip(), float(s.avg_logprob),
                                       len(s.tokens)))
                if progress:
                    progress(min(int(s.end), total), total)
        if progress:
            progress(total, total)
        return out, max(1, len(windows))


def model_source(model: str, engine: str) -> str:
    """Where a Whisper model would come from, in words (cheap: no loading, no network)."""
    local = Path(model).expanduser()
    if local.exists():
        return "a local folder" if local.is_dir() else "a file (a folder is needed)"
    repo = model
    if engine == "faster-whisper":
        from faster_whisper.utils import _MODELS

        repo = _MODELS.get(FasterWhisperEngine.SIZE_ALIASES.get(model, model), model)
    if _hub_cached(repo, "model.bin" if engine == "faster-whisper" else "config.json"):
        return "downloaded (in the Hugging Face cache)"
    return "not downloaded yet: it is fetched from the Hugging Face hub on first use (needs internet)"


def decodes_in_own_windows(engine: str) -> bool:
    """Whether the engine of this name decodes whole audio in its own windows (`transcribe_long`: faster-whisper),
    so that the chunk settings do not apply to it and its progress counts seconds of audio."""
    return hasattr({"transformers": TransformersEngine, "faster-whisper": FasterWhisperEngine}.get(engine),
                   "transcribe_long")


def load_engine(engine: str, model: str, *, threads: int | None = None) -> Engine:
    """Build an engine by name ("transformers" or "faster-whisper"). Raises ModelError."""
    if engine == "transformers":
        return TransformersEngine(model, threads=threads)
    if engine == "faster-whisper":
        return FasterWhisperEngine(model, threads=threads)
    raise ParameterError(f"unknown transcription engine {engine!r}; use one of {', '.join(ENGINES)}")



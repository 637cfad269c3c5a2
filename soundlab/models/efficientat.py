"""EfficientAT mn04_as behind the backbone interface: 32 kHz waveform in; frames of 384-d embeddings and 527
AudioSet tag probabilities out.

mn04_as (Schmid, Koutini, Widmer, "Efficient Large-Scale Audio Tagging via Transformer-to-CNN Knowledge
Distillation", ICASSP 2023; MIT licence) is a MobileNetV3-Large at width 0.4 trained on AudioSet (mAP 0.432;
YAMNet: 0.306), 0.98 M parameters. The network below is written from the published architecture and loads the
original PyTorch state dict with ``strict=True``:

* front end: mono at 32 kHz; pre-emphasis y[n] = x[n+1] - 0.97 x[n]; STFT (n_fft 1024, hop 320, a symmetric
  800-sample Hann window centred in the frame, centre padding by reflection); power; 128 Kaldi mel bands
  (1127 ln(1 + f/700), triangles in the mel domain, 0-15 kHz, a zero Nyquist column); log(mel + 1e-5); (x + 4.5) / 5.
* stem: 3x3 conv, stride 2, 1 -> 8 channels, batch norm (eps 1e-3), Hardswish.
* 15 inverted residual blocks (torchvision's MobileNetV3-Large table at width 0.4, channels rounded to multiples
  of 8; stride 2 at blocks 2, 4, 7 and 13), squeeze-excitation (mean over frequency and time, ReLU, sigmoid,
  bottleneck make_divisible(C / 4, 8)) where the table has it.
* 1x1 conv 64 -> 384, Hardswish; global average pooling -> the 384-d embedding; Linear 384 -> 512, Hardswish,
  dropout, Linear 512 -> 527 logits (sigmoid: tag probabilities).

Frames. The last feature map has one column per 32 spectrogram hops (0.32 s); its columns, averaged over
frequency, are the backbone's frames: a 5 s clip gives 16 frames of 384-d embeddings, and their mean is exactly the
network's pooled embedding. A frame's tag probabilities are the classifier applied to that frame's embedding (for
the timeline); the tags of the whole input are the network's own output on the pooled embedding
(`BackboneOutput.clip_scores`), which is far better than the mean of frame tags when the sound is short (a rooster
crowing once: "Crowing" 0.72 from the network, "Silence" first in the frame mean). Each column sees several seconds
of context (the receptive field of the last layer), so frames are smoother in time than YAMNet's 0.96 s windows.

Weights: ``model_artifacts/efficientat/mn04_as_mAP_432.pt`` (shipped, 4 MB, with its labels, licence and
provenance), or any local copy of the upstream release (`WEIGHTS_URL`) named by the setting SOUNDLAB_EFFICIENTAT.
torch is imported only when the backbone is loaded: pages that do not use it never import it.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

from soundlab.errors import ModelError
from soundlab.models import torch_thread
from soundlab.models.backbone import (
    Backbone,
    BackboneOutput,
    BackboneParams,
    BackboneStatus,
    file_sha256,
    read_tag_names,
)

SAMPLE_RATE = 32_000
N_MELS, N_FFT, HOP, WIN = 128, 1024, 320, 800
FMIN_HZ, FMAX_HZ = 0.0, 15_000.0
PREEMPHASIS = 0.97
TIME_STRIDE = 32  # spectrogram hops per column of the last feature map (five stride-2 convolutions)
PARAMS = BackboneParams(
    sample_rate_hz=SAMPLE_RATE,
    frame_window_s=TIME_STRIDE * HOP / SAMPLE_RATE,  # 0.32 s per frame (each frame sees several seconds)
    frame_hop_s=TIME_STRIDE * HOP / SAMPLE_RATE,
    min_input_s=1.0,  # shorter input is zero-padded to 1 s (3 frames)
    embedding_dim=384,
    n_tags=527,
)
FOLDER = "efficientat"
WEIGHTS_FILE = "mn04_as_mAP_432.pt"
LABELS_FILE = "class_labels_indices.csv"
WEIGHTS_SHA256 = "899a8c6217063f6941793102a2780b3dd788ab11fce468d9cf5f0577c453321c"
WEIGHTS_URL = "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/mn04_as_mAP_432.pt"
WIDTH = 0.4
# torchvision's MobileNetV3-Large table: (in, kernel, expanded, out, squeeze-excitation, Hardswish, stride)
LARGE = [(16, 3, 16, 16, False, False, 1), (16, 3, 64, 24, False, False, 2), (24, 3, 72, 24, False, False, 1),
         (24, 5, 72, 40, True, False, 2), (40, 5, 120, 40, True, False, 1), (40, 5, 120, 40, True, False, 1),
         (40, 3, 240, 80, False, True, 2), (80, 3, 200, 80, False, True, 1), (80, 3, 184, 80, False, True, 1),
         (80, 3, 184, 80, False, True, 1), (80, 3, 480, 112, True, True, 1), (112, 3, 672, 112, True, True, 1),
         (112, 5, 672, 160, True, True, 2), (160, 5, 960, 160, True, True, 1), (160, 5, 960, 160, True, True, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    """The nearest multiple of `divisor` (at least `divisor`), never more than 10% below `v` (MobileNet's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def kaldi_mel_banks(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE, fmin: float = FMIN_HZ,
                    fmax: float = FMAX_HZ) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters equally spaced on the Kaldi mel scale 1127 ln(1 + f/700), with a
    zero Nyquist column (Kaldi's filters cover the n_fft / 2 bins below Nyquist)."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)

    lo, hi = mel(fmin), mel(fmax)
    delta = (hi - lo) / (n_mels + 1)
    left = lo + delta * np.arange(n_mels)[:, None]
    center, right = left + delta, left + 2 * delta
    bins = mel(sr / n_fft * np.arange(n_fft // 2))[None, :]
    up = (bins - left) / (center - left)
    down = (right - bins) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


@functools.cache
def _torch_modules():
    """The network's PyTorch classes, built on first use (importing this module does not import torch)."""
    import torch
    from torch import nn

    def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act=None) -> nn.Sequential:
        layers = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01)]
        if act is not None:
            layers.append(act())
        return nn.Sequential(*layers)

    class SqueezeExcite(nn.Module):
        """Channel attention: mean over frequency and time, bottleneck with ReLU, sigmoid gate."""

        def __init__(self, channels: int):
            super().__init__()
            squeeze = make_divisible(channels // 4, 8)
            self.fc1, self.fc2 = nn.Linear(channels, squeeze), nn.Linear(squeeze, channels)

        def forward(self, x):
            s = x.mean(dim=(2, 3))
            s = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
            return x * s[:, :, None, None]

    class ExciteBlock(nn.Module):
        """Holds the squeeze-excitation under the state dict's key names (``conc_se_layers.0``)."""

        def __init__(self, channels: int):
            super().__init__()
            self.conc_se_layers = nn.ModuleList([SqueezeExcite(channels)])

        def forward(self, x):
            return self.conc_se_layers[0](x)

    class InvertedResidual(nn.Module):
        def __init__(self, c_in, kernel, c_exp, c_out, se, hardswish, stride):
            super().__init__()
            act = nn.Hardswish if hardswish else nn.ReLU
            layers = []
            if c_exp != c_in:
                layers.append(conv_bn(c_in, c_exp, 1, act=act))
            layers.append(conv_bn(c_exp, c_exp, kernel, stride, groups=c_exp, act=act))
            if se:
                layers.append(ExciteBlock(c_exp))
            layers.append(conv_bn(c_exp, c_out, 1))
            self.block = nn.Sequential(*layers)
            self.residual = stride == 1 and c_in == c_out

        def forward(self, x):
            y = self.block(x)
            return y + x if self.residual else y

    class MobileNet(nn.Module):
        """mn04: (batch, 1, 128, T) normalised log-mel -> feature map (batch, 384, 4, T/32)."""

        def __init__(self, width: float = WIDTH, n_classes: int = 527):
            super().__init__()
            cfg = [(make_divisible(i * width), k, make_divisible(e * width), make_divisible(o * width), se, hs, s)
                   for i, k, e, o, se, hs, s in LARGE]
            last_in = cfg[-1][3]
            layers = [conv_bn(1, cfg[0][0], 3, 2, act=nn.Hardswish)]
            layers += [InvertedResidual(*c) for c in cfg]
            layers.append(conv_bn(last_in, 6 * last_in, 1, act=nn.Hardswish))
            self.features = nn.Sequential(*layers)
            hidden = make_divisible(1280 * width)
            self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(6 * last_in, hidden),
                                            nn.Hardswish(), nn.Dropout(0.2), nn.Linear(hidden, n_classes))

        def forward(self, spec):
            """(logits (batch, 527), pooled embedding (batch, 384)), as the published model returns them."""
            fmap = self.features(spec)
            return self.classifier(fmap), fmap.mean(dim=(2, 3))

        def frames(self, spec):
            """(frame embeddings (batch, T', 384), frame logits (batch, T', 527), clip logits (batch, 527)): one
            frame per column of the last feature map, averaged over frequency; the clip logits are the network's
            output on the pooled embedding."""
            cols = self.features(spec).mean(dim=2).transpose(1, 2)  # (batch, T', 384)
            mlp = self.classifier[2:]
            return cols, mlp(cols), mlp(cols.mean(dim=1))

    class FrontEnd(nn.Module):
        """(batch, n) waveform at 32 kHz -> (batch, 1, 128, T) normalised log-mel, as published."""

        def __init__(self):
            super().__init__()
            self.register_buffer("window", torch.hann_window(WIN, periodic=False), persistent=False)
            self.register_buffer("mel", torch.from_numpy(kaldi_mel_banks()), persistent=False)

        def forward(self, y):
            y = y[:, 1:] - PREEMPHASIS * y[:, :-1]
            spec = torch.stft(y, N_FFT, hop_length=HOP, win_length=WIN, window=self.window, center=True,
                              pad_mode="reflect", normalized=False, return_complex=True)
            power = spec.real ** 2 + spec.imag ** 2  # (batch, 513, T)
            return ((torch.matmul(self.mel, power) + 1e-5).log() + 4.5).div(5.0)[:, None]

    class Inference(nn.Module):
        """A network's whole inference as one module, to trace into one TorchScript call (see `_optimised`):
        [(batch, n) waveform -> log-mel ->] `MobileNet.frames` with `activation` applied to the logits ->
        (frame embeddings (batch, T', 384), frame outputs, clip output, log-mel)."""

        def __init__(self, net, front_end: bool, activation: str):
            super().__init__()
            self.front = FrontEnd() if front_end else None
            self.net = net
            self.activation = (lambda t: torch.softmax(t, dim=-1)) if activation == "softmax" else torch.sigmoid

        def forward(self, x):
            spec = self.front(x) if self.front is not None else x
            cols, frames, clip = self.net.frames(spec)
            return cols, self.activation(frames), self.activation(clip), spec

    return MobileNet, FrontEnd, Inference


@functools.cache
def _front_end():
    return _torch_modules()[1]().eval()


@functools.cache
def _traced_front_end():
    """The front end as one TorchScript call (same output: tracing changes no kernel), for `FineTunedNetwork`."""
    import torch

    with torch.no_grad():
        return torch.jit.freeze(torch.jit.trace(_front_end(), torch.zeros(1, SAMPLE_RATE),
                                                check_trace=False).eval())


def log_mel(y: np.ndarray) -> np.ndarray:
    """(n,) waveform at 32 kHz -> (128, T) the network's normalised log-mel input (float32)."""
    import torch

    with torch.inference_mode():
        return _front_end()(torch.from_numpy(np.ascontiguousarray(y, np.float32))[None])[0, 0].numpy()


def read_labels(path: Path) -> list[str]:
    """The 527 AudioSet display names in logit order."""
    return read_tag_names(path, PARAMS.n_tags, "the EfficientAT labels")


def load_network(weights: Path):
    """The mn04 network with the state dict at `weights` loaded strictly, in eval mode. Raises ModelError."""
    import torch

    MobileNet = _torch_modules()[0]
    weights = Path(weights)
    if not weights.is_file():
        raise ModelError(f"EfficientAT weights not found: {weights}. They ship in model_artifacts/{FOLDER}/ (restore "
                         f"with `git checkout model_artifacts/`), or download {WEIGHTS_URL} and set "
                         "SOUNDLAB_EFFICIENTAT to the file or its folder.")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)  # plain tensors only: no pickled code
    except Exception as e:  # noqa: BLE001 - torch raises pickle, zip and runtime errors for a damaged file
        raise ModelError(f"{weights} is not a readable PyTorch state dict ({type(e).__name__}: {e})") from None
    net = MobileNet()
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise ModelError(f"{weights} does not hold the mn04_as weights: {str(e)[:300]}") from None
    return net.eval()


def _optimised(net, *, front_end: bool, activation: str):
    """The network's whole inference (`Inference`) traced, frozen and optimised for CPU inference, as one call.

    - Optimised (batch norm folded into the convolutions, oneDNN kernels): faster than eager mode, same output within
      2e-5.
    - One call: TorchScript runs the whole graph without Python's GIL, where eager mode takes the GIL back after
      each of ~40 operations, and waits for it behind the app's other threads each time (bench/RESULTS.md: "Why
      EfficientAT runs as one TorchScript call").
    Falls back to the eager module if TorchScript is unavailable.
    """
    import torch

    _, _, Inference = _torch_modules()
    module = Inference(net, front_end, activation).eval()
    try:
        example = torch.zeros(1, SAMPLE_RATE * 5) if front_end else torch.zeros(1, 1, N_MELS, 500)
        with torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=False)
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    except (RuntimeError, AttributeError) as e:  # an unusual torch build: eager mode is correct, only slower
        import logging

        logging.getLogger(__name__).warning("EfficientAT runs in eager mode (%s)", e)
        return module


def fine_tunable(weights: Path, n_classes: int):
    """The pretrained network with a new last layer for `n_classes` (everything else keeps its AudioSet weights)."""
    from torch import nn

    net = load_network(weights)
    net.classifier[5] = nn.Linear(net.classifier[5].in_features, n_classes)
    return net


def save_network(net, path: Path) -> None:
    """Write a (fine-tuned) network's state dict, atomically."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    torch.save(net.state_dict(), tmp)
    tmp.replace(path)


def load_fine_tuned(path: Path, n_classes: int):
    """A network saved by :func:`save_network` after fine-tuning for `n_classes`, in eval mode. Raises ModelError."""
    import torch

    MobileNet = _torch_modules()[0]
    if not Path(path).is_file():
        raise ModelError(f"fine-tuned model file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = MobileNet(n_classes=n_classes)
        net.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001 - pickle, zip, size-mismatch errors all mean "unusable file"
        raise ModelError(f"fine-tuned model file {path} is damaged or for another class list ({type(e).__name__})") from None
    return net.eval()


class FineTunedNetwork:
    """A fine-tuned mn04 (`load_fine_tuned`) for inference, on the waveform a backbone window holds (32 kHz).

    Thread-safe (it runs in the inference thread, `torch_thread`, and calls are serialised with a lock, as the
    backbone's are) and optimised as the backbone is (`_optimised`: one TorchScript call). Input shorter than
    `window_s` is zero-padded to it, as the trainer's inputs were (`soundlab.models.features.fit_length`): the
    network was trained on whole 5 s clips.
    """

    def __init__(self, path: Path, n_classes: int, *, window_s: float = 5.0):
        self.net = load_fine_tuned(Path(path), n_classes)
        self.window_samples = int(round(window_s * PARAMS.sample_rate_hz))
        self._inference = _optimised(self.net, front_end=False, activation="softmax")
        self._lock = threading.Lock()

    def __call__(self, y: np.ndarray, log_mel: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(n,) float32 at 32 kHz -> (clip probabilities (n_classes,), frame probabilities (T', n_classes)).

        The frames are the columns of the last feature map (one per 0.32 s, as the backbone's), each through the
        network's classifier; the clip probabilities are its output on the pooled map (what it was trained on).
        `log_mel`: the backbone's spectrogram of the same `y` (the same front end: 2.5 ms saved), used when `y` needs
        no padding.
        """
        y = np.asarray(y, np.float32)
        if len(y) < self.window_samples:
            y, log_mel = np.pad(y, (0, self.window_samples - len(y))), None
        return torch_thread.call(self._infer, y, log_mel)

    def _infer(self, y: np.ndarray, log_mel: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with self._lock, torch.inference_mode():
            spec = (torch.from_numpy(np.ascontiguousarray(log_mel, np.float32))[None, None] if log_mel is not None
                    else _traced_front_end()(torch.from_numpy(np.ascontiguousarray(y))[None]))
            _, frames, clip, _ = self._inference(spec)
        return clip[0].numpy(), frames[0].numpy()


class EfficientAT(Backbone):
    """mn04_as on the CPU. Thread-safe: calls are serialised with a lock (Streamlit sessions share one instance);
    single clips run in the inference thread (`torch_thread`), batches in the caller's."""

    key = "efficientat"
    short_name = "EfficientAT"
    name = "EfficientAT mn04_as (PyTorch)"
    params = PARAMS

    def __init__(self, weights: Path, labels: Path, *, threads: int = 2):
        import torch

        self.weights = Path(weights)
        self.tag_names = read_labels(labels)
        self.net = load_network(self.weights)
        self.front = _front_end()
        self.fingerprint = f"efficientat-mn04-{file_sha256(self.weights)[:16]}"
        # bounded: the app's other work (TensorFlow heads, decoding, other sessions) shares the same cores
        torch.set_num_threads(max(1, min(threads, torch.get_num_threads())))
        self._inference = _optimised(self.net, front_end=True, activation="sigmoid")
        self.runtime = f"PyTorch {torch.__version__.split('+')[0]}, {torch.get_num_threads()} threads"
        self._lock = threading.Lock()

    def fine_tuned(self, path: Path, n_classes: int) -> FineTunedNetwork:
        """A network fine-tuned from these weights (a run of `train --model finetune`), ready for inference."""
        return FineTunedNetwork(path, n_classes)

    def spectrogram(self, y: np.ndarray):
        """(n,) waveform at 32 kHz -> (1, 1, 128, T) torch tensor, the network's input."""
        import torch

        with torch.inference_mode():
            return self.front(torch.from_numpy(np.ascontiguousarray(y, np.float32))[None])

    def embed(self, y: np.ndarray) -> BackboneOutput:
        """One clip, in the inference thread (`torch_thread`: one OpenMP thread, steady when the cores are shared)."""
        return torch_thread.call(self.embed_batch, [y])[0]

    def embed_batch(self, ys: list[np.ndarray]) -> list[BackboneOutput]:
        """Several waveforms in one pass when they have one length (faster per clip on a CPU)."""
        import torch

        ys = [self.check_input(y) for y in ys]
        if len({len(y) for y in ys}) != 1:
            return [out for y in ys for out in self.embed_batch([y])]
        with self._lock, torch.inference_mode():
            emb, scores, clip_scores, spec = (t.numpy() for t in self._inference(torch.from_numpy(np.stack(ys))))
        return [BackboneOutput(embeddings=emb[i], scores=scores[i], log_mel=spec[i, 0], clip_scores=clip_scores[i])
                for i in range(len(ys))]


def weight_files(settings) -> tuple[Path, Path]:
    """(weights, labels) named by SOUNDLAB_EFFICIENTAT: a .pt file, a folder holding one, or the shipped folder."""
    spec = (getattr(settings, "efficientat", "") or "").strip()
    base = Path(settings.artifacts_dir) / FOLDER
    if spec:
        p = Path(spec).expanduser()
        weights = p / WEIGHTS_FILE if p.is_dir() else p
        labels = weights.parent / LABELS_FILE
        return weights, labels if labels.is_file() else base / LABELS_FILE
    return base / WEIGHTS_FILE, base / LABELS_FILE


def load(settings) -> Backbone:
    weights, labels = weight_files(settings)
    return EfficientAT(weights, labels)


def status(settings) -> BackboneStatus:
    weights, labels = weight_files(settings)
    return BackboneStatus("efficientat", EfficientAT.name,
                          (("EfficientAT mn04_as weights", weights, weights.is_file()),
                           ("EfficientAT AudioSet labels", labels, labels.is_file())),
                          f"Ships in model_artifacts/{FOLDER}/; or download {WEIGHTS_URL} and set SOUNDLAB_EFFICIENTAT.")


def tag_names(settings) -> list[str]:
    return read_labels(weight_files(settings)[1])

"""Fine-tuning EfficientAT mn04 end to end on the run's folds (the approach one of the seeds used), on the CPU.

The pretrained network keeps every AudioSet-trained weight except its last layer, which is replaced by one for the
task's classes. It trains on EfficientAT's own log-mel input (cached once, `soundlab.models.features`) with the
augmentations that matter on a few hundred clips: mixup of spectrograms and labels, random circular time shifts,
and one frequency band and one time span masked per example (SpecAugment); with `real_views`, each example is
also drawn at random from the clip as recorded and from other recordings of it (`soundlab.augment`: band limit,
room, noise, codec), so the network does not learn ESC-50's recording conditions as part of each class. A fixed
schedule (`FinetuneConfig`: warm-up, then cosine decay) rather than early stopping, as for the networks trained
from scratch: a validation split would cost a fifth of the few clips there are, and its loss is noisy.

The protocol and run folder are those of every other family, so the Metrics page compares the fine-tuned network
with the heads clip by clip. The Classify page serves the network inside a fused model (`soundlab.train.fusion`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from soundlab.errors import DatasetError
from soundlab.models import efficientat, features
from soundlab.train import CVResult, FeatureInputs, Fit, Log, Progress

NAME = "mn04-finetuned"


@dataclass(frozen=True)
class FinetuneConfig:
    # 16 epochs: a five-fold run and the deployed model fit a CPU hour; chosen in a pilot on one fold
    # (bench/RESULTS.md: "Why fine-tuning runs 16 epochs"). The same schedule for every fold and task.
    epochs: int = 16
    batch_size: int = 32
    learning_rate: float = 3e-4  # for the pretrained layers
    head_learning_rate: float = 3e-3  # for the new last layer
    weight_decay: float = 1e-4
    warmup_share: float = 0.1
    mixup_alpha: float = 0.3
    freq_mask: int = 16  # widest masked band (of 128 mel bins)
    time_mask: int = 50  # widest masked span (of 500 frames: 0.5 s)
    threads: int = 2
    probe_init: bool = True  # start the new last layer from a logistic regression on the frozen network's features
    real_views: tuple[str, ...] = ()  # recording-conditions views (augment.TRAIN_VIEWS) each example may be drawn from
    real_test: bool = False  # also score each held-out clip through augment.TEST_VIEW ("under real conditions")
    extra_weight: float = 1.0  # each extra training window (train --extra-train) counts as this many dataset clips
    seed: int = 0
    n_splits: int = 5


def _augment(x, rng: np.random.Generator, cfg: FinetuneConfig):
    """(batch, 1, 128, T) spectrograms: a random circular time shift and one masked band and span per example."""
    import torch

    b, _, f, t = x.shape
    shifts = torch.from_numpy(rng.integers(0, t, b))
    idx = (torch.arange(t)[None, :] - shifts[:, None]) % t  # (b, t)
    x = torch.gather(x, 3, idx[:, None, None, :].expand(b, 1, f, t))
    fw, tw = rng.integers(0, cfg.freq_mask + 1, b), rng.integers(0, cfg.time_mask + 1, b)
    f0, t0 = rng.integers(0, f - fw + 1), rng.integers(0, t - tw + 1)
    fi, ti = torch.arange(f)[None, :], torch.arange(t)[None, :]
    fmask = (fi >= torch.from_numpy(f0)[:, None]) & (fi < torch.from_numpy(f0 + fw)[:, None])  # (b, f)
    tmask = (ti >= torch.from_numpy(t0)[:, None]) & (ti < torch.from_numpy(t0 + tw)[:, None])  # (b, t)
    mask = (fmask[:, :, None] | tmask[:, None, :])[:, None]
    fill = x.mean(dim=(2, 3), keepdim=True)  # the example's mean level, not an out-of-range zero
    return torch.where(mask, fill, x)


def _probe(net, X: np.ndarray, y: np.ndarray, n_classes: int) -> None:
    """Set the new last layer to a logistic regression fitted on the frozen network's 512-d hidden features of the
    training clips (linear probing, then fine-tuning: the pretrained features are not disturbed by a random head)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    net.eval()
    hidden = []
    with torch.inference_mode():
        for a in range(0, len(X), 64):
            _, pooled = net(torch.from_numpy(X[a : a + 64].astype(np.float32))[:, None])
            hidden.append(net.classifier[2:4](pooled).numpy())
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(np.concatenate(hidden), y)
    weight = np.zeros((n_classes, clf.coef_.shape[1]), np.float32)
    bias = np.full(n_classes, -10.0, np.float32)  # a class absent from training starts (and stays) unlikely
    weight[clf.classes_], bias[clf.classes_] = clf.coef_, clf.intercept_
    layer = net.classifier[5]
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))


def fine_tune(X: np.ndarray, y: np.ndarray, n_classes: int, cfg: FinetuneConfig, *, seed: int, weights: Path,
              log: Log | None = None, views: tuple[np.ndarray, ...] = (), sample_weight: np.ndarray | None = None):
    """Train mn04 on spectrograms X (n, 128, T) float16/32 with labels y; `views`: the same clips' spectrograms as
    other recordings, each example drawn from X or one of them at random; `sample_weight` (n,): how much each
    example's loss counts. Returns (network in eval mode, history)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(seed)
    net = efficientat.fine_tunable(weights, n_classes)
    if cfg.probe_init:
        _probe(net, X, y, n_classes)
    head = list(net.classifier[5].parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    opt = torch.optim.AdamW([{"params": body, "lr": cfg.learning_rate}, {"params": head, "lr": cfg.head_learning_rate}],
                            weight_decay=cfg.weight_decay)
    steps_per_epoch = int(np.ceil(len(X) / cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(total * cfg.warmup_share))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + np.cos(np.pi * (s - warm) / max(1, total - warm))))
    history = {"loss": [], "seconds": []}
    yt = torch.from_numpy(np.array(y, np.int64))  # a writable copy
    wt = None if sample_weight is None else torch.from_numpy(np.asarray(sample_weight, np.float32))
    for epoch in range(cfg.epochs):
        t0 = time.monotonic()
        net.train()
        order = rng.permutation(len(X))
        losses = []
        for a in range(0, len(order), cfg.batch_size):
            rows = order[a : a + cfg.batch_size]
            if views:  # which recording of each clip: as given, or one of the views
                src = rng.integers(0, 1 + len(views), len(rows))
                batch = np.stack([(X, *views)[k][r] for k, r in zip(src, rows, strict=True)])
            else:
                batch = X[rows]
            xb = _augment(torch.from_numpy(batch.astype(np.float32))[:, None], rng, cfg)
            yb = yt[rows]
            lam = torch.from_numpy(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha, len(rows)).astype(np.float32))
            perm = torch.from_numpy(rng.permutation(len(rows)))
            xb = xb * lam[:, None, None, None] + xb[perm] * (1 - lam[:, None, None, None])
            logits, _ = net(xb)
            each = (F.cross_entropy(logits, yb, reduction="none") * lam
                    + F.cross_entropy(logits, yb[perm], reduction="none") * (1 - lam))
            if wt is None:
                loss = each.mean()
            else:  # a mixed example weighs as its two sources do, in the mix's proportions
                wb = wt[rows]
                w = wb * lam + wb[perm] * (1 - lam)
                loss = (each * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history["loss"].append(float(np.mean(losses)))
        history["seconds"].append(round(time.monotonic() - t0, 1))
        if log:
            log(f"    epoch {epoch + 1}/{cfg.epochs}: loss {history['loss'][-1]:.3f} ({history['seconds'][-1]:.0f} s)")
    return net.eval(), history


def predict(net, X: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (n, n_classes), pooled 384-d embeddings (n, 384)) of spectrograms X (n, 128, T)."""
    import torch

    probs, embs = [], []
    with torch.inference_mode():
        for a in range(0, len(X), batch):
            logits, emb = net(torch.from_numpy(X[a : a + batch].astype(np.float32))[:, None])
            probs.append(torch.softmax(logits, dim=1).numpy())
            embs.append(emb.numpy())
    return np.concatenate(probs), np.concatenate(embs)


class FinetuneTrainer(FeatureInputs):
    """mn04 fine-tuned end to end: one model per run."""

    family = "finetune"
    tag = NAME
    names = (NAME,)
    derived: dict = {}
    feature_dtype = np.float16  # 1054 clips x 128 x 500 log-mels: half the memory; cast per batch

    def __init__(self, weights: Path, config: FinetuneConfig = FinetuneConfig(), log: Log | None = None):
        self.weights, self.config = Path(weights), config
        self.spec = features.SPECS["eat-logmel"]
        self.n_classes = 0
        self._log = log
        self.extra = None  # soundlab.train.extra.ExtraClips: recordings from outside the dataset, training only
        self._views: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # view -> (names, spectrograms), from `prepare`
        self._extra: dict[str | None, np.ndarray] = {}  # view (None: as recorded) -> the extra windows' spectrograms

    @property
    def _view_names(self) -> tuple[str, ...]:
        from soundlab import augment

        return tuple(self.config.real_views) + ((augment.TEST_VIEW,) if self.config.real_test else ())

    def prepare(self, proto, *, cache_dir: Path, progress: Progress | None, log: Log) -> list[tuple[str, str]]:
        self._log = self._log or log
        failures = super().prepare(proto, cache_dir=cache_dir, progress=progress, log=log)
        clips = list(zip(proto.clips["filename"], proto.clips["path"]))
        self._views, self._extra = {}, {}  # a trainer serves one task after another (train --task both)
        for view in self._view_names:
            log(f"computing {self.spec.kind} features of {len(clips)} clips as other recordings ({view}) ...")
            names, X, _ = features.feature_set(clips, self.spec, cache_dir=cache_dir, progress=progress,
                                               dtype=self.feature_dtype, log=log, view=view)
            self._views[view] = (names, X)  # a clip that failed as given is left out by `align`
        if self.extra is not None:  # its windows in every view that trains, never in the test view
            windows = list(zip(self.extra.filenames, self.extra.paths))
            for view in (None, *self.config.real_views):
                log(f"computing {self.spec.kind} features of {len(windows)} windows of extra training recordings"
                    + (f" ({view})" if view else "") + " ...")
                names, X, failed = features.feature_set(windows, self.spec, cache_dir=cache_dir, progress=progress,
                                                        dtype=self.feature_dtype, log=log, view=view)
                if failed:
                    raise DatasetError(f"extra training window {failed[0][0]} could not be read: {failed[0][1]}")
                order = {n: i for i, n in enumerate(names)}
                self._extra[view] = X[[order[f] for f in self.extra.filenames]]
        return failures

    def align(self, filenames: list[str]) -> None:
        """Rows in protocol order, then (in the views that train) any extra training windows."""
        super().align(filenames)
        self.V = {}
        for view, (names, X) in self._views.items():
            order = {n: i for i, n in enumerate(names)}
            self.V[view] = X[[order[f] for f in filenames]]
        if self._extra:
            self.X = np.concatenate([self.X, self._extra[None]])
            for view in self.config.real_views:
                self.V[view] = np.concatenate([self.V[view], self._extra[view]])

    def _weights(self, rows: np.ndarray) -> np.ndarray | None:
        from soundlab.train.extra import sample_weights

        return sample_weights(rows, self)

    def fit(self, name: str, rows: np.ndarray, y: np.ndarray, groups: np.ndarray, *, seed: int,
            epochs: int | None = None) -> Fit:
        t0 = time.monotonic()
        net, history = fine_tune(self.X[rows], y, self.n_classes, self.config, seed=seed, weights=self.weights,
                                 log=self._log, views=tuple(self.V[v][rows] for v in self.config.real_views),
                                 sample_weight=self._weights(rows))
        if self._log:
            self._log(f"  trained on {len(rows)} clips in {time.monotonic() - t0:.0f} s")
        return Fit(net, history)

    def predict(self, name: str, model, rows: np.ndarray) -> np.ndarray:
        return predict(model, self.X[rows])[0]

    def predict_real(self, name: str, model, rows: np.ndarray) -> np.ndarray | None:
        """Probabilities of the clips at `rows` recorded otherwise (`augment.TEST_VIEW`, never trained on); None
        without `real_test`."""
        from soundlab import augment

        return predict(model, self.V[augment.TEST_VIEW][rows])[0] if augment.TEST_VIEW in self.V else None

    def deploy_epochs(self, name: str, cv: CVResult | None) -> int | None:
        return None  # the same fixed schedule as in every fold

    def combine(self, name: str, members: list):
        raise NotImplementedError("the fine-tuned network has no derived models")

    def save(self, name: str, fit: Fit, writer) -> dict:
        path, rel = writer.model_file(name, suffix=".pt")
        efficientat.save_network(fit.model, path)
        return {"file": rel, "epochs": self.config.epochs, "n_classes": self.n_classes,
                "params": int(sum(p.numel() for p in fit.model.parameters()))}

    def finish(self, writer, proto, deployed: dict[str, Fit], log: Log, results=None) -> dict:
        net = deployed[NAME].model
        t0 = time.perf_counter()
        clips = self.X[: len(self.filenames)]  # the dataset's clips, not the extra windows
        _, emb = predict(net, clips)  # the deployed model on every clip's spectrogram, in batches
        infer_ms = (time.perf_counter() - t0) * 1000 / max(len(clips), 1)
        writer.add_embeddings(self.filenames, emb, np.zeros((len(clips), 0), np.float16))
        from soundlab.models.backbone import file_sha256

        return {"backbone": {"name": "EfficientAT mn04_as, fine-tuned end to end",
                             "fingerprint": f"finetune-mn04-{file_sha256(self.weights)[:16]}", "runtime": "PyTorch"},
                "features": asdict(self.spec), "config": asdict(self.config),
                "inference_ms_per_clip": round(infer_ms, 3)}

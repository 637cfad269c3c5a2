"""Is this sound one of the classes? An open-set verdict with three outcomes, calibrated on out-of-fold data.

A closed 50-class head always names one of its classes, even for speech, a lion or a piano. The verdict says
"one of the 50" (with the class), "not one of the 50" (with what the backbone's AudioSet tagger hears instead) or
"unsure", from five signals a reviewer can see (of these six), each oriented so that larger means less like ESC-50:

* ``confidence``  -- 1 minus the head's top probability;
* ``distance``    -- the cosine distance from the clip's mean embedding to the nearest training clip *of the
                     predicted class*;
* ``novelty``     -- the strongest AudioSet tag that no ESC-50 class produces, read through the tag map below;
* ``support``     -- how little the tags the predicted class usually gets are heard (1 minus the strongest of them);
* ``speech_music``-- the strongest speech or music tag (speech and music are generic tags that some ESC-50 classes
                     produce a little of, so they get a signal of their own);
* ``foreign_like``-- only in a model that was shown foreign recordings (`ForeignScore`, outlier exposure): how much
                     the clip's embedding resembles those rather than the training clips and recordings. It takes
                     the place of ``distance`` in the decision: the distance fires on anything recorded differently
                     from ESC-50, the learned score on what looks like the sounds a user must be told are none.

The **tag map** is learned from the run's out-of-fold data, not written by hand: for each class, the AudioSet tags
that are among the top five of at least `TAG_SHARE` of its clips (dog -> Dog, Bark, Bow-wow, Animal, ...). Tags
in the map of `GENERIC_CLASSES` classes or more (Animal, Silence, Speech ...) are generic: they do not count as a
class's own. It works with any backbone's tags (YAMNet's 521, EfficientAT's 527 classes).

**Calibration** is nested, on ESC-50 clips out of fold only: a clip of fold k is judged against the signal
distributions of the other folds' clips (computed with the tag map of those folds), so the in-set rate it reports is
an honest estimate. Each signal becomes a tail probability (the share of ESC-50 clips at least as extreme); their
combination is Fisher's statistic, -2 sum log p. A clip is "unsure" above the `UNSURE_QUANTILE` of that statistic
over ESC-50 clips and "not one of the 50" above `FOREIGN_QUANTILE`, or when speech/music or a novel tag alone is
beyond anything an ESC-50 clip of the calibration showed. The deployed model uses all folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SIGNALS = ("confidence", "distance", "novelty", "support", "speech_music", "foreign_like")
CLASSIC = SIGNALS[:5]  # the signals of a model without a learned foreign score (and of calibrations before it)
LEARNED = ("confidence", "novelty", "support", "speech_music", "foreign_like")  # with one: it replaces the distance
SPEECH_MUSIC = ("Speech", "Speech synthesizer", "Narration, monologue", "Conversation", "Music", "Musical instrument",
                "Singing")
TOP_TAGS = 5  # a clip "produces" the tags among its top five
TAG_SHARE = 0.15  # a tag is a class's when at least this share of its clips produce it
GENERIC_CLASSES = 6  # a tag produced by this many classes or more is generic
UNSURE_QUANTILE = 0.95
FOREIGN_QUANTILE = 0.985
P_FLOOR = 0.5  # tail probabilities are floored at P_FLOOR / (reference size): never log(0)
FOREIGN_C = 0.01  # the foreign score's L2 strength (scikit-learn's C), chosen on real-world split A (docs/models.md)
VERSION = 2


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_distance(query: np.ndarray, reference: np.ndarray, *, reference_normalized: bool = False) -> np.ndarray:
    """Cosine distance from each row of `query` (m, d) to its nearest row of `reference` (n, d)."""
    ref = reference if reference_normalized else normalize(reference)
    q = normalize(query)
    if len(ref) == 0:
        return np.ones(len(q), np.float32)
    if len(q) <= 4:
        # A few queries (one clip, one live window): multiply and sum instead of a BLAS matrix product.
        # OpenBLAS threads keep spinning after a call and then slow down YAMNet's next invoke ~2x.
        sims = np.stack([(ref * row).sum(axis=1) for row in q])
    else:
        sims = q @ ref.T
    return 1.0 - sims.max(axis=1)


@dataclass(frozen=True)
class ForeignScore:
    """P(foreign) of a clip from its unit-length mean embedding: a logistic regression (scikit-learn, standardised
    inputs, classes weighed alike) of the training clips and the genuine outside recordings against foreign
    recordings (outlier exposure). Stored as its numbers, applied with numpy."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, inside: np.ndarray, foreign: np.ndarray) -> ForeignScore:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        x = np.vstack([normalize(inside), normalize(foreign)]).astype(np.float64)
        y = np.r_[np.zeros(len(inside)), np.ones(len(foreign))]
        scaler = StandardScaler().fit(x)
        lr = LogisticRegression(C=FOREIGN_C, class_weight="balanced", max_iter=3000).fit(scaler.transform(x), y)
        return cls(scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32),
                   lr.coef_[0].astype(np.float32), float(lr.intercept_[0]))

    def __call__(self, pooled: np.ndarray) -> np.ndarray:
        z = ((normalize(np.atleast_2d(pooled)) - self.mean) / self.scale) @ self.coef + self.intercept
        return (1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))).astype(np.float32)

    def to_json(self) -> dict:
        return {k: np.round(getattr(self, k), 7).tolist() for k in ("mean", "scale", "coef")} | {
            "intercept": self.intercept, "C": FOREIGN_C}

    @classmethod
    def from_json(cls, d: dict) -> ForeignScore:
        return cls(*(np.asarray(d[k], np.float32) for k in ("mean", "scale", "coef")), float(d["intercept"]))


# ---- the tag map --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TagMap:
    """Which AudioSet tags each class produces, learned from data."""

    class_tags: list[list[int]]  # per class (label order), the tag indices it produces
    generic: list[int]  # tags produced by GENERIC_CLASSES classes or more

    @property
    def known(self) -> set[int]:
        return {t for tags in self.class_tags for t in tags}

    def own(self, label: int) -> list[int]:
        """A class's own tags: its tags that are not generic."""
        g = set(self.generic)
        return [t for t in self.class_tags[label] if t not in g]

    def to_json(self) -> dict:
        return {"class_tags": self.class_tags, "generic": self.generic}

    @classmethod
    def from_json(cls, d: dict) -> TagMap:
        return cls([list(map(int, t)) for t in d["class_tags"]], list(map(int, d["generic"])))

    def table(self, class_names: list[str], tag_names: list[str]) -> list[dict]:
        """One row per class: its own tags and the generic ones it also produces (for the Metrics page)."""
        g = set(self.generic)
        return [{"class": c, "its AudioSet tags": ", ".join(tag_names[t] for t in tags if t not in g),
                 "generic tags": ", ".join(tag_names[t] for t in tags if t in g)}
                for c, tags in zip(class_names, self.class_tags)]


def learn_tag_map(tags: np.ndarray, labels: np.ndarray, n_classes: int) -> TagMap:
    """The tag map from clips' AudioSet tags (n, n_tags) and their labels (n,)."""
    top = np.argsort(-tags, axis=1)[:, :TOP_TAGS]
    class_tags = []
    for c in range(n_classes):
        rows = top[labels == c]
        if len(rows) == 0:
            class_tags.append([])
            continue
        values, counts = np.unique(rows, return_counts=True)
        keep = counts >= max(1, TAG_SHARE * len(rows))
        class_tags.append(sorted(int(v) for v in values[keep]))
    counts = np.bincount([t for ts in class_tags for t in ts], minlength=tags.shape[1] if tags.ndim == 2 else 0)
    return TagMap(class_tags, sorted(int(t) for t in np.flatnonzero(counts >= GENERIC_CLASSES)))


# ---- signals ------------------------------------------------------------------------------------------------

def speech_music_tags(tag_names: list[str]) -> list[int]:
    return [tag_names.index(n) for n in SPEECH_MUSIC if n in tag_names]


def signals(*, probs: np.ndarray, pooled: np.ndarray, tags: np.ndarray, ref_pooled: np.ndarray,
            ref_labels: np.ndarray, tag_map: TagMap, speech_music: list[int],
            second: tuple[np.ndarray, TagMap, list[int]] | None = None,
            foreign: ForeignScore | None = None) -> np.ndarray:
    """(m, 6) signal values of m clips (larger = less like ESC-50), in `SIGNALS` order (`foreign_like` 0 without a
    learned `foreign` score).

    probs (m, n_classes) head probabilities; pooled (m, d) mean embeddings; tags (m, n_tags) AudioSet tags;
    ref_pooled (n, d) unit-length embeddings of the training clips and ref_labels (n,) their labels. `second`: (tags,
    tag map, speech/music tags) of a second tagger the model also hears through: semantic evidence from either counts
    (`support` is the smaller of the two taggers', `speech_music` the larger).
    """
    probs, tags = np.atleast_2d(probs), np.atleast_2d(tags)
    pooled = normalize(np.atleast_2d(pooled))
    pred = probs.argmax(axis=1)
    out = np.zeros((len(pred), len(SIGNALS)), np.float32)
    out[:, 0] = 1.0 - probs.max(axis=1)
    for c in np.unique(pred):
        rows = pred == c
        out[rows, 1] = nearest_distance(pooled[rows], ref_pooled[ref_labels == c], reference_normalized=True)
    out[:, 2:5] = _tag_signals(pred, tags, tag_map, speech_music)
    if second is not None:
        other = _tag_signals(pred, np.atleast_2d(second[0]), second[1], second[2])
        out[:, 3] = np.minimum(out[:, 3], other[:, 1])
        out[:, 4] = np.maximum(out[:, 4], other[:, 2])
    if foreign is not None:
        out[:, 5] = foreign(pooled)
    return out


def _tag_signals(pred: np.ndarray, tags: np.ndarray, tag_map: TagMap, speech_music: list[int]) -> np.ndarray:
    """(m, 3): novelty, support and speech_music of m clips predicted `pred`, from one tagger's tags."""
    out = np.zeros((len(pred), 3), np.float32)
    unknown = np.ones(tags.shape[1], bool)
    unknown[list(tag_map.known)] = False
    out[:, 0] = (tags * unknown).max(axis=1) if unknown.any() else 0.0
    for c in np.unique(pred):
        rows = pred == c
        own = tag_map.own(int(c))
        out[rows, 1] = 1.0 - (tags[rows][:, own].max(axis=1) if own else 0.0)
    out[:, 2] = tags[:, speech_music].max(axis=1) if speech_music else 0.0
    return out


def tail_p(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per signal, the share of reference rows at least as extreme as each value row (floored, never 0)."""
    ref = np.sort(reference, axis=0)
    n = len(ref)
    out = np.empty(values.shape, np.float64)
    for j in range(values.shape[1]):
        above = n - np.searchsorted(ref[:, j], values[:, j], side="left")
        out[:, j] = np.maximum(above, P_FLOOR) / n
    return out


def fisher(p: np.ndarray) -> np.ndarray:
    return -2.0 * np.log(p).sum(axis=1)


# ---- the model ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    signal: str
    value: float
    threshold: float  # the value 95% of ESC-50 clips stay within (their 95th percentile)
    p: float  # the share of ESC-50 clips at least as extreme
    text: str


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "in-set" | "foreign" | "unsure" | "silence" (nothing loud enough to judge)
    label: str  # the predicted class (the closed-set answer)
    hears: str  # what the tagger hears most, in words, with scores: "Speech (0.91), Music (0.12)"
    reasons: tuple[Reason, ...]
    score: float  # Fisher's statistic of the signals
    tagger: str = "YAMNet"
    distance: float = float("nan")
    heard: str = ""  # the one thing the tagger hears most, for a headline ("Speech", "silence")
    dataset: str = "ESC-50"  # whose classes: the run's task ("ESC-10" for an ESC-10 run)
    values: tuple[float, ...] = ()  # every signal's value, in `SIGNALS` order
    thresholds: tuple[float, ...] = ()  # the value 95% of the run's clips stay within, per signal
    used: tuple[str, ...] = CLASSIC  # the signals the decision combined (`OpenSetModel.used`)

    @property
    def in_set(self) -> bool:
        return self.outcome == "in-set"

    def message(self) -> str:
        if self.outcome == "in-set":
            return f"an {self.dataset} sound: {self.label}"
        if self.outcome == "silence":
            return "silence: nothing loud enough to classify"
        why = "; ".join(r.text for r in self.reasons[:3])
        if self.outcome == "foreign":
            return (f"not an {self.dataset} sound; {self.tagger} hears: {self.hears}" + (f" ({why})" if why else ""))
        return (f"unsure whether this is an {self.dataset} sound; {self.tagger} hears: {self.hears}"
                + (f" ({why})" if why else ""))

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "class": self.label, "hears": self.hears, "score": round(self.score, 3),
                "message": self.message(),
                "reasons": [{"signal": r.signal, "value": round(r.value, 4), "threshold": round(r.threshold, 4),
                             "p": round(r.p, 4), "text": r.text} for r in self.reasons]}


@dataclass(frozen=True)
class SecondTagger:
    """A second AudioSet tagger a fused model hears through (its YAMNet member): its tag map and speech/music tags."""

    name: str
    tag_map: TagMap
    speech_music: list[int]

    def to_json(self) -> dict:
        return {"name": self.name, "tag_map": self.tag_map.to_json(), "speech_music": self.speech_music}

    @classmethod
    def from_json(cls, d: dict) -> SecondTagger:
        return cls(str(d["name"]), TagMap.from_json(d["tag_map"]), list(map(int, d["speech_music"])))


@dataclass(frozen=True)
class OpenSetModel:
    tag_map: TagMap
    reference: np.ndarray  # (n, 5) signal values of the ESC-50 clips out of fold: the calibration distribution
    unsure_threshold: float  # Fisher statistic
    foreign_threshold: float
    speech_music: list[int]
    oof: dict = field(default_factory=dict)  # nested out-of-fold shares: in-set, unsure, foreign
    second: SecondTagger | None = None  # semantic evidence from a second tagger counts too (`signals`)
    foreign: ForeignScore | None = None  # learned from foreign recordings: `foreign_like` replaces `distance`

    @property
    def used(self) -> tuple[str, ...]:
        return LEARNED if self.foreign is not None else CLASSIC

    @property
    def _cols(self) -> list[int]:
        return _columns(self.used)

    @property
    def oof_in_set_share(self) -> float:
        return float(self.oof.get("in_set", float("nan")))

    @property
    def p95(self) -> np.ndarray:
        return np.quantile(self.reference, 0.95, axis=0)

    def to_json(self) -> dict:
        return {"version": VERSION, "tag_map": self.tag_map.to_json(),
                "reference": np.round(self.reference, 5).tolist(), "unsure_threshold": self.unsure_threshold,
                "foreign_threshold": self.foreign_threshold, "speech_music": self.speech_music, "oof": self.oof,
                "signals": list(SIGNALS), "used": list(self.used), "unsure_quantile": UNSURE_QUANTILE,
                "foreign_quantile": FOREIGN_QUANTILE,
                **({"second_tagger": self.second.to_json()} if self.second else {}),
                **({"foreign_score": self.foreign.to_json()} if self.foreign else {})}

    @classmethod
    def from_json(cls, d: dict) -> OpenSetModel:
        if d.get("version") != VERSION:
            raise ValueError("an open-set calibration of an older version; run `python -m soundlab calibrate`")
        reference = np.asarray(d["reference"], np.float32)
        if reference.shape[1] < len(SIGNALS):  # calibrated before `foreign_like` existed: the column it never used
            reference = np.pad(reference, ((0, 0), (0, len(SIGNALS) - reference.shape[1])))
        return cls(TagMap.from_json(d["tag_map"]), reference,
                   float(d["unsure_threshold"]), float(d["foreign_threshold"]), list(map(int, d["speech_music"])),
                   dict(d.get("oof", {})),
                   SecondTagger.from_json(d["second_tagger"]) if d.get("second_tagger") else None,
                   ForeignScore.from_json(d["foreign_score"]) if d.get("foreign_score") else None)

    def outcome(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(outcomes as strings, Fisher statistics, tail probabilities) of signal rows (m, 6); only the `used`
        signals count."""
        p = tail_p(self.reference, values)
        stat = fisher(p[:, self._cols])
        extreme = values[:, [2, 4]] > self.reference[:, [2, 4]].max(axis=0)  # novelty, speech/music beyond all seen
        outcome = np.where((stat > self.foreign_threshold) | extreme.any(axis=1), "foreign",
                           np.where(stat > self.unsure_threshold, "unsure", "in-set"))
        return outcome, stat, p

    def judge(self, *, probs: np.ndarray, pooled: np.ndarray, tags: np.ndarray, ref_pooled: np.ndarray,
              ref_labels: np.ndarray, class_names: list[str], tag_names: list[str], tagger: str = "YAMNet",
              dataset: str = "ESC-50", tags2: np.ndarray | None = None) -> Verdict:
        """The verdict for one clip: head probabilities (n_classes,), mean embedding (d,), AudioSet tags (n_tags,);
        `tags2`: the second tagger's (a model calibrated with one; without them, the first tagger's alone count).
        `dataset` names whose classes these are in the reasons ("ESC-10" for a run of ESC-10's ten classes)."""
        second = (None if self.second is None or tags2 is None
                  else (np.asarray(tags2)[None], self.second.tag_map, self.second.speech_music))
        values = signals(probs=probs[None], pooled=pooled[None], tags=tags[None], ref_pooled=ref_pooled,
                         ref_labels=ref_labels, tag_map=self.tag_map, speech_music=self.speech_music, second=second,
                         foreign=self.foreign)

        outcome, stat, p = self.outcome(values)
        v, pv = values[0], p[0]
        top = int(np.argmax(probs))
        heard = self._heard(tags, tag_names)
        return Verdict(outcome=str(outcome[0]), label=class_names[top],
                       hears=", ".join(f"{tag_names[i]} ({tags[i]:.2f})" for i in heard) or "nothing clearly",
                       reasons=self._reasons(v, pv, top, class_names, tags, tag_names, tagger, dataset,
                                             self.second.name if second is not None else None),
                       score=float(stat[0]), tagger=tagger, distance=float(v[1]),
                       heard=tag_names[heard[0]] if heard else "", dataset=dataset,
                       values=tuple(float(x) for x in v), thresholds=tuple(float(x) for x in self.p95),
                       used=self.used)

    def _heard(self, tags: np.ndarray, tag_names: list[str]) -> list[int]:
        """The tagger's two strongest tags worth naming, the specific ones first (not Animal, Vehicle ...; speech and
        music are generic in the map but say what a foreign sound is). Silence is named when it is the strongest of
        all: it is generic, but a near-silent recording is best described as silence, not by its faint other tags."""
        generic = set(self.tag_map.generic) - set(self.speech_music)
        order = [int(i) for i in np.argsort(-tags)[:8] if tags[i] >= 0.05]
        if order and tag_names[order[0]] == "Silence":
            return order[:1]
        specific = [i for i in order if i not in generic] or order
        return specific[:2]

    def _reasons(self, v, pv, top, class_names, tags, tag_names, tagger, dataset,
                 second: str | None = None) -> tuple[Reason, ...]:
        """Why a clip looks foreign, in words a listener reads (the numbers stay in the Reason's fields); `second`:
        the second tagger's name, when its tags counted too."""
        label = class_names[top]
        own = [tag_names[t] for t in self.tag_map.own(top)][:3]
        texts = {
            "confidence": f"the model is not sure: its best guess, {label}, gets only {1 - v[0]:.0%}",
            "distance": f"it does not sound like the {label} clips the model learned from",
            "novelty": f"{tagger} hears {self._novel(tags, tag_names)}, a sound none of the {len(class_names)} "
                       f"{dataset} classes makes",
            "support": (f"neither {tagger} nor {second} hears" if second else f"{tagger} does not hear")
                       + f" what {label} clips usually sound like" + (f" ({', '.join(own)})" if own else ""),
            "speech_music": f"{tagger}{' or ' + second if second else ''} hears speech or music",
            "foreign_like": "it sounds like the recordings of other sounds the check was shown as none of the "
                            f"{len(class_names)}",
        }
        reasons = [Reason(s, float(v[j]), float(self.p95[j]), float(pv[j]), texts[s])
                   for j, s in enumerate(SIGNALS) if s in self.used and pv[j] < 1 - UNSURE_QUANTILE]
        return tuple(sorted(reasons, key=lambda r: r.p))

    def _novel(self, tags: np.ndarray, tag_names: list[str]) -> str:
        known = self.tag_map.known
        novel = [int(i) for i in np.argsort(-tags)[:10] if int(i) not in known and tags[i] >= 0.05][:2]
        return " and ".join(tag_names[i] for i in novel) or "tags"


def silence(label: str, *, tagger: str, dataset: str) -> Verdict:
    """The verdict for a recording that is silent all through (every window quieter than speech in a quiet room): it is
    none of the classes, whatever faint tags the tagger reads into it."""
    return Verdict(outcome="silence", label=label, hears="silence", reasons=(), score=float("nan"), tagger=tagger,
                   heard="silence", dataset=dataset)


@dataclass(frozen=True)
class _Reference:
    """The training clips a clip is compared with: the dataset's clips at `rows`, plus any extra training windows
    (recordings from elsewhere the run also learned from; they are never tested, so they join every reference).
    `tags2`/`extra_tags2`: a second tagger's tags of the same clips and windows, if the model hears through one."""

    pooled: np.ndarray
    tags: np.ndarray
    labels: np.ndarray
    extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (pooled unit length, tags, labels)
    tags2: np.ndarray | None = None
    extra_tags2: np.ndarray | None = None
    speech_music2: tuple[int, ...] = ()
    outside: tuple[np.ndarray, np.ndarray] | None = None  # (genuine, foreign) outside recordings' mean embeddings
    _fitted: dict = field(default_factory=dict, compare=False, repr=False)  # foreign scores by training rows

    def foreign_score(self, rows: np.ndarray) -> ForeignScore | None:
        """The foreign score learned from the clips at `rows`, the extra windows and the genuine outside recordings
        against the foreign ones; None without foreign recordings. Fitted once per set of rows: the nested
        calibration asks for each fold's twice."""
        if self.outside is None:
            return None
        key = np.asarray(rows, bool).tobytes()
        if key not in self._fitted:
            inside = [self.pooled[rows], self.outside[0]] + ([self.extra[0]] if self.extra is not None else [])
            self._fitted[key] = ForeignScore.fit(np.concatenate(inside), self.outside[1])
        return self._fitted[key]

    def at(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.extra is None:
            return self.pooled[rows], self.tags[rows], self.labels[rows]
        return tuple(np.concatenate([a[rows], b]) for a, b in zip((self.pooled, self.tags, self.labels), self.extra))

    def tag_map(self, rows: np.ndarray, n_classes: int) -> TagMap:
        _, tags, labels = self.at(rows)
        return learn_tag_map(tags, labels, n_classes)

    def tag_map2(self, rows: np.ndarray, n_classes: int) -> TagMap | None:
        if self.tags2 is None:
            return None
        _, _, labels = self.at(rows)
        tags2 = self.tags2[rows] if self.extra_tags2 is None else np.concatenate([self.tags2[rows], self.extra_tags2])
        return learn_tag_map(tags2, labels, n_classes)

    def second(self, test: np.ndarray, tag_map2: TagMap | None):
        """The `second` argument of `signals` for the clips at `test`."""
        return None if tag_map2 is None else (self.tags2[test], tag_map2, list(self.speech_music2))

    def signals_of(self, probs, test: np.ndarray, rows: np.ndarray, tag_map: TagMap, tag_map2: TagMap | None, sm,
                   foreign: ForeignScore | None = None):
        """Signals of the clips at `test` against the clips at `rows` (and the extra windows)."""
        ref_pooled, _, ref_labels = self.at(rows)
        return signals(probs=probs[test], pooled=self.pooled[test], tags=self.tags[test], ref_pooled=ref_pooled,
                       ref_labels=ref_labels, tag_map=tag_map, speech_music=sm, second=self.second(test, tag_map2),
                       foreign=foreign)


def _oof_signals(probs, ref: _Reference, folds, n_classes, sm, exclude=None) -> np.ndarray:
    """Signals of every clip against the clips of the other folds (and their tag maps), leaving out fold `exclude`
    entirely; rows of fold `exclude` are left at zero."""
    values = np.zeros((len(ref.labels), len(SIGNALS)), np.float32)
    for k in np.unique(folds):
        if k == exclude:
            continue
        te, tr = folds == k, (folds != k) & (folds != exclude)
        values[te] = ref.signals_of(probs, te, tr, ref.tag_map(tr, n_classes), ref.tag_map2(tr, n_classes), sm,
                                    ref.foreign_score(tr))
    return values


def _columns(used: tuple[str, ...]) -> list[int]:
    return [SIGNALS.index(n) for n in used]


def _model(tag_map: TagMap, reference: np.ndarray, sm: list[int], oof: dict | None = None,
           second: SecondTagger | None = None, foreign: ForeignScore | None = None) -> OpenSetModel:
    stats = fisher(tail_p(reference, reference)[:, _columns(LEARNED if foreign is not None else CLASSIC)])
    return OpenSetModel(tag_map, reference, float(np.quantile(stats, UNSURE_QUANTILE)),
                        float(np.quantile(stats, FOREIGN_QUANTILE)), sm, oof or {}, second, foreign)


def calibrate(*, probs: np.ndarray, pooled: np.ndarray, tags: np.ndarray, labels: np.ndarray, folds: np.ndarray,
              n_classes: int, tag_names: list[str],
              extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
              second: tuple[str, np.ndarray, np.ndarray | None, list[str]] | None = None,
              outside: tuple[np.ndarray, np.ndarray] | None = None) -> OpenSetModel:
    """The open-set model from a run's out-of-fold data: head probabilities (n, n_classes), mean embeddings (n, d),
    AudioSet tags (n, n_tags), labels and folds (n,); `extra`: (pooled, tags, labels) of extra training windows, in
    every reference and tag map (classify compares with them too), never judged; `second`: (name, tags of the clips,
    tags of the extra windows or None, tag names) of a second tagger a fused model hears through; `outside`: (mean
    embeddings of genuine outside recordings, of foreign ones) to learn the foreign score from (`ForeignScore`; each
    fold's from the other folds' clips and these).

    Also reports the nested out-of-fold outcome shares: the clips of fold k are judged by a model whose reference
    signals and tag maps were computed without fold k, against the other folds' clips.
    """
    sm2 = speech_music_tags(second[3]) if second else []
    ref = _Reference(normalize(pooled), tags, labels,
                     None if extra is None else (normalize(extra[0]), extra[1], np.asarray(extra[2])),
                     None if second is None else np.asarray(second[1], np.float32),
                     None if second is None or second[2] is None else np.asarray(second[2], np.float32), tuple(sm2),
                     None if outside is None else (normalize(outside[0]), normalize(outside[1])))
    sm = speech_music_tags(tag_names)
    nested = np.empty(len(labels), object)
    for k in np.unique(folds):
        te = folds == k
        inner = _oof_signals(probs, ref, folds, n_classes, sm, exclude=k)[~te]
        fold_model = _model(ref.tag_map(~te, n_classes), inner, sm, foreign=ref.foreign_score(~te))
        values = ref.signals_of(probs, te, ~te, fold_model.tag_map, ref.tag_map2(~te, n_classes), sm,
                                fold_model.foreign)
        nested[te] = fold_model.outcome(values)[0]
    oof = {o.replace("-", "_"): float(np.mean(nested == o)) for o in ("in-set", "unsure", "foreign")}
    reference = _oof_signals(probs, ref, folds, n_classes, sm)
    every = np.ones(len(labels), bool)
    tagger2 = None if second is None else SecondTagger(second[0], ref.tag_map2(every, n_classes), sm2)
    return _model(ref.tag_map(every, n_classes), reference, sm, oof, tagger2, ref.foreign_score(every))


def calibrate_models(probs: dict[str, np.ndarray], **data) -> dict[str, dict]:
    """`calibrate` for each model of a run ({name: out-of-fold probabilities}), as JSON for ``openset.json``.
    `data`: pooled, tags, labels, folds, n_classes, tag_names (the same for every model of the run)."""
    return {name: calibrate(probs=p, **data).to_json() for name, p in probs.items()}

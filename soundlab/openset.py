"""Is this sound one of the 50? Open-set checks calibrated on out-of-fold data.

A closed 50-class head always names one of its classes, even for speech or a camera shutter. Two
signals say when a sound is not an ESC-50 sound:

1. **Distance**: the cosine distance from the clip's mean backbone embedding to the nearest training
   clip. The threshold is a high quantile of the same distance measured out of fold (each clip
   against the clips of the other folds), so ~`distance_quantile` of real ESC-50 clips pass.
2. **The backbone's own AudioSet tags**: AudioSet classes with no ESC-50 counterpart (speech, conversation,
   narration, speech synthesizer, singing, music). A clip is foreign if one of them scores above
   the `foreign_quantile` of that class's scores over the ESC-50 clips.

The out-of-fold share of ESC-50 clips judged in-set is stored with the thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# AudioSet classes with no ESC-50 counterpart (display names, as in every AudioSet class map)
FOREIGN_AUDIOSET = ("Speech", "Conversation", "Narration, monologue", "Speech synthesizer", "Singing", "Music")
DISTANCE_QUANTILE = 0.97
FOREIGN_QUANTILE = 0.99
MIN_FOREIGN_SCORE = 0.2  # never call a sound foreign on a weak AudioSet score


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_distance(query: np.ndarray, reference: np.ndarray, *, reference_normalized: bool = False) -> np.ndarray:
    """Cosine distance from each row of `query` (m, d) to its nearest row of `reference` (n, d)."""
    ref = reference if reference_normalized else normalize(reference)
    q = normalize(query)
    if len(q) <= 4:
        # A few queries (one clip, one live window): multiply and sum instead of a BLAS matrix product.
        # OpenBLAS threads keep spinning after a call and then slow down YAMNet's next invoke ~2x.
        sims = np.stack([(ref * row).sum(axis=1) for row in q])
    else:
        sims = q @ ref.T
    return 1.0 - sims.max(axis=1)


@dataclass(frozen=True)
class OpenSetModel:
    distance_threshold: float
    foreign_thresholds: dict[int, float]  # AudioSet index -> score threshold
    distance_quantile: float
    foreign_quantile: float
    oof_in_set_share: float  # share of ESC-50 clips judged in-set out of fold

    def to_json(self) -> dict:
        d = asdict(self)
        d["foreign_thresholds"] = {str(k): v for k, v in self.foreign_thresholds.items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> OpenSetModel:
        return cls(distance_threshold=float(d["distance_threshold"]),
                   foreign_thresholds={int(k): float(v) for k, v in d["foreign_thresholds"].items()},
                   distance_quantile=float(d["distance_quantile"]), foreign_quantile=float(d["foreign_quantile"]),
                   oof_in_set_share=float(d["oof_in_set_share"]))

    def judge(self, distance: float, audioset_scores: np.ndarray, audioset_names: list[str], *,
              tagger: str = "YAMNet") -> Verdict:
        """Verdict for one clip from its nearest-training-clip distance and mean AudioSet scores (n_tags,)."""
        foreign = [(i, float(audioset_scores[i])) for i, t in self.foreign_thresholds.items()
                   if audioset_scores[i] > t]
        top = int(np.argmax(audioset_scores))
        hears = audioset_names[top]
        reasons = []
        if foreign:
            i, s = max(foreign, key=lambda x: x[1])
            hears = audioset_names[i]
            reasons.append(f"{hears} scores {s:.2f}, more than in {self.foreign_quantile:.0%} of ESC-50 clips")
        if distance > self.distance_threshold:
            reasons.append(f"far from every training clip (distance {distance:.2f} > {self.distance_threshold:.2f})")
        return Verdict(in_set=not reasons, distance=float(distance), hears=hears, reasons=tuple(reasons), tagger=tagger)


@dataclass(frozen=True)
class Verdict:
    in_set: bool
    distance: float
    hears: str  # the tagger's top AudioSet label (or the foreign one that triggered)
    reasons: tuple[str, ...]
    tagger: str = "YAMNet"  # the backbone whose AudioSet tags these are

    def message(self) -> str:
        if self.in_set:
            return "an ESC-50-like sound"
        return f"not an ESC-50 sound; {self.tagger} hears: {self.hears} (" + "; ".join(self.reasons) + ")"


def foreign_tags(tag_names: list[str]) -> list[int]:
    """Indices of the `FOREIGN_AUDIOSET` classes in a backbone's tag list (those it has)."""
    return [tag_names.index(n) for n in FOREIGN_AUDIOSET if n in tag_names]


def oof_distances(pooled: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each clip's distance to the nearest clip of the other folds (the clips its fold's head trained on)."""
    out = np.zeros(len(pooled), np.float32)
    for f in np.unique(folds):
        te, tr = folds == f, folds != f
        out[te] = nearest_distance(pooled[te], pooled[tr])
    return out


def calibrate(pooled: np.ndarray, folds: np.ndarray, clip_scores: np.ndarray, *, foreign_tags: list[int],
              distance_quantile: float = DISTANCE_QUANTILE, foreign_quantile: float = FOREIGN_QUANTILE) -> OpenSetModel:
    """Thresholds from out-of-fold data: pooled embeddings (n, d), folds (n,), mean AudioSet scores (n, n_tags),
    and the indices of the foreign AudioSet classes in those scores (see `foreign_tags`)."""
    d = oof_distances(pooled, folds)
    d_thr = float(np.quantile(d, distance_quantile))
    f_thr = {i: max(float(np.quantile(clip_scores[:, i], foreign_quantile)), MIN_FOREIGN_SCORE)
             for i in foreign_tags}
    foreign = np.zeros(len(pooled), bool)
    for i, t in f_thr.items():
        foreign |= clip_scores[:, i] > t
    in_set = (d <= d_thr) & ~foreign
    return OpenSetModel(distance_threshold=d_thr, foreign_thresholds=f_thr, distance_quantile=distance_quantile,
                        foreign_quantile=foreign_quantile, oof_in_set_share=float(in_set.mean()))

"""Tag evidence (`soundlab.models.tag_evidence`): class prototypes of AudioSet tag scores, fitted fold by fold."""

import numpy as np
import pytest

from soundlab.errors import RunError
from soundlab.models import tag_evidence


def _tags(rng, n, n_tags=12, hot=None):
    t = rng.uniform(0, 0.02, (n, n_tags)).astype(np.float32)
    if hot is not None:
        t[:, hot] = rng.uniform(0.5, 0.9, (n, 1))
    return t


def test_a_sound_goes_to_the_class_whose_clips_heard_the_same_tags(rng):
    tags = np.concatenate([_tags(rng, 10, hot=[0, 1]), _tags(rng, 10, hot=[5]), _tags(rng, 10, hot=[9, 10])])
    labels = np.repeat([0, 1, 2], 10)
    p = tag_evidence.fit(tags, labels, n_classes=4).predict(_tags(rng, 3, hot=[5]))
    assert p.shape == (3, 4) and np.allclose(p.sum(axis=1), 1, atol=1e-5) and (p.argmax(axis=1) == 1).all()
    frames = tag_evidence.fit(tags, labels, n_classes=4).predict(_tags(rng, 6, hot=[9, 10]).reshape(2, 3, 12))
    assert frames.shape == (2, 3, 4) and (frames.argmax(axis=-1) == 2).all()  # per frame, as the timeline asks


def test_out_of_fold_prototypes_never_see_the_clip_they_judge(rng):
    tags = np.concatenate([_tags(rng, 6, hot=[0]), _tags(rng, 6, hot=[5])])
    labels, folds = np.repeat([0, 1], 6), np.tile([1, 2, 3], 4)
    oof = tag_evidence.out_of_fold(tags, labels, folds, 2)
    for k in (1, 2, 3):
        expect = tag_evidence.fit(tags[folds != k], labels[folds != k], 2).predict(tags[folds == k])
        assert np.allclose(oof[folds == k], expect)
    # extra windows join every fold: a class only they have can still be named
    extra = (_tags(rng, 4, hot=[9]), np.full(4, 2))
    oof3 = tag_evidence.out_of_fold(tags, labels, folds, 3, extra)
    assert oof3.shape == (12, 3) and (oof3.argmax(axis=1) == labels).all()


def test_prototypes_round_trip_and_a_damaged_file_is_named(rng, tmp_path):
    protos = {"efficientat": tag_evidence.fit(_tags(rng, 8, hot=[2]), np.zeros(8, int), 3),
              "yamnet": tag_evidence.fit(_tags(rng, 8, hot=[3]), np.ones(8, int), 3)}
    path = tmp_path / "tag-evidence.npz"
    tag_evidence.save(path, protos)
    back = tag_evidence.load(path)
    assert set(back) == {"efficientat", "yamnet"} and back["yamnet"].tau == tag_evidence.TAU
    q = _tags(rng, 2, hot=[3])
    assert np.allclose(back["yamnet"].predict(q), protos["yamnet"].predict(q))
    good = path.read_bytes()
    for bad in (b"not a zip", good[: len(good) // 2]):  # not an archive; a cut-off one
        path.write_bytes(bad)
        with pytest.raises(RunError, match="tag evidence is damaged"):
            tag_evidence.load(path)

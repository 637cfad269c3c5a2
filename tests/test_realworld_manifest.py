"""The real-world set's manifests: a training-only recording goes with its package's split (so cross-fitting never
judges a package by a recipe that learned from it), and the shipped manifests keep that."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.realworld import build

CATEGORIES = {"dog", "footsteps"}
HEADER = "package\tpath_in_package\tlabel\tsplit\twhy\n"


def _write(path, rows):
    path.write_text(HEADER + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_training_rows_take_their_packages_split(tmp_path):
    split_of: dict[str, str] = {}
    build.read_manifest(_write(tmp_path / "MANIFEST.tsv", [("game-a", "dog.ogg", "dog", "A", "dog.ogg")]),
                        CATEGORIES, split_of=split_of)
    rows = build.read_manifest(_write(tmp_path / "TRAINING.tsv", [("game-a", "step.ogg", "footsteps", "A", "step")]),
                               CATEGORIES, training_only=True, split_of=split_of)
    assert [(r.path, r.training_only) for r in rows] == [("step.ogg", True)]


@pytest.mark.parametrize("row, says", [
    (("game-a", "step.ogg", "footsteps", "B", "step"), "TRAINING.tsv:2: package game-a is in both splits"),
    (("game-z", "step.ogg", "footsteps", "A", "step"), "TRAINING.tsv:2: package game-z has no clip in the validation"),
    (("game-a", "step.ogg", "lion", "A", "step"), "TRAINING.tsv:2: label 'lion' is not an ESC-50 category"),
])
def test_a_training_row_that_would_leak_or_mislabel_is_refused(tmp_path, row, says):
    split_of = {"game-a": "A"}
    with pytest.raises(SystemExit, match=says):
        build.read_manifest(_write(tmp_path / "TRAINING.tsv", [row]), CATEGORIES, training_only=True,
                            split_of=split_of)


def test_the_shipped_manifests_agree():
    categories, _ = build.esc50_meta()
    split_of: dict[str, str] = {}
    listed = {(r.package, r.path) for r in build.read_manifest(build.MANIFEST, categories, split_of=split_of)}
    training = build.read_manifest(build.TRAINING, categories, training_only=True, split_of=split_of)
    assert training and all(r.label != "foreign" for r in training)
    assert max(Counter((r.package, r.label) for r in training).values()) <= 16  # no class swamped (README.md)
    assert not listed & {(r.package, r.path) for r in training}


@pytest.mark.parametrize("flag", ["--manifest", "--training"])
def test_a_missing_manifest_is_one_line(tmp_path, flag, capsys):
    with pytest.raises(SystemExit):
        build.main([str(tmp_path / "set"), flag, str(tmp_path / "nope.tsv")])
    assert f"{flag} {tmp_path / 'nope.tsv'}: no such file" in capsys.readouterr().err

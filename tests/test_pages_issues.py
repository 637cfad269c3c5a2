"""AppTest: the Data issues page on the shipped runs, the review log through the page, and sound search."""

import pytest

from soundlab import issues, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.review import ReviewStore
from tests.apptest import figures, texts
from tests.apptest import run as run_page
from tests.assets import ROOT

ISSUES = str(ROOT / "pages" / "5_Data_issues.py")
EXPLORE = str(ROOT / "pages" / "1_Explore.py")
SHIPPED, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
KIND_LABEL = {k: issues.KIND_NAMES[k].capitalize() for k in issues.KINDS}


@pytest.fixture
def review_db(monkeypatch, tmp_path):
    path = tmp_path / "review.db"
    monkeypatch.setenv("SOUNDLAB_REVIEW_DB", str(path))
    return path


def run(query=None):
    return run_page(ISSUES, query)


def test_counts_select_play_decide_and_see_it_kept_after_a_reload(dev_root, use_dataset, review_db):
    use_dataset(dev_root)
    at = run()
    assert not at.exception and not at.error, texts(at, "error")
    labels = figures(at)
    assert set(KIND_LABEL.values()) <= set(labels)
    assert int(labels["Label issues"]) > 0
    clip = at.selectbox(key="issues-clip-label").options[0]
    at.selectbox(key="issues-clip-label").set_value(clip).run()
    assert not at.exception and len(at.get("audio")) == 1  # the player
    assert any("cleanlab suggests" in m.value for m in at.markdown)
    assert at.query_params["clip"] in (clip, [clip])  # the deep link
    record = next(b for b in at.button if b.label == "Record decision")
    record.click().run()  # an untouched form records nothing: no decision is chosen for the person
    assert "Choose a decision first" in texts(at, "error") and ReviewStore(review_db).history().empty
    at.radio[0].set_value("label_wrong")
    at.text_input(key="issues-reviewer").set_value("tester")
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert "Choose the class" in texts(at, "error") and ReviewStore(review_db).history().empty
    box = next(b for b in at.selectbox if b.label.startswith("The class it should be"))
    assert box.value is None and "cleanlab suggests" in box.placeholder
    labelled = next(m.value for m in at.markdown if "cleanlab suggests" in m.value)
    box.set_value("cow" if "labelled **Rooster**" in labelled else "rooster")
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    # the name is asked once: the next clip's form has it already
    at.selectbox(key="issues-clip-label").set_value(at.selectbox(key="issues-clip-label").options[1]).run()
    assert at.text_input(key="issues-reviewer").value == "tester"
    # a new session (a reload) on the deep link sees the decision in effect, from the database
    again = run({"issues-kind": "Label issues", "clip": clip})
    assert not again.exception and again.selectbox(key="issues-clip-label").value == clip
    kept = " ".join(c.value for c in again.caption)
    assert "In effect: **label wrong" in kept and "tester" in kept
    history = ReviewStore(review_db).history()
    assert list(history["filename"]) == [clip] and history["reviewer"].iloc[0] == "tester"


def test_near_duplicates_show_both_clips_and_a_cross_fold_pair_first(dev_root, use_dataset, review_db):
    use_dataset(dev_root)
    at = run({"issues-kind": KIND_LABEL["near_duplicate"]})
    assert not at.exception and not at.error, texts(at, "error")
    options = at.selectbox(key="issues-clip-near_duplicate").options
    if not options:
        pytest.skip("no near-duplicates in the shipped run")
    at.selectbox(key="issues-clip-near_duplicate").set_value(options[0]).run()
    assert not at.exception and len(at.get("audio")) == 2  # both clips, playable side by side
    run50 = runs.preferred([r for r in SHIPPED if r.classifies_audio])
    table = issues.find(run50, others=[r for r in SHIPPED if r.classifies_audio and r.task == run50.task
                                       and r.backbone_key != run50.backbone_key]).duplicates
    if table["cross_fold"].any():
        assert table["cross_fold"].iloc[0]
        assert "Across folds" in texts(at, "error")


def test_a_bad_deep_link_and_a_corrupt_review_database_are_messages(dev_root, use_dataset, review_db):
    use_dataset(dev_root)
    at = run({"clip": "../../etc/passwd"})
    assert not at.exception and "rejected" in texts(at, "error")
    review_db.write_bytes(b"not a database at all\n" * 200)
    at = run()
    assert not at.exception
    clip = at.selectbox(key="issues-clip-label").options[0]
    at.selectbox(key="issues-clip-label").set_value(clip).run()
    assert not at.exception
    assert str(review_db) in texts(at, "error")  # says which file ...
    assert len(at.get("audio")) == 1 and figures(at)  # ... and the rest of the page works


def test_every_kind_renders(dev_root, use_dataset, review_db):
    use_dataset(dev_root)
    for label in KIND_LABEL.values():
        at = run({"issues-kind": label})
        assert not at.exception and not at.error, (label, texts(at, "error"))


def test_explore_finds_clips_that_sound_like_the_selected_one(dev_root, use_dataset):
    use_dataset(dev_root)
    run50 = next(r for r in SHIPPED if r.classifies_audio and r.task == "esc50")
    names, _, which = runs.read_sound_embeddings(run50)
    assert which == "sound"
    at = run_page(EXPLORE, {"clip": str(names[0]), "explore-similar": "true"})
    assert not at.exception and not at.error, texts(at, "error")
    nearest = [m.value for m in at.markdown if m.value.startswith("**1. ")]
    assert nearest and str(names[0]) not in nearest[0]
    assert any("cosine distance of the mean over the frames that are not silence" in c.value for c in at.caption)


def test_classify_finds_clips_that_sound_like_the_classified_one(dev_root, use_dataset):
    """The classify path's sound embedding lands on the clip's own stored one: the query and the index share a space."""
    use_dataset(dev_root)
    from soundlab.classify import embed_audio
    from soundlab.data import esc50
    from soundlab.models.backbone import load_backbone
    from soundlab.search import SoundIndex

    ds = esc50.load_dataset(dev_root)
    for run50 in [r for r in SHIPPED if r.classifies_audio and r.task == "esc50"]:
        names, vectors, _ = runs.read_sound_embeddings(run50)
        index = SoundIndex.build(names, vectors)
        bb = load_backbone(run50.backbone_key)
        for name in names[:3]:
            hit, dist = index.query(embed_audio(bb, ds.clip_path(str(name))), 1)[0]
            assert hit == name and dist < 0.02, (run50.backbone_key, name, hit, dist)
    at = run_page(str(ROOT / "pages" / "2_Classify.py"), {"classify-similar": "true"})
    assert not at.exception and not at.error, texts(at, "error")
    clip = at.selectbox(key="classify-clip").value
    nearest = [m.value for m in at.markdown if m.value.startswith("**1. ")]
    assert nearest and clip not in nearest[0]

"""AppTest: Home and Explore on the dev dataset and in sample mode."""

import pytest

from tests.apptest import EXPLORE, HOME, figures, pictures, run, texts

PRESENT_WITH_SIBLING = "2-104105-A-19.wav"  # thunderstorm, takes A and B both on disk


def test_home_in_sample_mode():
    at = run(HOME)
    assert not at.exception
    metrics = figures(at)
    assert metrics["In use"] == "Shipped sample" and metrics["Clips on disk"] == "50 / 2000"
    assert "no ESC-50 dataset" in texts(at, "info")
    assert any(b.label == "Download ESC-50 now" for b in at.button)


def test_home_with_the_dev_dataset(dev_root, use_dataset, n_dev):
    use_dataset(dev_root)
    at = run(HOME)
    assert not at.exception
    metrics = figures(at)
    assert metrics["In use"] == "Partial ESC-50" and metrics["Clips on disk"] == f"{n_dev} / 2000"
    assert metrics["ESC-10 clips on disk"] == "400 / 400"
    page = " ".join(str(m.value) for m in at.markdown)
    for what in ("YAMNet TFLite model", "EfficientAT mn04_as weights", "EfficientAT AudioSet labels"):
        assert f":material/check_circle:] {what}" in page


def test_home_download_offline_shows_the_reason(tmp_path, use_dataset, monkeypatch):
    use_dataset(tmp_path / "ESC-50")
    monkeypatch.setenv("SOUNDLAB_ESC50_URL", "https://esc50.invalid/master.zip")
    at = run(HOME)
    next(b for b in at.button if b.label == "Download ESC-50 now").click().run()
    assert not at.exception
    assert "offline" in texts(at, "error") and "SOUNDLAB_ESC50_ROOT" in texts(at, "error")
    assert not (tmp_path / "ESC-50").exists()


def test_explore_sample_mode_shows_real_clips():
    at = run(EXPLORE)
    assert not at.exception
    assert "shipped sample" in texts(at, "info")
    table = at.dataframe[0].value
    assert len(table) == 50 and table["class_name"].nunique() == 50
    name = table["filename"].iloc[0]
    at.selectbox(key="explore-clip").set_value(name).run()
    assert not at.exception
    assert len(pictures(at)) == 1 and len(at.get("audio")) == 1


def test_explore_filters_change_the_table(dev_root, use_dataset, n_dev):
    use_dataset(dev_root)
    at = run(EXPLORE)
    assert len(at.dataframe[0].value) == n_dev
    at.multiselect(key="explore-fold").set_value([4]).run()
    assert len(at.dataframe[0].value) == 400
    at.multiselect(key="explore-class").set_value(["dog"]).run()
    assert len(at.dataframe[0].value) == 8
    at.multiselect(key="explore-class").set_value([]).run()
    at.multiselect(key="explore-cat").set_value(["Animals"]).run()
    assert set(at.dataframe[0].value["class_name"]) == {"Dog", "Rooster", "Pig", "Cow", "Frog", "Cat", "Hen",
                                                        "Insects", "Sheep", "Crow"}
    at.multiselect(key="explore-cat").set_value([]).run()
    at.toggle(key="explore-esc10").set_value(True).run()
    assert len(at.dataframe[0].value) == 80  # ESC-10 clips of fold 4
    at.toggle(key="explore-present").set_value(False).run()
    assert len(at.dataframe[0].value) == 80
    at.toggle(key="explore-esc10").set_value(False).run()
    at.multiselect(key="explore-fold").set_value([]).run()
    assert len(at.dataframe[0].value) == 2000
    at.text_input(key="explore-src").set_value("104105").run()
    assert list(at.dataframe[0].value["filename"]) == ["2-104105-A-19.wav", "2-104105-B-19.wav"]
    assert not at.exception


def test_explore_clip_renders_charts_player_and_siblings(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(EXPLORE, {"clip": PRESENT_WITH_SIBLING})
    assert not at.exception and not at.error
    assert at.selectbox(key="explore-clip").value == PRESENT_WITH_SIBLING
    # one picture of waveform and spectrogram by default (no plotly.js to load), nothing interactive
    assert len(pictures(at)) == 1 and not at.get("plotly_chart") and len(at.get("audio")) == 1
    sib = at.button(key="explore-sib-2-104105-B-19.wav")
    sib.click().run()
    assert at.selectbox(key="explore-clip").value == "2-104105-B-19.wav"
    assert at.query_params["clip"] in ("2-104105-B-19.wav", ["2-104105-B-19.wav"])


def test_explore_link_to_a_clip_opens_the_clip_without_the_table(dev_root, use_dataset, n_dev):
    # a link to a clip shows the clip first: no data grid (its JavaScript would hold up a new visitor's page); the
    # metadata is a markdown table, the clip table is one switch away and then keeps its state
    use_dataset(dev_root)
    at = run(EXPLORE, {"clip": PRESENT_WITH_SIBLING})
    assert not at.exception and not at.dataframe
    assert at.toggle(key="explore-show-table").value is False
    meta = texts(at, "markdown")
    assert "| field | value |" in meta and "source recording" in meta and "104105" in meta
    at.toggle(key="explore-show-table").set_value(True).run()
    assert len(at.dataframe[0].value) == n_dev
    assert at.selectbox(key="explore-clip").value == PRESENT_WITH_SIBLING  # the clip stays open
    at.button(key="explore-sib-2-104105-B-19.wav").click().run()
    assert len(at.dataframe) == 1  # still on after moving to another clip
    # without a clip in the link the table is on from the start
    assert len(run(EXPLORE).dataframe[0].value) == n_dev


def test_explore_mel_parameters(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(EXPLORE, {"clip": PRESENT_WITH_SIBLING})
    at.select_slider(key="explore-mel-nfft").set_value(2048)
    at.slider(key="explore-mel-nmels").set_value(40)
    at.slider(key="explore-mel-fmax").set_value(8000).run()
    assert not at.exception
    assert pictures(at) == ["Waveform and mel spectrogram (n_fft 2048, hop 256, 40 bands to 8.0 kHz)"]
    # bound to the URL (B6): a link with the settings reopens the same spectrogram
    again = run(EXPLORE, {"clip": PRESENT_WITH_SIBLING, "explore-mel-nfft": "2048", "explore-mel-nmels": "40",
                          "explore-mel-fmax": "8000"})
    assert pictures(again) == pictures(at)
    # the same settings reach the interactive charts
    at.toggle(key="explore-interactive").set_value(True).run()
    assert not at.exception and not pictures(at)
    import json

    mel = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert len(mel["y"]) == 40 and "kHz" in mel["y"][-1]


@pytest.mark.parametrize("bad, message", [
    ("../../etc/passwd", "not an ESC-50 clip name"),
    ("1-999999-A-0.wav", "not listed"),
    ("%2e%2e%2fsecret.wav", "not an ESC-50 clip name"),
])
def test_explore_rejects_bad_clip_links(dev_root, use_dataset, bad, message):
    use_dataset(dev_root)
    at = run(EXPLORE, {"clip": bad})
    assert not at.exception
    assert message in texts(at, "error")
    assert at.selectbox(key="explore-clip").value is None
    assert "clip" not in at.query_params
    assert len(at.dataframe) == 1  # no clip opened: the table is on


def test_explore_link_to_a_clip_not_on_disk(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(EXPLORE, {"clip": "1-100038-A-14.wav"})
    assert "not on disk" in texts(at, "error") and not at.exception


def test_explore_deep_link_filters(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(EXPLORE, {"explore-fold": ["2", "3"], "explore-esc10": "true"})
    assert at.multiselect(key="explore-fold").value == [2, 3]
    assert set(at.dataframe[0].value["fold"]) == {2, 3} and at.dataframe[0].value["esc10"].all()


def test_explore_classes_view_and_gallery(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(EXPLORE, {"explore-view": "Classes"})
    assert not at.exception
    assert len(at.dataframe[0].value) == 50
    gallery_buttons = [b for b in at.button if b.key and b.key.startswith("explore-gal-")]
    assert len(gallery_buttons) == 50
    gallery_buttons[10].click().run()  # opens that class's clip in the Clips view
    assert at.segmented_control(key="explore-view").value == "Clips"
    assert at.selectbox(key="explore-clip").value == gallery_buttons[10].key.removeprefix("explore-gal-")


def test_explore_compare_view(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(EXPLORE, {"clip": PRESENT_WITH_SIBLING, "explore-view": "Compare"})
    assert not at.exception
    assert at.selectbox(key="explore-a").value == PRESENT_WITH_SIBLING
    assert at.selectbox(key="explore-b").value == "2-104105-B-19.wav"  # its other take
    assert len(pictures(at)) == 2 and len(at.get("audio")) == 2


def test_missing_and_broken_sample_gives_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDLAB_SAMPLE_ROOT", str(tmp_path / "nope"))
    at = run(EXPLORE)
    assert not at.exception
    assert "No audio to explore" in texts(at, "error")
    home = run(HOME)
    assert not home.exception and "No dataset available" in texts(home, "error")


def test_explore_clip_deleted_after_the_scan_gives_a_message(tmp_path, use_dataset):
    from tests.assets import delete_keeping_folder_time, small_dataset

    names = ["2-104105-A-19.wav", "2-104105-B-19.wav", "2-117271-A-0.wav"]
    root = small_dataset(tmp_path / "ESC-50", names)
    use_dataset(root)
    at = run(EXPLORE, {"clip": names[0]})
    assert not at.exception and len(at.get("audio")) == 1
    delete_keeping_folder_time(root / "audio" / names[0])
    at.selectbox(key="explore-clip").set_value(names[0]).run()
    assert not at.exception
    assert "gone now" in texts(at, "error") and names[0] in texts(at, "error")
    at.selectbox(key="explore-clip").set_value(names[2]).run()  # the rest keeps working
    assert not at.exception and len(at.get("audio")) >= 1

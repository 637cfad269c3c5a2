"""What a finished session leaves behind: nothing of its own (its results, uploads and tables go with it), and what
the server keeps for good is out of the garbage collector's way (components.memory)."""

import gc
import io
import weakref

import numpy as np
import soundfile as sf

from tests.apptest import CLASSIFY, EXPLORE, run


def _upload(name: str) -> bytes:
    buf = io.BytesIO()
    t = np.arange(16_000 * 2) / 16_000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000, format="WAV")
    return buf.getvalue()


def test_a_sessions_objects_do_not_outlive_it(dev_root, use_dataset):
    use_dataset(dev_root)
    at = run(CLASSIFY, {"classify-source": "Upload"})
    at.file_uploader(key="classify-upload").upload("tone.wav", _upload("tone.wav"), "audio/wav").run()
    assert not at.exception
    held = at.session_state["memo-classify-result"]  # (key, result, error): the session's own classification
    result = weakref.ref(held[1])
    explore = run(EXPLORE, {"clip": "2-104105-A-19.wav"})
    assert not explore.exception
    table = weakref.ref(explore.session_state["explore-table"]) if "explore-table" in explore.session_state else None
    del at, explore, held
    gc.collect()
    assert result() is None, "a finished session's classification is still referenced from outside the session"
    assert table is None or table() is None


def test_settling_freezes_what_is_loaded_so_collections_stay_cheap():
    from components import memory

    before = gc.get_freeze_count()
    memory.settle()
    assert gc.get_freeze_count() >= before
    garbage = []
    garbage.append(garbage)  # a cycle made after settling is still collected
    ref = weakref.ref(type("Cycle", (), {})())
    del garbage
    assert gc.collect() >= 1 and ref() is None

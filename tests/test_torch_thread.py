"""The inference thread (soundlab.models.torch_thread): single clips run there with one OpenMP thread, whatever the
process's torch setting; results and errors come back to the caller; the process's setting is not changed."""

import threading

import numpy as np
import pytest

from soundlab import audio
from soundlab.config import get_settings
from soundlab.errors import AudioError
from soundlab.models import torch_thread
from soundlab.models.backbone import load_backbone


def test_result_and_error_come_back_to_the_caller():
    assert torch_thread.call(lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        torch_thread.call(lambda: 1 / 0)
    assert torch_thread.call(lambda: 7) == 7  # the thread survives an error


def test_one_named_thread_with_one_openmp_thread_and_the_process_setting_kept():
    import torch

    before = torch.get_num_threads()
    names = {torch_thread.call(lambda: threading.current_thread().name) for _ in range(3)}
    assert len(names) == 1 and names.pop().startswith(torch_thread.THREAD_NAME)
    assert torch_thread.call(torch.get_num_threads) == torch_thread.OPENMP_THREADS == 1
    assert torch.get_num_threads() == before  # the caller's (and the process's) count is unchanged
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))  # a new thread, as a Streamlit rerun
    t.start()
    t.join()
    assert seen == [before]


def test_a_call_from_inside_the_thread_runs_there_without_deadlock():
    outer = torch_thread.call(lambda: (threading.get_ident(), torch_thread.call(threading.get_ident)))
    assert outer[0] == outer[1]


def test_efficientat_clips_run_in_the_thread_and_bad_input_is_named(dev_root):
    eat = load_backbone("efficientat", get_settings())
    where = []
    batch = eat.embed_batch

    def spy(ys):
        where.append(threading.current_thread().name)
        return batch(ys)

    eat.embed_batch = spy
    y = audio.load(dev_root / "audio" / "2-117271-A-0.wav", sr=32_000).y
    out = eat.embed(y)
    assert where and all(n.startswith(torch_thread.THREAD_NAME) for n in where)
    assert out.embeddings.shape[1] == 384 and np.isfinite(out.scores).all()
    with pytest.raises(AudioError, match="NaN"):  # the backbone's own message, raised in the caller
        eat.embed(np.full(32_000, np.nan, np.float32))


def test_without_threadpoolctl_clips_still_run(monkeypatch, caplog):
    """The thread's set-up without threadpoolctl: a warning that says what to install, and calls still work."""
    import builtins

    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    monkeypatch.setattr(torch_thread, "_executor", None)
    monkeypatch.setattr(torch_thread, "_thread_ident", None)
    with caplog.at_level("WARNING", logger="soundlab.models.torch_thread"):
        assert torch_thread.call(lambda: 42) == 42
    assert "threadpoolctl is missing" in caplog.text and "requirements.txt" in caplog.text

"""One long-lived thread for the process's single-clip PyTorch inference, with one OpenMP thread.

Streamlit runs each script run in a new thread, and a torch call from a fresh thread pays a first-use cost; in a
thread other than the main one, a team of two OpenMP threads was slower for one clip than one thread, and much slower
when another process held a core (bench/RESULTS.md: "Why single clips run in one inference thread").

`torch.set_num_threads` is global to the process (and the Whisper engine and training set it), but OpenMP's
thread count is per thread: this thread sets its own to 1 (with threadpoolctl) and no other thread's setting
changes. Batches (`embed`, training) still run in their caller's thread with its threads. Calls are serialised,
as the models' own locks serialised them before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
THREAD_NAME = "soundlab-torch"
OPENMP_THREADS = 1

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_thread_ident: int | None = None


def _init() -> None:
    global _thread_ident
    import torch

    _thread_ident = threading.get_ident()
    torch.get_num_threads()  # ATen's per-thread set-up first: it would reset this thread's OpenMP count later
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pinned in requirements.txt; without it clips run correctly, on the process's thread count
        logging.getLogger(__name__).warning("threadpoolctl is missing: single clips run on %d OpenMP threads "
                                            "(pip install -r requirements.txt)", torch.get_num_threads())
        return
    threadpool_limits(OPENMP_THREADS, user_api="openmp")  # this thread's count only (OpenMP's is per thread)


def _reset_after_fork() -> None:  # a forked child has no copy of the thread: it starts its own when needed
    global _executor, _thread_ident, _lock
    _executor, _thread_ident, _lock = None, None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def call(fn: Callable[..., T], *args, **kwargs) -> T:
    """`fn(*args, **kwargs)` run in the inference thread; its result or its exception, in the caller's thread."""
    global _executor
    if threading.get_ident() == _thread_ident:  # already there (a model calling another): no hop, no deadlock
        return fn(*args, **kwargs)
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(1, thread_name_prefix=THREAD_NAME, initializer=_init)
        executor = _executor
    return executor.submit(fn, *args, **kwargs).result()


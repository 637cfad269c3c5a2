"""Keep what finished sessions leave behind collectable: freeze the long-lived heap once the models are loaded.

A finished session leaves garbage in reference cycles (its session state, widget metadata and the callbacks closed over
its values, the copies cached data handed it); only a full garbage collection frees them. Python runs one when the
objects that survived since the last full collection exceed a quarter of the long-lived heap, and with TensorFlow,
torch and the models loaded that heap is hundreds of thousands of objects: the collection came ever later (the server
grew by about 2 MB for every visit that came and went) and cost half a second of CPU when it came.

`gc.freeze()` moves every object alive now into a permanent generation that collections skip. Done once, when the
server's warm-up has loaded the libraries and the default models and before any visitor (a frozen object is never
collected: freezing later would keep whatever live sessions held at that moment), Python's own full collections run
again at their normal pace and only look at what sessions made. Measured in bench/RESULTS.md ("Memory across
visitors"), with glibc's malloc arenas limited to two (scripts/run-app.sh sets MALLOC_ARENA_MAX): memory a session's
thread freed is then reused by the next instead of staying in an arena of its own.
"""

from __future__ import annotations

import gc
import threading

_LOCK = threading.Lock()


def settle() -> None:
    """Collect the garbage there is now, then freeze what stays: once, when the server has loaded what it keeps."""
    with _LOCK:
        gc.collect()
        gc.freeze()

"""Pausing Python's cyclic garbage collector while millions of short-lived containers go by.

Replay decodes a list per log record and drops it a moment later (reference counting frees it); none
of them form cycles, yet every 700 allocations the collector scans the young generation, and older
generations as the live state grows: ~15% of replay time, measured. Pausing is process-wide, so
overlapping pauses (replays on several threads) are counted, and the collector resumes when the last
one ends. Cyclic garbage made meanwhile by other threads is collected then.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()

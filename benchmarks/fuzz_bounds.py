"""The time bound of one fuzz input: a hang is a finding, not a stuck run (benchmarks/fuzz_targets.py)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class HangError(Exception):
    """One input took longer than its time bound."""


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds` raises HangError in the main thread (where fuzz loops run).

    An alarm already armed (pytest-timeout's, in the tests) is put back afterwards with the time it
    had left, and expires no later than it would have: our bound is the shorter of the two."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"one input ran longer than {seconds:.1f} s")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer_left_s, outer_interval_s = signal.setitimer(signal.ITIMER_REAL, seconds)
    if outer_left_s:
        signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left_s))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left_s:
            left_s = max(outer_left_s - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left_s, outer_interval_s)

"""The set of accepted event_ids: an event_id accepted once is ignored forever (RECORDS.md).

Ids are kept as 128-bit BLAKE2b digests, 16 bytes per id (vs ~100 for a Python string), in a few
sorted runs of numpy (high, low) uint64 pairs, like a log-structured merge tree: a batch adds one
sorted run, and runs are merged when a newer run grows to half the size of the one before it, so
there are O(log n) runs and each id is re-sorted O(log n) times. Two distinct ids collide only after
~2**64 ids.
"""

from __future__ import annotations

import hashlib

import numpy as np

MAX_RUNS = 64


def digests(event_ids: list[str]) -> np.ndarray:
    """(n, 2) uint64 array: high and low halves of each id's 128-bit digest."""
    blob = b"".join([hashlib.blake2b(e.encode(), digest_size=16).digest() for e in event_ids])
    return np.frombuffer(blob, dtype=">u8").astype(np.uint64).reshape(-1, 2)


def _sorted_run(keys: np.ndarray) -> np.ndarray:
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    return np.ascontiguousarray(keys[order])


def _in_run(run: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which keys are in a sorted run (binary search on the high half, then equal-high walks)."""
    if len(run) == 0 or len(keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    high, low = keys[:, 0], keys[:, 1]
    left = np.searchsorted(run[:, 0], high, side="left")
    right = np.searchsorted(run[:, 0], high, side="right")
    found = np.zeros(len(keys), dtype=bool)
    single = right - left == 1
    found[single] = run[left[single], 1] == low[single]
    # Several ids sharing a high half: practically never; walk those few ranges.
    for i in np.flatnonzero(right - left > 1).tolist():
        found[i] = bool(np.any(run[left[i] : right[i], 1] == low[i]))
    return found


class EventIdSet:
    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def filter_new(self, event_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mask of ids not seen before (nor earlier in this list), and the digests of those.

        Does not add them: call `add` with the digests once the records are applied.
        """
        keys = digests(event_ids)
        if len(keys) == 0:
            return np.zeros(0, dtype=bool), keys
        as_bytes = keys.view(np.dtype((np.void, 16))).ravel()
        _, first = np.unique(as_bytes, return_index=True)
        fresh = np.zeros(len(keys), dtype=bool)
        fresh[first] = True
        for run in self._runs:
            fresh[fresh] &= ~_in_run(run, keys[fresh])
        return fresh, keys[fresh]

    def add(self, keys: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self._runs.append(_sorted_run(keys))
        while len(self._runs) > 1 and (
            2 * len(self._runs[-1]) >= len(self._runs[-2]) or len(self._runs) > MAX_RUNS
        ):
            newer = self._runs.pop()
            older = self._runs.pop()
            self._runs.append(_sorted_run(np.concatenate([older, newer])))

    def size_bytes(self) -> int:
        return int(sum(run.nbytes for run in self._runs))

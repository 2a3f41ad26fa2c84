"""The set of accepted event_ids: an event_id accepted once is ignored forever (RECORDS.md).

Ids are kept as 128-bit XXH3 digests, 16 bytes per id (vs ~100 for a Python string), in a few
runs of numpy (high, low) uint64 columns sorted by the high half, like a log-structured merge tree:
a batch adds one run, and runs merge when a newer run grows to half the size of the one before it,
so there are O(log n) runs. Merging two sorted runs is a stable sort that finds the two runs already
in order (timsort), i.e. linear. Lookups probe with sorted keys, which keeps binary searches in
cache. Two distinct ids collide only after ~2**64 ids. XXH3 rather than a cryptographic hash: it
is three times faster on the ingest path; the ids come from the merchant's own systems, so crafted
collisions are not in the threat model (docs/SEMANTICS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xxhash import xxh3_128_digest

MAX_RUNS = 64


def digests(event_ids: list[str]) -> np.ndarray:
    """(n, 2) uint64 array: high and low halves of each id's 128-bit digest."""
    blob = b"".join(map(xxh3_128_digest, map(str.encode, event_ids)))
    return np.frombuffer(blob, dtype=">u8").astype(np.uint64).reshape(-1, 2)


@dataclass
class _Run:
    high: np.ndarray  # sorted
    low: np.ndarray

    @staticmethod
    def of(high: np.ndarray, low: np.ndarray) -> _Run:
        order = np.argsort(high, kind="stable")
        return _Run(high[order], low[order])

    def contains(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """Membership of (high, low) keys; `high` must be sorted (for cache-friendly probes)."""
        if len(self.high) == 0 or len(high) == 0:
            return np.zeros(len(high), dtype=bool)
        left = np.searchsorted(self.high, high, side="left")
        at = np.minimum(left, len(self.high) - 1)
        same_high = self.high[at] == high
        found = same_high & (self.low[at] == low)
        # Equal high halves with a different low half: walk the (tiny) run of equal highs.
        for i in np.flatnonzero(same_high & ~found).tolist():
            stop = int(np.searchsorted(self.high, high[i], side="right"))
            found[i] = bool(np.any(self.low[int(at[i]) : stop] == low[i]))
        return found


class EventIdSet:
    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run.high) for run in self._runs)

    def filter_new(self, event_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mask of ids not seen before (nor earlier in this list), and the digests of those.

        Does not add them: call `add` with the digests once the records are applied.
        """
        return self.filter_new_keys(digests(event_ids))

    def filter_new_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`filter_new` for ids already digested ((n, 2) uint64 keys, e.g. from a tombstone)."""
        assert keys.ndim == 2 and keys.shape[1] == 2
        if len(keys) == 0:
            return np.zeros(0, dtype=bool), keys
        # One stable sort by (high, low) serves both jobs: equal keys become neighbours (the
        # earliest first, so the first occurrence in the batch wins) and the probes into the
        # runs go in ascending order.
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        high, low = keys[order, 0], keys[order, 1]
        seen = np.zeros(len(order), dtype=bool)
        seen[1:] = (high[1:] == high[:-1]) & (low[1:] == low[:-1])
        for run in self._runs:
            seen |= run.contains(high, low)
        fresh = np.ones(len(keys), dtype=bool)
        fresh[order[seen]] = False
        return fresh, keys[fresh]

    def add(self, keys: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self._runs.append(_Run.of(keys[:, 0].copy(), keys[:, 1].copy()))
        while len(self._runs) > 1 and (
            2 * len(self._runs[-1].high) >= len(self._runs[-2].high) or len(self._runs) > MAX_RUNS
        ):
            newer = self._runs.pop()
            older = self._runs.pop()
            self._runs.append(
                _Run.of(np.concatenate([older.high, newer.high]), np.concatenate([older.low, newer.low]))
            )

    def size_bytes(self) -> int:
        return int(sum(run.high.nbytes + run.low.nbytes for run in self._runs))

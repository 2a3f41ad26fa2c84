"""The set of accepted event_ids: an event_id accepted once is ignored forever (RECORDS.md).

Ids are kept as 128-bit XXH3 digests, 16 bytes per id (vs ~100 for a Python string), in a few
runs of numpy (high, low) uint64 columns sorted by the high half, like a log-structured merge tree:
a batch adds one run, and runs merge when a newer run grows to half the size of the one before it,
so there are O(log n) runs. Merging two sorted runs places the newer keys by binary search (linear,
~3x faster than a sort that finds the two runs). Lookups probe with sorted keys.

A binary search in a run of millions of keys misses the cache at every level below the top ones
(~250 ns per probe at 20 M ids, measured), and almost every probe is for a new id. So a large set
also keeps a one-hash Bloom filter over every key's high half (indexes/key_filter.py), 8-32 bits per
key (3-12% false positives): a probe first tests one bit (~10 ns) and only the few that pass are
searched in the runs. The filter is derived data, never saved: built from the sorted runs in
sequential passes once the probes since it was last valid add up to 1/32 of the set (so a restart
that replays a short tail does not pay for it), extended by every add, rebuilt past its capacity.

XXH3 rather than a cryptographic hash: it is three times faster on the ingest path; the ids come
from the merchant's own systems, so crafted collisions are not in the threat model
(docs/SEMANTICS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xxhash import xxh3_128_digest

from indexes.key_filter import KeyFilter

MAX_RUNS = 64
FILTER_BITS_PER_KEY = 8  # the least the filter keeps: ~12% false positives; built with twice as many
FILTERED_SET = 1 << 20  # smaller sets are probed directly: their runs mostly fit in cache
_PROBES_BEFORE_FILTER = 32  # the filter is built once the probes add up to 1/32 of the set


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
        if len(high) > 1 and not bool(np.all(high[1:] >= high[:-1])):
            order = np.argsort(high, kind="stable")
            high, low = high[order], low[order]
        return _Run(high, low)

    @staticmethod
    def merged(older: _Run, newer: _Run) -> _Run:
        """Both runs' keys, sorted by high; among equal highs the older run's come first."""
        at = np.searchsorted(older.high, newer.high, side="right") + np.arange(len(newer.high))
        size = len(older.high) + len(newer.high)
        from_older = np.ones(size, dtype=bool)
        from_older[at] = False
        high = np.empty(size, dtype=np.uint64)
        low = np.empty(size, dtype=np.uint64)
        high[at], low[at] = newer.high, newer.low
        high[from_older], low[from_older] = older.high, older.low
        return _Run(high, low)

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
        self._filter: KeyFilter | None = None  # over every run's high halves; derived, never saved
        self._probes = 0  # probes since the filter was last valid (None)

    def __len__(self) -> int:
        return sum(len(run.high) for run in self._runs)

    def filter_new(self, event_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mask of ids not seen before (nor earlier in this list), and the digests of those.

        Does not add them: call `add` with the digests once the records are applied.
        """
        return self.filter_new_keys(digests(event_ids))

    def filter_new_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`filter_new` for ids already digested ((n, 2) uint64 keys, e.g. from a tombstone)."""
        fresh, _ = self._fresh(keys)
        return fresh, keys[fresh]

    def filter_new_sorted(self, event_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """`filter_new`, but the fresh digests come sorted by their high half: `add` then skips the
        sort that makes them a run (the shard's path; callers that pair digests with ids use
        `filter_new`)."""
        keys = digests(event_ids)
        fresh, order = self._fresh(keys)
        in_order = keys[order]
        return fresh, in_order[fresh[order]]

    def _fresh(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mask of fresh keys and the order that sorts `keys` by (high, low)."""
        assert keys.ndim == 2 and keys.shape[1] == 2
        if len(keys) == 0:
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
        order = _key_order(keys)
        high, low = keys[order, 0], keys[order, 1]
        seen = np.zeros(len(order), dtype=bool)
        seen[1:] = (high[1:] == high[:-1]) & (low[1:] == low[:-1])
        key_filter = self._usable_filter(len(keys))
        if key_filter is None:
            for run in self._runs:
                seen |= run.contains(high, low)
        else:
            maybe = np.flatnonzero(key_filter.test(high) & ~seen)  # ascending, so probes stay sorted
            for run in self._runs:
                seen[maybe] |= run.contains(high[maybe], low[maybe])
        fresh = np.ones(len(keys), dtype=bool)
        fresh[order[seen]] = False
        return fresh, order

    def add(self, keys: np.ndarray) -> None:
        if len(keys) == 0:
            return
        run = _Run.of(keys[:, 0].copy(), keys[:, 1].copy())
        self._runs.append(run)
        if self._filter is not None:
            if len(self) * FILTER_BITS_PER_KEY > self._filter.bits:
                self._filter, self._probes = None, 0  # past its capacity: rebuilt when worth it
            else:
                self._filter.add_sorted(run.high)
        while len(self._runs) > 1 and (
            2 * len(self._runs[-1].high) >= len(self._runs[-2].high) or len(self._runs) > MAX_RUNS
        ):
            newer = self._runs.pop()
            older = self._runs.pop()
            self._runs.append(_Run.merged(older, newer))

    def size_bytes(self) -> int:
        """The digests (16 bytes per id); the filter (derived, 1-4 bytes per id once built) apart."""
        return int(sum(run.high.nbytes + run.low.nbytes for run in self._runs))

    def _usable_filter(self, probes: int) -> KeyFilter | None:
        if self._filter is None:
            size = len(self)
            self._probes += probes
            if size < FILTERED_SET or self._probes * _PROBES_BEFORE_FILTER < size:
                return None
            self._filter = KeyFilter(2 * FILTER_BITS_PER_KEY * size)
            for run in self._runs:
                self._filter.add_sorted(run.high)
        return self._filter


def _key_order(keys: np.ndarray) -> np.ndarray:
    """A stable order of (n, 2) keys by (high, low): equal keys become neighbours (the earliest
    first, so the first occurrence in a batch wins) and probes into the runs go in ascending order.
    A stable sort by the high half alone does it (2-3x cheaper than by both halves) unless two keys
    share a high half, which 64 random bits make rare: only then are both halves sorted."""
    order = np.argsort(keys[:, 0], kind="stable")
    high = keys[order, 0]
    if len(high) > 1 and bool(np.any(high[1:] == high[:-1])):
        return np.lexsort((keys[:, 1], keys[:, 0]))
    return order

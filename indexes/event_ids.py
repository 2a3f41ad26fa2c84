"""The set of accepted event_ids: an event_id accepted once is ignored forever (RECORDS.md).

Ids are kept as 128-bit BLAKE2b digests (16 bytes per id, ~24 MB per million ids with the merge
buffer) in two sorted uint64 columns, not as Python strings (~100 bytes each). A collision of two
distinct ids needs ~2**64 ids before it becomes likely. Recent ids sit in a Python set and are
merged into the sorted columns in bulk, so a lookup is a binary search plus a set probe.
"""

from __future__ import annotations

import hashlib

import numpy as np

RECENT_LIMIT = 262_144


def digests(event_ids: list[str]) -> np.ndarray:
    """(n, 2) uint64 array: high and low halves of each id's 128-bit digest."""
    blob = b"".join([hashlib.blake2b(e.encode(), digest_size=16).digest() for e in event_ids])
    return np.frombuffer(blob, dtype=">u8").astype(np.uint64).reshape(-1, 2)


class EventIdSet:
    def __init__(self) -> None:
        self._hi = np.zeros(0, dtype=np.uint64)
        self._lo = np.zeros(0, dtype=np.uint64)
        self._recent: set[tuple[int, int]] = set()

    def __len__(self) -> int:
        return len(self._hi) + len(self._recent)

    def _in_sorted(self, keys: np.ndarray) -> np.ndarray:
        if len(self._hi) == 0 or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        hi, lo = keys[:, 0], keys[:, 1]
        index = np.searchsorted(self._hi, hi, side="left")
        clipped = np.minimum(index, len(self._hi) - 1)
        same_hi = self._hi[clipped] == hi
        found = same_hi & (self._lo[clipped] == lo)
        # Equal high halves with a different low half: walk the (tiny) run of equal highs.
        for position in np.flatnonzero(same_hi & ~found).tolist():
            cursor = int(clipped[position])
            steps = 0
            while cursor < len(self._hi) and self._hi[cursor] == hi[position]:
                steps += 1
                assert steps < 1_000_000
                if self._lo[cursor] == lo[position]:
                    found[position] = True
                    break
                cursor += 1
        return found

    def filter_new(self, event_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mask of ids not seen before (also not earlier in this list), and their digests.

        Does not add them: call `add` with the digests once the records are applied.
        """
        keys = digests(event_ids)
        seen = self._in_sorted(keys)
        fresh = np.zeros(len(event_ids), dtype=bool)
        batch: set[tuple[int, int]] = set()
        recent = self._recent
        for i, (hi, lo) in enumerate(keys.tolist()):
            key = (hi, lo)
            if seen[i] or key in recent or key in batch:
                continue
            batch.add(key)
            fresh[i] = True
        return fresh, keys[fresh]

    def add(self, keys: np.ndarray) -> None:
        self._recent.update(map(tuple, keys.tolist()))
        if len(self._recent) >= RECENT_LIMIT:
            self._merge()

    def _merge(self) -> None:
        recent = np.array(sorted(self._recent), dtype=np.uint64).reshape(-1, 2)
        hi = np.concatenate([self._hi, recent[:, 0]])
        lo = np.concatenate([self._lo, recent[:, 1]])
        order = np.lexsort((lo, hi))
        self._hi, self._lo = hi[order], lo[order]
        self._recent = set()

    def size_bytes(self) -> int:
        return int(self._hi.nbytes + self._lo.nbytes) + 120 * len(self._recent)

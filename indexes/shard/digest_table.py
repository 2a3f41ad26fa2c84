"""A hash table from 128-bit digests to integers, in numpy: lookups and inserts for a whole batch at once.

Why: a Python dict of a million strings answers a lookup with ~3 cache misses (its index, its entry,
the key to compare), ~500-700 ns each on the shared VMs measured, and a lookup per event is the
largest cost of a replay at 1 M customers. Here a key's slot is a row of one array (its two halves
and its value side by side, one cache line), and numpy issues the loads for a whole batch back to
back, so the misses overlap: ~40 ns per key plus the digest (indexes/event_ids.digests).

Open addressing with linear probing, at most half full (doubled and rebuilt past that). A key can
be marked retired: it stops matching, keeps its slot (so probe sequences through it stay intact) and
is revived in place when inserted again. Keys are the XXH3-128 digests the event-id set uses: two
distinct strings share a digest only after ~2**64 of them (docs/SEMANTICS.md).
"""

from __future__ import annotations

import numpy as np

EMPTY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)  # value of a never-used slot
RETIRED = np.uint64(0xFFFF_FFFF_FFFF_FFFE)  # value of a key that no longer maps to anything
_MIN_BITS = 12
_HIGH, _LOW, _VALUE = 0, 1, 2


class DigestTable:
    def __init__(self, capacity: int = 0) -> None:
        bits = max(_MIN_BITS, (2 * capacity).bit_length())
        self._rows = _empty_rows(bits)
        self._used = 0  # slots holding a key, retired ones included

    def __len__(self) -> int:
        return self._used

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """int64 values of (n, 2) uint64 keys; -1 where a key is absent or retired."""
        found = np.full(len(keys), -1, dtype=np.int64)
        if len(keys) == 0:
            return found
        rows = self._rows
        mask = np.uint64(len(rows) - 1)
        pending = np.arange(len(keys))
        slot = keys[:, _HIGH] & mask
        # Each turn settles every key whose probe reached its key or an empty slot; at most half the
        # slots are used, so probe sequences are short and the loop ends within len(rows) turns.
        for _ in range(len(rows)):
            at = rows[slot.astype(np.int64)]
            value = at[:, _VALUE]
            hit = (at[:, _HIGH] == keys[pending, _HIGH]) & (at[:, _LOW] == keys[pending, _LOW]) & (value != EMPTY)
            live = hit & (value != RETIRED)
            found[pending[live]] = value[live].astype(np.int64)
            unsettled = ~(hit | (value == EMPTY))
            if not unsettled.any():
                break
            pending = pending[unsettled]
            slot = (slot[unsettled] + np.uint64(1)) & mask
        return found

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Map (n, 2) uint64 keys, distinct and absent (or retired), to non-negative int64 values."""
        if len(keys) == 0:
            return
        if 2 * (self._used + len(keys)) > len(self._rows):
            self._grow(self._used + len(keys))
        rows = self._rows
        mask = np.uint64(len(rows) - 1)
        todo = np.arange(len(keys))
        slot = keys[:, _HIGH] & mask
        new_values = values.astype(np.uint64)
        for _ in range(len(rows)):
            at = rows[slot.astype(np.int64)]
            same = (at[:, _HIGH] == keys[todo, _HIGH]) & (at[:, _LOW] == keys[todo, _LOW]) & (at[:, _VALUE] != EMPTY)
            assert bool(np.all(at[same, _VALUE] == RETIRED)), "insert of a key that is present"
            free = same | (at[:, _VALUE] == EMPTY)
            # Keys of this batch may want the same slot: the first of them takes it, the rest probe on.
            candidates = np.flatnonzero(free)
            _, first = np.unique(slot[candidates], return_index=True)
            taking = candidates[first]
            taken = slot[taking].astype(np.int64)
            rows[taken, _HIGH] = keys[todo[taking], _HIGH]
            rows[taken, _LOW] = keys[todo[taking], _LOW]
            rows[taken, _VALUE] = new_values[todo[taking]]
            self._used += int(np.count_nonzero(~same[taking]))
            placed = np.zeros(len(todo), dtype=bool)
            placed[taking] = True
            if placed.all():
                return
            todo, slot = todo[~placed], slot[~placed]
            slot = np.where(free[~placed], slot, (slot + np.uint64(1)) & mask)
        raise AssertionError("a table at most half full always has a free slot")

    def retire(self, keys: np.ndarray) -> None:
        """Keys stop matching (their slots stay, marked retired); absent keys are ignored."""
        rows = self._rows
        mask = np.uint64(len(rows) - 1)
        for key in keys:
            slot = int(key[_HIGH] & mask)
            for _ in range(len(rows)):
                value = rows[slot, _VALUE]
                if value == EMPTY:
                    break
                if rows[slot, _HIGH] == key[_HIGH] and rows[slot, _LOW] == key[_LOW]:
                    rows[slot, _VALUE] = RETIRED
                    break
                slot = (slot + 1) & int(mask)

    def size_bytes(self) -> int:
        return int(self._rows.nbytes)

    def _grow(self, needed: int) -> None:
        old = self._rows
        used = old[old[:, _VALUE] != EMPTY]
        live = used[used[:, _VALUE] != RETIRED]  # retired keys are dropped when rebuilding
        self._rows = _empty_rows(max(_MIN_BITS, (4 * needed).bit_length()))
        self._used = 0
        self.insert(np.ascontiguousarray(live[:, :2]), live[:, _VALUE].astype(np.int64))


def _empty_rows(bits: int) -> np.ndarray:
    rows = np.zeros((1 << bits, 3), dtype=np.uint64)
    rows[:, _VALUE] = EMPTY
    return rows

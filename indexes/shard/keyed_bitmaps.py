"""A bitmap per integer key (a day, a month, a value code) with batched, deferred inserts.

Ingest produces (key, customer) pairs by the hundred thousand; turning every batch into one bitmap
call per distinct key costs a Python round trip per key and batch. Pairs are therefore buffered in
numpy chunks and folded in with one sort per MAX_PENDING_PAIRS pairs (or at the first read), so the
number of bitmap calls is about the number of distinct keys per flush, not per batch.

Reads (`get`, `keys`, `items`) always see every pair added so far.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pyroaring import BitMap

from indexes.shard.bitmaps import bitmap_size_bytes, grouped_bitmaps

MAX_PENDING_PAIRS = 1_000_000


class KeyedBitmaps:
    def __init__(self) -> None:
        self._bitmaps: dict[int, BitMap] = {}
        self._pending_keys: list[np.ndarray] = []
        self._pending_ids: list[np.ndarray] = []
        self._pending_pairs = 0

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Add ids[i] to the bitmap of keys[i] (duplicates allowed)."""
        assert len(keys) == len(ids)
        if len(keys) == 0:
            return
        self._pending_keys.append(np.asarray(keys, dtype=np.int32))
        self._pending_ids.append(np.asarray(ids, dtype=np.uint32))
        self._pending_pairs += len(keys)
        if self._pending_pairs >= MAX_PENDING_PAIRS:
            self.flush()

    def flush(self) -> None:
        if not self._pending_pairs:
            return
        keys = np.concatenate(self._pending_keys)
        ids = np.concatenate(self._pending_ids)
        self._pending_keys, self._pending_ids, self._pending_pairs = [], [], 0
        bitmaps = self._bitmaps
        for key, arriving in grouped_bitmaps(keys, ids):
            held = bitmaps.get(key)
            if held is None:
                bitmaps[key] = arriving
            else:
                held.update(arriving)

    def get(self, key: int) -> BitMap | None:
        self.flush()
        return self._bitmaps.get(key)

    def keys(self) -> Iterable[int]:
        self.flush()
        return self._bitmaps.keys()

    def values(self) -> Iterable[BitMap]:
        self.flush()
        return self._bitmaps.values()

    def items(self) -> Iterable[tuple[int, BitMap]]:
        self.flush()
        return self._bitmaps.items()

    def __bool__(self) -> bool:
        return bool(self._bitmaps) or self._pending_pairs > 0

    def __len__(self) -> int:
        self.flush()
        return len(self._bitmaps)

    def discard_everywhere(self, dense: int) -> None:
        self.flush()
        for bitmap in self._bitmaps.values():
            bitmap.discard(dense)

    def size_bytes(self) -> int:
        pending = sum(k.nbytes + i.nbytes for k, i in zip(self._pending_keys, self._pending_ids, strict=True))
        return pending + sum(bitmap_size_bytes(b) for b in self._bitmaps.values())

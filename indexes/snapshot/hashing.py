"""A framed XXH3-128 hasher and the canonical forms the digests share.

XXH3-128 rather than a cryptographic hash: a digest detects accidental divergence (a replay bug,
a damaged snapshot, two replicas drifting), not tampering, and it hashes gigabytes at memory
speed. Every update is length-prefixed, so no two different sequences of updates hash alike by
concatenation.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import numpy as np
from pyroaring import BitMap
from xxhash import xxh3_128

from indexes.shard.bsi import BitSlicedIndex

_LENGTH = struct.Struct("<Q")


class Hasher:
    def __init__(self, label: str) -> None:
        self._state = xxh3_128()
        self.text(label)

    def _frame(self, data: bytes | memoryview) -> None:
        self._state.update(_LENGTH.pack(len(data)))
        self._state.update(data)

    def text(self, value: str) -> None:
        self._frame(value.encode())

    def plain(self, value: Any) -> None:
        """Small msgpack-able values: ints, None, strings, lists of them."""
        self._frame(msgpack.packb(value, use_bin_type=True))

    def array(self, values: np.ndarray) -> None:
        contiguous = np.ascontiguousarray(values)
        self.text(contiguous.dtype.str)
        self.plain(list(contiguous.shape))
        self._frame(memoryview(contiguous).cast("B") if contiguous.nbytes else b"")

    def bitmap(self, bitmap: BitMap) -> None:
        # The sorted ids, not `serialize()`: the portable format records container kinds (array,
        # bitset, run), which depend on the history of operations, not only on the set.
        self.array(np.frombuffer(bitmap.to_array(), dtype=np.uint32))

    def hexdigest(self) -> str:
        return self._state.hexdigest()


def hash_per_customer(hasher: Hasher, values: np.ndarray, count: int, fill: Any) -> None:
    """A per-dense-id array as exactly `count` entries: growth slack (whole 64k steps, a function
    of when arrays grew) is not state. Entries past `count` should all be `fill`; any that are not
    are hashed too, so they cannot hide."""
    head = np.full(count, fill, dtype=values.dtype)
    kept = min(count, len(values))
    head[:kept] = values[:kept]
    hasher.array(head)
    beyond = np.flatnonzero(values[count:] != fill)
    hasher.array(beyond)
    hasher.array(values[count:][beyond])


def hash_bsi(hasher: Hasher, bsi: BitSlicedIndex, count: int) -> None:
    """Bitmaps and the dense shadow. Trailing empty slices are dropped: how many slices exist
    depends on the largest magnitude ever held, e.g. a running sum's intermediate values, which
    differ with batch boundaries. For the same reason the bounds of every value ever held
    (min_ever / max_ever, a query shortcut) are not hashed; whether they still bound every stored
    value is."""
    hasher.bitmap(bsi.exists)
    hasher.bitmap(bsi.negative)
    top = len(bsi.slices)
    while top and not bsi.slices[top - 1]:
        top -= 1
    hasher.plain(top)
    for bitmap in bsi.slices[:top]:
        hasher.bitmap(bitmap)
    hash_per_customer(hasher, bsi.values, count, 0)
    hash_per_customer(hasher, bsi.present, count, False)
    stored = bsi.values[bsi.present]
    hasher.plain(
        len(stored) == 0
        or (bsi.min_ever is not None and bsi.max_ever is not None
            and bsi.min_ever <= int(stored.min()) and int(stored.max()) <= bsi.max_ever)
    )


def sorted_ranks(values: list[str], used: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Dictionary codes made canonical: (the used values sorted, rank per code). Codes are handed
    out in order of first appearance among *stored* values, which depends on batching (a value
    overwritten within one batch is never stored). rank[-1] is -1, so "no value" stays -1."""
    codes = np.flatnonzero(used)
    picked = [values[code] for code in codes.tolist()]
    order = sorted(range(len(picked)), key=picked.__getitem__)
    rank = np.full(len(values) + 1, -1, dtype=np.int64)
    rank[codes[np.array(order, dtype=np.int64)]] = np.arange(len(order), dtype=np.int64)
    return [picked[i] for i in order], rank


def used_codes(codes: np.ndarray, dictionary_size: int) -> np.ndarray:
    """Boolean per code: held by at least one entry of `codes` (-1 = none)."""
    present = codes[codes >= 0]
    return np.bincount(present, minlength=dictionary_size)[:dictionary_size] > 0


def keyed_pairs(hasher: Hasher, pairs: list[tuple[Any, BitMap]]) -> None:
    """(key, bitmap) pairs, empty bitmaps dropped (an erasure may leave one; a replay that never
    saw the key has none), sorted by key."""
    kept = sorted(((key, bitmap) for key, bitmap in pairs if bitmap), key=lambda pair: pair[0])
    hasher.plain([key for key, _ in kept])
    for _, bitmap in kept:
        hasher.bitmap(bitmap)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, vectorised: a well-spread uint64 per input (wrapping arithmetic)."""
    x = values.astype(np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x

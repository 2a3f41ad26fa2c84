"""Conversions between numpy id arrays and roaring bitmaps, in one place.

pyroaring builds a bitmap from an `array.array('I')` through the buffer protocol (one C call), but
iterates a numpy array element by element; going through `array.array` is ~10x faster.
"""

from __future__ import annotations

import array

import numpy as np
from pyroaring import BitMap


def bitmap_from_ids(ids: np.ndarray) -> BitMap:
    """Bitmap of uint32 ids (any order, duplicates allowed)."""
    if len(ids) == 0:
        return BitMap()
    buffer = array.array("I")
    buffer.frombytes(np.ascontiguousarray(ids, dtype=np.uint32).tobytes())
    return BitMap(buffer)


def ids_from_bitmap(bitmap: BitMap) -> np.ndarray:
    """Sorted uint32 ids of a bitmap (a copy owned by numpy)."""
    if not bitmap:
        return np.zeros(0, dtype=np.uint32)
    return np.frombuffer(bitmap.to_array(), dtype=np.uint32)


def bitmap_from_mask(mask: np.ndarray, offset: int = 0) -> BitMap:
    """Bitmap of the positions where a boolean mask is true (plus offset)."""
    hits = np.flatnonzero(mask)
    if offset:
        hits = hits + offset
    return bitmap_from_ids(hits.astype(np.uint32))


def bitmap_size_bytes(bitmap: BitMap) -> int:
    stats = bitmap.get_statistics()
    return int(
        stats["n_bytes_array_containers"] + stats["n_bytes_bitset_containers"] + stats["n_bytes_run_containers"]
    )


GROWTH_STEP_IDS = 65_536
_SORT_BEFORE_BUILD = 64  # ids per group above which sorting them first builds the bitmap faster


def grown_size(max_id: int) -> int:
    """Length of a per-customer array that must hold max_id: whole steps of 64k ids, not doubling,
    so a shard of 1M customers pays for at most 64k unused slots per array."""
    return (max_id // GROWTH_STEP_IDS + 1) * GROWTH_STEP_IDS


def grouped_bitmaps(keys: np.ndarray, ids: np.ndarray) -> list[tuple[int, BitMap]]:
    """(key, bitmap of the ids with that key) for every distinct key, in key order.

    One sort for the whole batch; a key held by a single id skips the array round trip, which
    matters for high-cardinality values (one e-mail address per customer).
    """
    assert len(keys) == len(ids)
    if len(keys) == 0:
        return []
    order = _grouping_order(keys)
    keys, ids = keys[order], ids[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    stops = np.append(starts[1:], len(keys))
    out: list[tuple[int, BitMap]] = []
    id_list = ids.tolist()
    for start, stop, key in zip(starts.tolist(), stops.tolist(), keys[starts].tolist(), strict=True):
        if stop - start == 1:
            out.append((key, BitMap((id_list[start],))))
        elif stop - start < _SORT_BEFORE_BUILD:
            out.append((key, bitmap_from_ids(ids[start:stop])))
        else:
            # Roaring inserts unsorted ids one by one into sorted containers; sorted ids are
            # appended. Measured for 1 400 ids: 74 us unsorted, 38 us sorting first.
            out.append((key, bitmap_from_ids(np.sort(ids[start:stop]))))
    return out


def _grouping_order(keys: np.ndarray) -> np.ndarray:
    """An order that sorts `keys`. Keys spanning fewer than 2**16 values (days, months, most value
    codes) are shifted into uint16, which numpy sorts by radix: ~4x faster than a comparison sort of
    a million keys (measured 11 against 44-58 ms)."""
    low, high = int(keys.min()), int(keys.max())
    if high - low < 1 << 16:
        return np.argsort((keys - low).astype(np.uint16), kind="stable")
    return np.argsort(keys)  # not stable: the order of ids inside a bitmap does not matter

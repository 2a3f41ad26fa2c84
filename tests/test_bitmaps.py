"""Bitmap conversions: the packed (serialized) path of bitmap_from_mask equals listing positions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from indexes.shard import bitmaps
from indexes.shard.bitmaps import bitmap_from_mask, bitmap_from_mask_by_ids, in_bitmap, in_sorted


@st.composite
def masks(draw: st.DrawFn) -> np.ndarray:
    """Masks over 1..4 chunks of 2**16 ids (ragged ends too), each chunk empty, sparse (array
    container), around the 4 096 boundary, dense (bitset container) or full."""
    size = draw(st.sampled_from([1 << 16, (1 << 16) + 1, 3 * (1 << 16) - 7, 4 * (1 << 16), 200_000]))
    mask = np.zeros(size, dtype=bool)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for start in range(0, size, 1 << 16):
        stop = min(size, start + (1 << 16))
        kind = draw(st.sampled_from(["empty", "few", "4095", "4096", "4097", "dense", "full"]))
        width = stop - start
        if kind == "full":
            mask[start:stop] = True
        elif kind == "dense":
            mask[start:stop] = rng.random(width) < 0.4
        elif kind != "empty":
            count = {"few": 3, "4095": 4095, "4096": 4096, "4097": 4097}[kind]
            mask[start + rng.choice(width, min(count, width), replace=False)] = True
    return mask


@settings(max_examples=150, deadline=None)
@given(mask=masks())
def test_packed_path_equals_listing(mask: np.ndarray) -> None:
    expected = bitmap_from_mask_by_ids(mask)
    packed = bitmaps._bitmap_from_dense_mask(mask)
    assert packed == expected
    assert len(packed) == int(np.count_nonzero(mask))
    assert bitmap_from_mask(mask) == expected
    packed.add(7)  # the result is an ordinary, mutable bitmap
    assert 7 in packed


def test_small_and_offset_masks_use_the_listing() -> None:
    mask = np.array([True, False, True])
    assert bitmap_from_mask(mask, offset=10) == bitmap_from_mask_by_ids(mask, offset=10)
    assert list(bitmap_from_mask(mask, offset=10)) == [10, 12]


def test_popcount_fallback_equals_bitwise_count() -> None:
    words = np.random.default_rng(5).integers(0, 2**63, (3, 1024), dtype=np.int64).view(np.uint64)
    expected = [sum(bin(int(w)).count("1") for w in row) for row in words]
    assert bitmaps.popcounts_unpacked(words).tolist() == expected
    assert bitmaps._popcounts(words).tolist() == expected


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(0, 999), max_size=400), size_extra=st.integers(0, 5000))
def test_unsorted_ids_build_the_same_bitmap(ids: list[int], size_extra: int) -> None:
    array = np.array(ids, dtype=np.uint32)
    assert bitmaps.bitmap_from_unsorted_ids(array, 1000 + size_extra) == bitmaps.bitmap_from_ids(array)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=300), st.lists(st.integers(0, 5000), max_size=300))
def test_membership_masks_equal_isin(values: list[int], members: list[int]) -> None:
    ids = np.array(values, dtype=np.uint32)
    expected = np.isin(ids, np.array(members, dtype=np.uint32))
    assert np.array_equal(in_bitmap(ids, BitMap(members)), expected)
    assert np.array_equal(in_sorted(ids, np.unique(np.array(members, dtype=np.uint32))), expected)

"""Bit-sliced index against a plain dict, on random updates and random ranges."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from indexes.shard.bsi import BitSlicedIndex

values = st.one_of(st.integers(-5, 5), st.integers(-1100, 1100), st.integers(-(2**62), 2**62))
ids = st.integers(0, 300)
operation = st.one_of(
    st.tuples(st.just("set"), st.dictionaries(ids, values, max_size=20)),
    st.tuples(st.just("add"), st.dictionaries(ids, values, max_size=20)),
    st.tuples(st.just("remove"), st.lists(ids, max_size=10, unique=True)),
)
bound = st.one_of(st.none(), values)


def _apply(bsi: BitSlicedIndex, truth: dict[int, int], kind: str, payload: object) -> None:
    if kind == "remove":
        bsi.remove_many(np.array(payload, dtype=np.uint32))
        for i in payload:  # type: ignore[attr-defined]
            truth.pop(i, None)
        return
    keys = np.array(list(payload), dtype=np.uint32)  # type: ignore[call-overload]
    vals = np.array(list(payload.values()), dtype=np.int64)  # type: ignore[attr-defined]
    if kind == "set":
        bsi.set_many(keys, vals)
        truth.update(payload)  # type: ignore[arg-type]
    else:
        clipped = {k: v for k, v in payload.items() if abs(truth.get(k, 0) + v) < 2**62}  # type: ignore[attr-defined]
        bsi.add_many(np.array(list(clipped), dtype=np.uint32), np.array(list(clipped.values()), dtype=np.int64))
        for k, v in clipped.items():
            truth[k] = truth.get(k, 0) + v


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=8), st.lists(st.tuples(bound, bound), min_size=1, max_size=6), st.booleans())
def test_ranges_match_a_dict(ops: list, ranges: list, restrict: bool) -> None:
    bsi = BitSlicedIndex()
    truth: dict[int, int] = {}
    for kind, payload in ops:
        _apply(bsi, truth, kind, payload)
    # Ids past the BSI's arrays too: the shadow path must not read beyond them.
    universe = BitMap(range(0, 300, 2)) | BitMap([70_000, 2**20]) if restrict else None
    assert set(bsi.exists) == set(truth)
    for lo, hi in ranges:
        expected = {
            i for i, v in truth.items()
            if (lo is None or v >= lo) and (hi is None or v <= hi) and (universe is None or i in universe)
        }
        assert set(bsi.range(lo, hi, universe)) == expected
        assert set(bsi.range_from_slices(lo, hi, universe)) == expected
        if universe is not None:
            assert set(bsi.range_from_shadow(lo, hi, universe)) == expected
    for value in [*truth.values(), 0, 1, -1][:10]:
        for op, test in (("eq", value.__eq__), ("neq", value.__ne__), ("gt", value.__lt__), ("lt", value.__gt__)):
            assert set(bsi.compare(op, value)) == {i for i, v in truth.items() if test(v)}


def test_values_or_defaults_missing_ids() -> None:
    bsi = BitSlicedIndex()
    bsi.set_many(np.array([1, 5], dtype=np.uint32), np.array([10, -3], dtype=np.int64))
    got = bsi.values_or(np.array([0, 1, 5, 9], dtype=np.uint32), -1)
    assert got.tolist() == [-1, 10, -3, -1]

"""Per-customer aggregates: the sorted path, the dense path and a plain dict loop agree."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.plan import per_customer
from indexes.shard.event_store import MISSING_NUMBER

BIG = 2**62  # sums near the int64 range take the integer path, not the float one


@st.composite
def row_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """A few customers with rows; values mix small, missing and near-int64-range ones."""
    size = draw(st.integers(1, 40))
    count = draw(st.integers(0, 60))
    customers = draw(st.lists(st.integers(0, size - 1), min_size=count, max_size=count))
    value = st.one_of(st.integers(-1000, 1000), st.just(MISSING_NUMBER), st.integers(-BIG // 64, BIG // 64))
    values = draw(st.lists(value, min_size=count, max_size=count))
    return np.array(customers, dtype=np.uint32), np.array(values, dtype=np.int64), size


def _reference(customers: np.ndarray, values: np.ndarray) -> tuple[dict[int, int], dict[int, int]]:
    counts: dict[int, int] = defaultdict(int)
    sums: dict[int, int] = defaultdict(int)
    for customer, value in zip(customers.tolist(), values.tolist(), strict=True):
        counts[customer] += 1
        sums[customer] += 0 if value == MISSING_NUMBER else value
    return dict(counts), dict(sums)


@settings(max_examples=300, deadline=None)
@given(rows=row_sets(), sorted_path=st.booleans())
def test_paths_equal_a_dict_loop(rows: tuple[np.ndarray, np.ndarray, int], sorted_path: bool) -> None:
    customers, values, size = rows
    expected_counts, expected_sums = _reference(customers, values)
    limit = 1e9 if sorted_path else 0.0
    saved = per_customer.SORTED_PATH_MAX_ROWS_PER_CUSTOMER
    per_customer.SORTED_PATH_MAX_ROWS_PER_CUSTOMER = limit
    try:
        counts = per_customer.counts(customers, size)
        sums = per_customer.sums(customers, values, size)
    finally:
        per_customer.SORTED_PATH_MAX_ROWS_PER_CUSTOMER = saved
    assert dict(zip(counts.ids.tolist(), counts.values.tolist(), strict=True)) == expected_counts
    assert dict(zip(sums.ids.tolist(), sums.values.tolist(), strict=True)) == expected_sums
    dense_counts = per_customer.dense_counts(customers, size)
    dense_sums = per_customer.dense_sums(customers, values, size)
    assert len(dense_counts) == len(dense_sums) == size
    assert dense_counts.tolist() == [expected_counts.get(i, 0) for i in range(size)]
    assert dense_sums.tolist() == [expected_sums.get(i, 0) for i in range(size)]

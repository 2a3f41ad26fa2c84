"""TailRows (indexes/shard/tail_rows.py) against plain concatenation of the appended parts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.shard.event_rows import ListColumn
from indexes.shard.tail_rows import MIN_CAPACITY_ROWS, TailRows

PART_ROWS = st.integers(min_value=0, max_value=3 * MIN_CAPACITY_ROWS)


def _part(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray, dict]:
    lengths = rng.integers(0, 4, rows)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    columns = {"amount": rng.integers(-10**12, 10**12, rows, dtype=np.int64),
               "category": rng.integers(-1, 50, rows).astype(np.int32),
               "product_ids": ListColumn(offsets, rng.integers(0, 1000, int(offsets[-1])).astype(np.int32))}
    return rng.integers(0, 2**32 - 1, rows, dtype=np.uint32), rng.integers(0, 2**40, rows, dtype=np.int64), columns


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(PART_ROWS, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_rows_equal_the_concatenated_parts_and_earlier_views_stay_valid(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    tail = TailRows({"product_ids"}, {"amount": np.dtype(np.int64), "category": np.dtype(np.int32),
                                      "product_ids": np.dtype(np.int32)})
    parts = []
    views = []
    for rows in sizes:
        part = _part(rng, rows)
        tail.append(*part)
        parts.append(part)
        views.append((len(tail), tail.rows()))
    assert len(tail) == sum(sizes)
    for count, view in views:  # each view still shows the rows it had
        assert len(view) == count
        customers = np.concatenate([p[0] for p in parts] or [np.zeros(0, np.uint32)])[:count]
        ts = np.concatenate([p[1] for p in parts] or [np.zeros(0, np.int64)])[:count]
        assert np.array_equal(view.customers, customers) and np.array_equal(view.ts, ts)
    rows = tail.rows()
    for name in ("amount", "category"):
        expected = np.concatenate([p[2][name] for p in parts] or [np.zeros(0, rows.columns[name].dtype)])
        assert np.array_equal(rows.columns[name], expected)
    lists = ListColumn.concat([p[2]["product_ids"] for p in parts])
    got = rows.columns["product_ids"]
    assert np.array_equal(got.offsets, lists.offsets) and np.array_equal(got.codes, lists.codes)
    nonempty = [p[1] for p in parts if len(p[1])]
    assert tail.max_ts == (max(int(t.max()) for t in nonempty) if nonempty else None)

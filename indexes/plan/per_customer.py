"""Per-customer aggregates of a window's event rows: count, exact sum, first / latest time.

Two exact paths, chosen by cost:
  sorted  rows are few next to the shard's customers (a 2-day window, a rare event type): sort the
          rows' customer ids and reduce runs; cost O(rows log rows), nothing of shard size
  dense   rows are many: one bincount / ufunc.at into an array of one slot per customer
Both return the customers that have rows (sorted, unique) and one int64 value each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexes.shard.event_store import MISSING_NUMBER

SORTED_PATH_MAX_ROWS_PER_CUSTOMER = 0.125  # rows / customers below this: the sorted path
EXACT_FLOAT_LIMIT = 2**52  # below 2**53 with room for the float estimate of the bound itself


@dataclass(frozen=True)
class PerCustomer:
    ids: np.ndarray  # uint32, sorted, unique: customers with at least one row
    values: np.ndarray  # int64, one per id

    def __post_init__(self) -> None:
        assert len(self.ids) == len(self.values)


def _sorted_path(rows: int, customers: int) -> bool:
    return rows < customers * SORTED_PATH_MAX_ROWS_PER_CUSTOMER


def _runs(sorted_customers: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal ids in a sorted array (non-empty)."""
    return np.flatnonzero(np.concatenate([[True], sorted_customers[1:] != sorted_customers[:-1]]))


def counts(customers: np.ndarray, size: int) -> PerCustomer:
    if len(customers) == 0:
        return _empty()
    if _sorted_path(len(customers), size):
        ordered = np.sort(customers)
        starts = _runs(ordered)
        return PerCustomer(ordered[starts].astype(np.uint32), np.diff(np.append(starts, len(ordered))).astype(np.int64))
    dense = np.bincount(customers, minlength=size)
    ids = np.flatnonzero(dense)
    return PerCustomer(ids.astype(np.uint32), dense[ids].astype(np.int64))


def sums(customers: np.ndarray, values: np.ndarray, size: int) -> PerCustomer:
    """Exact sums of fixed-point values (missing values count 0) per customer with rows."""
    if len(customers) == 0:
        return _empty()
    values = np.where(values == MISSING_NUMBER, 0, values)
    if _sorted_path(len(customers), size):
        order = np.argsort(customers)
        ordered = customers[order]
        starts = _runs(ordered)
        return PerCustomer(ordered[starts].astype(np.uint32), np.add.reduceat(values[order], starts))
    present = np.bincount(customers, minlength=size) > 0
    if int(np.abs(values).sum(dtype=np.float64)) < EXACT_FLOAT_LIMIT:
        # Every partial sum is an integer below 2**53, so float64 adds it without rounding.
        dense = np.rint(np.bincount(customers, weights=values.astype(np.float64), minlength=size)).astype(np.int64)
    else:
        dense = np.zeros(size, dtype=np.int64)
        np.add.at(dense, customers, values)
    ids = np.flatnonzero(present)
    return PerCustomer(ids.astype(np.uint32), dense[ids])


def extremes(customers: np.ndarray, ts: np.ndarray, size: int, *, latest: bool) -> PerCustomer:
    """The first (latest=False) or latest time per customer with rows."""
    if len(customers) == 0:
        return _empty()
    if _sorted_path(len(customers), size):
        order = np.argsort(customers)
        ordered = customers[order]
        starts = _runs(ordered)
        reduce = np.maximum if latest else np.minimum
        return PerCustomer(ordered[starts].astype(np.uint32), reduce.reduceat(ts[order], starts))
    identity = MISSING_NUMBER if latest else np.iinfo(np.int64).max
    dense = np.full(size, identity, dtype=np.int64)
    (np.maximum if latest else np.minimum).at(dense, customers, ts)
    ids = np.flatnonzero(dense != identity)
    return PerCustomer(ids.astype(np.uint32), dense[ids])


def _empty() -> PerCustomer:
    return PerCustomer(np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64))

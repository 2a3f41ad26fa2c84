"""Event conditions on one shard: pick the cheapest exact path for each leaf.

  presence   count >= 1 / = 0 without filters: day/month bitmaps (+ the rows of partial days)
  all-time   count / sum / first / last over all time, when no event is later than as_of:
             bit-sliced indexes, no row is touched
  by value   presence with one eq / in / has / has_any filter over all time: inverted bitmaps
  rows       everything else: the window's rows from the ts-sorted store, masks for filters,
             one bincount (or min/max) per customer
Every path returns the same set; tests/test_engine_vs_reference.py holds them to the reference.
"""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from indexes.plan import per_customer
from indexes.plan.compile import EventLeaf
from indexes.plan.filters import compare_values, filter_mask
from indexes.plan.time_bounds import Bounds, time_op_bounds, window_bounds
from indexes.rules.model import AllTime
from indexes.shard.bitmaps import bitmap_from_ids, bitmap_from_mask, bitmap_from_unsorted_ids, ids_from_bitmap
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.event_index import EventTypeIndex
from indexes.shard.event_store import Rows
from indexes.shard.shard import Shard

# A universe below 1/UNIVERSE_COMPARE_FRACTION of the shard is compared at its own ids: a gather and
# a compare over those ids instead of a compare and a bitmap build over every customer. Measured at
# 524 k ids: comparing everywhere costs 0.15-0.35 ms, at the universe ~2 ns per id (~4 ns when 0
# satisfies the comparison and the result is everyone but the failing ids); they cross near 1/6
# of the ids (1/3 when 0 satisfies it).
UNIVERSE_COMPARE_FRACTION = 4


# A universe's row filter is kept when it leaves at most 1/this of the window's rows (see _row_mask).
PUSHDOWN_KEEP_ROWS_INVERSE = 4


def _pushdown_may_pay(universe: int, shard: Shard) -> bool:
    """Filtering a window's rows by the running AND result costs a pass over the universe and one
    over the rows: worth trying only for a universe that is small next to the shard."""
    return universe < shard.ids.allocated * per_customer.SORTED_PATH_MAX_ROWS_PER_CUSTOMER


def zero_satisfies(op: str, value: object) -> bool:
    """Does a count / sum of 0 satisfy `op value`? (customers without events have 0)."""
    return bool(compare_values(np.zeros(1, dtype=np.int64), op, value)[0])


def with_zero_default(satisfied: BitMap, present: BitMap, op: str, value: object, alive: BitMap) -> BitMap:
    """Customers not in `present` have the value 0: add them if 0 satisfies the comparison."""
    if zero_satisfies(op, value):
        return alive - (present - satisfied)
    return satisfied & alive


def bsi_compare(bsi: BitSlicedIndex, op: str, value: object, universe: BitMap | None) -> BitMap:
    if op == "between":
        lo, hi = value  # type: ignore[misc]
        return bsi.range(lo, hi, universe)
    return bsi.compare(op, value, universe)  # type: ignore[arg-type]


def evaluate_event(leaf: EventLeaf, shard: Shard, as_of_ms: int, universe: BitMap | None) -> BitMap:
    alive = shard.alive
    index = shard.event_index(leaf.event)
    if index is None:  # no event of this type yet: count 0, sum 0, no first/last
        if leaf.measure in ("count", "sum") and zero_satisfies(leaf.op, leaf.value):
            return alive.copy()
        return BitMap()
    calendar = shard.calendar
    start, end = window_bounds(calendar, as_of_ms, leaf.window)
    all_time_ok = isinstance(leaf.window, AllTime) and index.answers_all_time(as_of_ms)
    if leaf.measure in ("count", "sum") and not leaf.filters:
        present_only = leaf.measure == "count" and _is_presence(leaf.op, leaf.value)
        if present_only:
            present = index.count.exists.copy() if all_time_ok else present_in_window(index, shard, start, end)
            return _presence_result(present, leaf, alive)
        if all_time_ok:
            bsi = index.count if leaf.measure == "count" else index.sum_index(leaf.sum_attr)  # type: ignore[arg-type]
            # Exact within the universe (all the caller asks): customers outside it may be missing
            # from `satisfied` and so appear failed, which nobody reads.
            satisfied = bsi_compare(bsi, leaf.op, leaf.value, universe)
            return with_zero_default(satisfied, bsi.exists, leaf.op, leaf.value, alive)
    if leaf.measure == "count" and len(leaf.filters) == 1 and all_time_ok and _is_presence(leaf.op, leaf.value):
        flt = leaf.filters[0]
        if flt.op in ("eq", "in", "has", "has_any"):
            values = flt.value if isinstance(flt.value, tuple) else (flt.value,)
            present = index.value_customers(flt.attr, values)  # type: ignore[arg-type]
            if present is not None:
                return _presence_result(present, leaf, alive)
    if leaf.measure in ("first", "last") and not leaf.filters:
        shortcut = _first_last_all_time(leaf, index, shard, as_of_ms, start, end, universe)
        if shortcut is not None:
            return shortcut & alive
    return _evaluate_rows(leaf, index, shard, as_of_ms, (start, end), universe)


def _presence_result(present: BitMap, leaf: EventLeaf, alive: BitMap) -> BitMap:
    """For "any event?" comparisons: the present customers, or everyone else."""
    if zero_satisfies(leaf.op, leaf.value):
        return alive - present
    return present & alive


def _is_presence(op: str, value: object) -> bool:
    """count comparisons that only ask "any event?": >= 1, > 0, = 0, < 1, <= 0, != 0."""
    return (op, value) in (("gte", 1), ("gt", 0), ("eq", 0), ("lt", 1), ("lte", 0), ("neq", 0))


def _first_last_all_time(
    leaf: EventLeaf,
    index: EventTypeIndex,
    shard: Shard,
    as_of_ms: int,
    start: int | None,
    end: int | None,
    universe: BitMap | None,
) -> BitMap | None:
    if not index.answers_all_time(as_of_ms) or end != as_of_ms:
        return None
    lo, hi = time_op_bounds(shard.calendar, as_of_ms, leaf.op, leaf.value)
    if leaf.measure == "first":
        if start is not None:
            return None  # the first event inside a window is not the all-time first
        return index.first_ts.range(lo, hi, universe)
    # The latest event <= as_of is the all-time latest; it lies in [start, as_of] or none does.
    if start is not None:
        lo = start if lo is None else max(lo, start)
    return index.last_ts.range(lo, hi, universe)


def present_in_window(index: EventTypeIndex, shard: Shard, start: int | None, end: int | None) -> BitMap:
    """Customers with >= 1 event in [start, end]: whole days from bitmaps, partial days from rows."""
    calendar = shard.calendar
    if end is None or not index.day_customers:
        return BitMap()
    first_day = min(index.day_customers.keys()) if start is None else calendar.local_day(start)
    if start is not None and calendar.day_start_ms(first_day) != start:
        first_day += 1
    last_day = calendar.local_day(end)
    day_is_complete = calendar.day_start_ms(last_day + 1) - 1 == end or (
        index.max_ts is not None and index.max_ts <= end
    )
    if not day_is_complete:
        last_day -= 1
    if first_day > last_day:
        rows = index.store.window(start, end)
        return bitmap_from_unsorted_ids(rows.customers, shard.ids.allocated)
    parts = [index.present_on_days(first_day, last_day)]
    head_end = calendar.day_start_ms(first_day) - 1
    if start is not None and start <= head_end:
        parts.append(bitmap_from_unsorted_ids(index.store.window(start, head_end).customers, shard.ids.allocated))
    tail_start = calendar.day_start_ms(last_day + 1)
    if tail_start <= end:
        parts.append(bitmap_from_unsorted_ids(index.store.window(tail_start, end).customers, shard.ids.allocated))
    return BitMap.union(*parts)


def _row_mask(
    leaf: EventLeaf, index: EventTypeIndex, shard: Shard, as_of_ms: int, rows: Rows, universe: BitMap | None
) -> np.ndarray | None:
    """Which of the window's rows the leaf aggregates (None: all of them)."""
    mask = None
    size = shard.ids.allocated
    if universe is not None and len(rows) and _pushdown_may_pay(len(universe), shard):
        # Only the universe's answers matter to the caller (evaluate.py): dropping other customers'
        # rows pays when so few rows are left that the aggregate takes its sorted path.
        member = np.zeros(size, dtype=bool)
        member[ids_from_bitmap(universe)] = True
        mask = np.take(member, rows.customers)  # ~1.5x faster than member[uint32 ids] (no index copy)
        kept = int(np.count_nonzero(mask))
        # Keep the filter when the aggregate then takes its sorted path, or when it drops most rows: a
        # saved segment's upkeep asks about the ~1000 customers of a batch, whose rows are a sliver of a
        # year's window, and aggregating every row of the window instead cost ~10 ms per leaf at 400 k.
        if not (per_customer.sorted_path(kept, size) or kept * PUSHDOWN_KEEP_ROWS_INVERSE <= len(rows)):
            mask = None
    if leaf.filters and len(rows):
        mask = np.ones(len(rows), dtype=bool) if mask is None else mask
        for flt in leaf.filters:
            mask &= filter_mask(rows, flt, index.store.dictionaries.get(flt.attr), shard.calendar, as_of_ms)
    return mask


def _window_rows(leaf: EventLeaf, index: EventTypeIndex, bounds: Bounds) -> Rows:
    needed = {f.attr for f in leaf.filters}
    if leaf.sum_attr:
        needed.add(leaf.sum_attr)
    return index.store.window(bounds[0], bounds[1], tuple(sorted(needed)))


def _evaluate_rows(
    leaf: EventLeaf,
    index: EventTypeIndex,
    shard: Shard,
    as_of_ms: int,
    bounds: Bounds,
    universe: BitMap | None,
) -> BitMap:
    alive = shard.alive
    rows = _window_rows(leaf, index, bounds)
    mask = _row_mask(leaf, index, shard, as_of_ms, rows, universe)
    size = shard.ids.allocated
    if leaf.measure in ("first", "last"):
        if mask is not None:
            rows = rows.filtered(mask)
        times = per_customer.extremes(rows.customers, rows.ts, size, latest=leaf.measure == "last")
        lo, hi = time_op_bounds(shard.calendar, as_of_ms, leaf.op, leaf.value)
        keep = np.ones(len(times.ids), dtype=bool)
        if lo is not None:
            keep &= times.values >= lo
        if hi is not None:
            keep &= times.values <= hi
        return bitmap_from_ids(times.ids[keep]) & alive
    # Only the columns the aggregate reads are selected (never ts, never the filters' columns).
    customers = rows.customers if mask is None else rows.customers[mask]
    values = None
    if leaf.measure == "sum":
        column = rows.columns[leaf.sum_attr]  # type: ignore[index]
        assert isinstance(column, np.ndarray)
        values = column if mask is None else column[mask]
    if per_customer.sorted_path(len(customers), size):
        if values is None:
            totals = per_customer.counts(customers, size)
        else:
            totals = per_customer.sums(customers, values, size)
        satisfied = bitmap_from_ids(totals.ids[compare_values(totals.values, leaf.op, leaf.value)])
        return with_zero_default(satisfied, bitmap_from_ids(totals.ids), leaf.op, leaf.value, alive)
    # Dense: one value per customer, 0 for those without rows, which is exactly their count / sum.
    dense = per_customer.dense_counts(customers, size) if values is None else per_customer.dense_sums(customers, values, size)
    return _dense_result(dense, leaf, alive, universe)


def _dense_result(dense: np.ndarray, leaf: EventLeaf, alive: BitMap, universe: BitMap | None) -> BitMap:
    """Customers whose per-customer value (dense, one per id) satisfies the leaf's comparison:
    compared at the universe's ids when it is small (only those answers matter), else everywhere."""
    zero_holds = zero_satisfies(leaf.op, leaf.value)
    fraction = UNIVERSE_COMPARE_FRACTION * (2 if zero_holds else 1)
    if universe is not None and len(universe) * fraction < len(dense):
        ids = ids_from_bitmap(universe)
        assert len(ids) == 0 or int(ids[-1]) < len(dense), "universe ids are allocated ids"
        holds = compare_values(dense[ids], leaf.op, leaf.value)
        if zero_holds:
            return (alive & universe) - bitmap_from_ids(ids[~holds])
        return bitmap_from_ids(ids[holds]) & alive
    holds = compare_values(dense, leaf.op, leaf.value)
    if zero_holds:
        return alive - bitmap_from_mask(~holds)  # most customers hold: build the smaller side
    return bitmap_from_mask(holds) & alive

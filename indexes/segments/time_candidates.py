"""Customers whose answer can change when the clock moves from t0 to t1 with the data unchanged.

Every time-relative quantity of a rule (docs/SEMANTICS.md "Time") is an instant compared with a bound
that moves with as_of: the upper bound of every window and of within_last is as_of itself, the lower
bound of `last N days/hours` and of within_last / more_than_ago is lb(as_of) = the start of the day
(hour) N-1 days (hours) before as_of's. Between t0 and t1 a customer's answer can only change if one
of their instants lies in a range a bound swept over: (t0, t1] for the upper bounds, [lb(t0), lb(t1))
for the lower ones. Each TimeTerm turns that into a bitmap from the indexes (day / month presence
bitmaps and ts-sorted rows for events, bit-sliced ranges for properties), a superset of the
customers whose answer changes; re-evaluating the rule on it is exact (indexes/segments/live.py).
"""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from indexes.plan.event_eval import present_in_window
from indexes.plan.time_bounds import instant_bounds_to_days, recent_lower_bound
from indexes.segments.footprint import DUE, EVENT_ATTR, EVENT_LOWER, PROPERTY, TimeTerm
from indexes.shard.bitmaps import bitmap_from_ids
from indexes.shard.event_index import EventTypeIndex
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.property_index import NumericColumn
from indexes.shard.shard import Shard

Ranges = list[tuple[int, int]]  # inclusive [lo, hi] instant ranges


def time_candidates(terms: frozenset[TimeTerm], shard: Shard, t0_ms: int, t1_ms: int,
                    cache: dict[TimeTerm, BitMap]) -> BitMap:
    """Union of the terms' candidates for t0 -> t1 (t0 < t1). `cache` shares terms between the
    segments of one clock step (a fresh dict per step)."""
    assert t0_ms < t1_ms
    parts = []
    for term in terms:
        found = cache.get(term)
        if found is None:
            found = cache[term] = term_candidates(term, shard, t0_ms, t1_ms)
        if found:
            parts.append(found)
    return BitMap.union(*parts) if parts else BitMap()


def term_candidates(term: TimeTerm, shard: Shard, t0_ms: int, t1_ms: int) -> BitMap:
    ranges = swept_ranges(term, shard, t0_ms, t1_ms)
    if not ranges:
        return BitMap()
    if term.kind in (DUE, EVENT_LOWER):
        indexes = list(shard.events.values()) if term.event is None else [shard.event_index(term.event)]
        parts = [_events_in(index, shard, ranges) for index in indexes if index is not None]
        return BitMap.union(*parts) if parts else BitMap()
    if term.kind == PROPERTY:
        return _property_in(term, shard, ranges)
    assert term.kind == EVENT_ATTR
    return _attribute_in(term, shard, ranges)


def swept_ranges(term: TimeTerm, shard: Shard, t0_ms: int, t1_ms: int) -> Ranges:
    """The instant ranges the term's bounds swept over from t0 to t1."""
    if term.kind == DUE:
        return [(t0_ms + 1, t1_ms)]
    ranges: Ranges = []
    if term.duration is not None:
        lower_0 = recent_lower_bound(shard.calendar, t0_ms, term.duration)
        lower_1 = recent_lower_bound(shard.calendar, t1_ms, term.duration)
        if lower_1 > lower_0:
            ranges.append((lower_0, lower_1 - 1))
    if term.upper:
        ranges.append((t0_ms + 1, t1_ms))
    return ranges


def _events_in(index: EventTypeIndex, shard: Shard, ranges: Ranges) -> BitMap:
    parts = []
    for lo, hi in ranges:
        if index.max_ts is None or index.max_ts < lo:
            continue  # nothing that late: the common case for "events becoming due"
        found = present_in_window(index, shard, lo, hi)
        if found:
            parts.append(found)
    return BitMap.union(*parts) if parts else BitMap()


def _property_in(term: TimeTerm, shard: Shard, ranges: Ranges) -> BitMap:
    assert term.name is not None
    column = shard.column(term.name)
    if column is None:
        return BitMap()
    assert isinstance(column, NumericColumn), f"{term.name} is not a time property"
    parts = []
    for bounds in ranges:
        lo, hi = instant_bounds_to_days(shard.calendar, bounds) if term.date else bounds
        if lo is not None and hi is not None and lo <= hi:
            parts.append(column.bsi.range(lo, hi))
    return BitMap.union(*parts) if parts else BitMap()


def _attribute_in(term: TimeTerm, shard: Shard, ranges: Ranges) -> BitMap:
    """Timestamp attributes have no per-value index: one pass over the type's rows (O(rows of the
    type)), still far less than re-evaluating the rule for everyone."""
    assert term.event is not None and term.name is not None
    index = shard.event_index(term.event)
    if index is None:
        return BitMap()
    rows = index.store.window(None, None, (term.name,))
    values = rows.columns[term.name]
    assert isinstance(values, np.ndarray)
    mask = np.zeros(len(values), dtype=bool)
    for lo, hi in ranges:
        mask |= (values >= lo) & (values <= hi)
    mask &= values != MISSING_NUMBER
    return bitmap_from_ids(rows.customers[mask])

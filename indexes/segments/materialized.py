"""A saved segment's members at an instant T, from its materialized bitmap whenever that is exact.

The bitmap of an active segment is exact at the shard's clock. It stays exact at a later T when
nothing the segment reads can change between the two with the data as it is: no time candidates
(indexes/segments/time_candidates.py) for its own time terms, nor for those of any active segment it
reads, transitively (their changes would reach it). Otherwise the rule is evaluated at T. Both answers
are exact; the first costs a few index probes instead of an evaluation, which is what keeps a saved
segment's count cheap between clock ticks (actors/clock_ticker.py moves the clock every second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyroaring import BitMap

from indexes.segments.time_candidates import time_candidates

if TYPE_CHECKING:
    from indexes.engine import Engine


def segment_due(inner: Engine, segment_id: str, t0_ms: int, t1_ms: int) -> bool:
    """Can active `segment_id`'s membership change when the clock goes from t0 to t1 (t0 < t1) with
    the data unchanged?"""
    live, shard = inner.segments, inner.shard
    derived = live.derived(shard.schema)
    cache: dict = {}
    stack, seen = [segment_id], set()
    # Bounded: each active segment is visited once.
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if time_candidates(derived.reads[current].time, shard, t0_ms, t1_ms, cache):
            return True
        stack.extend(derived.feeds[current])
    return False


def members_at(inner: Engine, segment_id: str, as_of_ms: int) -> BitMap:
    """Dense ids of the members at as_of (the engine's state lock held; the bitmap returned may be the
    live one: read it before releasing the lock). SegmentNotFoundError for an unknown id."""
    live = inner.segments
    live.catalog.require(segment_id)
    clock = live.clock_ms
    exact = segment_id in live.active_ids() and clock > 0 and (
        as_of_ms == clock or (as_of_ms > clock and not segment_due(inner, segment_id, clock, as_of_ms)))
    if exact:
        return live.members[segment_id]
    return inner.segment_evaluate(segment_id, as_of_ms)

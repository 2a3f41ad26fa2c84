"""Reads of saved segments on one shard: definitions, members, counts, stats, change log, dry runs.

Functions of (shard, live state); the engines call them under their locks. Membership answers come
from the materialized bitmap for an active segment at its clock (as_of None or equal to the clock),
and from an evaluation of the segment's current rule at as_of otherwise (inactive segments, other
times); as_of None means the clock for an active segment and now for an inactive one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pyroaring import BitMap

from indexes.plan.compile import compile_rule
from indexes.segments.commands import validate_segment_rule
from indexes.segments.errors import PositionExpiredError, SegmentError
from indexes.segments.evaluation import evaluate_on
from indexes.segments.live import LiveSegments
from indexes.segments.views import ChangeEntry, ChangePage, DryRun, SegmentStats, SegmentView, segment_view
from indexes.shard.shard import Shard

MAX_CHANGES_PER_PAGE = 10_000
MAX_SAMPLES = 1_000


def get(shard: Shard, live: LiveSegments, segment_id: str, version: int | None, include_deleted: bool) -> SegmentView:
    return segment_view(live.catalog.require(segment_id, include_deleted=include_deleted), shard.schema, version)


def versions(shard: Shard, live: LiveSegments, segment_id: str, include_deleted: bool) -> list[SegmentView]:
    segment = live.catalog.require(segment_id, include_deleted=include_deleted)
    return [segment_view(segment, shard.schema, v.version) for v in segment.versions]


def search(shard: Shard, live: LiveSegments, name_contains: str | None, tag: str | None,
           include_deleted: bool) -> list[SegmentView]:
    found = live.catalog.search(name_contains, tag, include_deleted=include_deleted)
    return [segment_view(segment, shard.schema) for segment in found]


def members(shard: Shard, live: LiveSegments, segment_id: str, as_of_ms: int | None,
            now: Callable[[], int]) -> tuple[BitMap, int]:
    """(dense ids of the members, the as_of they hold at)."""
    live.catalog.require(segment_id)
    active = segment_id in live.active_ids()
    at = as_of_ms if as_of_ms is not None else (live.clock_ms if active else now())
    if active and at == live.clock_ms:
        return live.members[segment_id].copy(), at
    plan = live.derived(shard.schema).plans[segment_id]
    return evaluate_on(plan, shard, at, live.resolver(shard.schema), None), at


def stats(shard: Shard, live: LiveSegments, segment_id: str, now: Callable[[], int]) -> SegmentStats:
    segment = live.catalog.require(segment_id)
    found, at = members(shard, live, segment_id, None, now)
    history = live.history.get(segment_id)
    return SegmentStats(
        id=segment_id, active=segment.current.content.active, count=len(found), as_of_ms=at,
        clock_ms=live.clock_ms, last_update_ms=live.last_change_ms.get(segment_id),
        daily_sizes=tuple(history.as_dates()) if history is not None else (),
        campaigns=tuple(sorted(segment.campaigns.items())),
    )


def changes(shard: Shard, live: LiveSegments, segment_ids: list[str] | None, after_seq: int | None,
            customer_id: str | None, from_ms: int | None, to_ms: int | None, limit: int,
            epoch: int | None) -> ChangePage:
    log = live.changes
    if epoch is not None and epoch != log.epoch:
        raise PositionExpiredError(f"position of epoch {epoch}; the change log is at epoch {log.epoch} "
                                   "(the log was compacted since): resynchronise")
    if not 1 <= limit <= MAX_CHANGES_PER_PAGE:
        raise SegmentError("limit", f"must be 1..{MAX_CHANGES_PER_PAGE}")
    for segment_id in segment_ids or ():
        live.catalog.require(segment_id, include_deleted=True)
    customers = None
    if customer_id is not None:
        dense = shard.ids.lookup(customer_id)
        customers = np.array([] if dense is None else [dense], dtype=np.uint32)
    read = log.read(segment_ids, after_seq, customers, from_ms, to_ms, limit)
    names = shard.ids.externals([row.dense_id for row in read.rows])  # type: ignore[arg-type]
    entries = [
        ChangeEntry(row.seq, row.segment_id, name, row.entered, row.at_ms, row.reason, row.event_id, row.version,
                    row.upstream)
        for row, name in zip(read.rows, names, strict=True)
    ]
    return ChangePage(entries, read.next_after_seq, read.first_seq, read.end_seq, log.epoch)


def dry_run(shard: Shard, live: LiveSegments, segment_id: str, rule: object, as_of_ms: int | None,
            samples: int, now: Callable[[], int]) -> DryRun:
    """What an edit of the rule would do at as_of (default: as `members`), saving nothing."""
    if not 0 <= samples <= MAX_SAMPLES:
        raise SegmentError("samples", f"must be 0..{MAX_SAMPLES}")
    live.catalog.require(segment_id)
    model = validate_segment_rule(rule, segment_id, live.catalog, shard.schema)
    before, at = members(shard, live, segment_id, as_of_ms, now)
    after = evaluate_on(compile_rule(model, shard.schema), shard, at, live.resolver(shard.schema), None)
    entering, exiting = after - before, before - after
    return DryRun(
        as_of_ms=at, before_count=len(before), after_count=len(after), entering=len(entering), exiting=len(exiting),
        entering_samples=_samples(shard, entering, samples), exiting_samples=_samples(shard, exiting, samples),
    )


def _samples(shard: Shard, found: BitMap, limit: int) -> list[str]:
    picked = [dense for _, dense in zip(range(limit), found, strict=False)]
    return sorted(shard.ids.externals(picked))  # type: ignore[arg-type]


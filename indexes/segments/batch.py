"""Apply one committed batch to a shard with saved-segment maintenance: the single path that both live
ingest (Engine.apply_validated, the durable engine's ordered apply) and replay take, so both produce
the same state and the same change log.

A batch is a list of engine steps in log order: shard steps (runs of events and profiles in column
form, erasures, declarations: indexes/shard/shard.py) and segment commands. Its commit mark's
wall-clock time moves the clock first (indexes/segments/live.py explains the order). Tombstone
batches are the durable layer's (indexes/durable/): it adds their digests itself and tells
`LiveSegments.note_rewrite`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from indexes.records import ErasureRecord, EventRecord, ProfileRecord, Record, SegmentRecord
from indexes.segments.live import LiveSegments
from indexes.segments.touch import BatchTouch
from indexes.shard.run_columns import RunColumns, run_of_records
from indexes.shard.shard import ApplyStats, Shard, Step

EngineStep = Step | SegmentRecord


def steps_of_records(records: Sequence[Record]) -> list[EngineStep]:
    """Validated records in log order -> engine steps: runs of events and profiles between barriers."""
    steps: list[EngineStep] = []
    run: list[EventRecord | ProfileRecord] = []
    for record in records:
        kind = type(record)
        if kind is EventRecord or kind is ProfileRecord:
            run.append(record)  # type: ignore[arg-type]
            continue
        if run:
            steps.append(run_of_records(run))
            run = []
        steps.append(record)  # type: ignore[arg-type]
    if run:
        steps.append(run_of_records(run))
    return steps


def is_plain(records: Sequence[Record]) -> bool:
    """No segment command among the records."""
    return not any(type(record) is SegmentRecord for record in records)


def apply_batch(shard: Shard, live: LiveSegments, steps: list[EngineStep], wall_ms: int | None) -> ApplyStats:
    """One committed batch: the clock, the records, the maintenance. Nothing changes when the shard
    cannot hold the batch's new customers (ShardFullError), as with Shard.apply_steps."""
    shard_steps: list[Step] = [s for s in steps if type(s) is not SegmentRecord]  # type: ignore[misc]
    if len(shard_steps) > 1:
        shard._check_capacity(shard_steps)  # refuse before changing anything: steps apply one at a time below
    live.advance_time(shard, wall_ms)
    if not live.maintains() and len(shard_steps) == len(steps):
        stats = shard.apply_steps(shard_steps)
        live.trim()
        return stats
    stats = ApplyStats()
    touch: BatchTouch | None = None
    for step in steps:
        kind = type(step)
        if kind is SegmentRecord:
            if touch is not None:
                live.flush_data(shard, touch)
                touch = None
            live.apply_command(shard, step)  # type: ignore[arg-type]
            continue
        if not live.maintains():
            _add(stats, shard.apply_steps([step]))  # type: ignore[list-item]
            continue
        if touch is None:
            touch = BatchTouch(shard.ids.allocated)
        if kind is ErasureRecord:
            dense = shard.ids.lookup(step.customer_id)  # type: ignore[union-attr]
            _add(stats, shard.apply_steps([step]))  # type: ignore[list-item]
            if dense is not None:
                touch.add_erasure(dense)
        elif kind is RunColumns:
            run: RunColumns = step  # type: ignore[assignment]
            fresh = shard.event_ids.filter_new(run.events.event_ids)[0] if run.events is not None else None
            _add(stats, shard.apply_steps([run]))
            touch.add_run(run, shard.ids.lookup_array(run.names), fresh)
        else:
            _add(stats, shard.apply_steps([step]))  # type: ignore[list-item]
    if touch is not None:
        live.flush_data(shard, touch)
    live.trim()
    return stats


def _add(total: ApplyStats, part: ApplyStats) -> None:
    for item in fields(ApplyStats):
        setattr(total, item.name, getattr(total, item.name) + getattr(part, item.name))

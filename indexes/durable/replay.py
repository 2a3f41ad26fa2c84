"""Replay: the committed batches of the log, from an LSN to its end, applied to an engine in LSN order.

One thread reads, decodes and applies. Per READ_RECORDS log records: one read of CRC-checked bodies
(`EventLog.read_bodies`), one msgpack call for all of them, commit framing from their kind tags
(control.py), then the shard gets the committed records as columns (log_columns.py) in chunks of
about APPLY_CHUNK_RECORDS, so its fixed costs per call (a numpy pass per event type and index) are
shared by many records. No record object is built per event. The collector is paused meanwhile
(indexes/gc_paused.py). Reading and decoding in a second thread was measured slower (the GIL); the
way to use more cores is a shard per process, each replaying its own log (benchmarks/replay_parallel.py).

Saved segments: while a segment is active, each committed batch is applied on its own with its
commit mark's wall time (Engine.apply_batch_steps), exactly as it was live, so the replay re-creates
the change log entry for entry; a batch carrying a segment command or tombstones is always applied on
its own. Batches between are coalesced as before and only move the clock (docs/SAVED_SEGMENTS.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from indexes.durable.control import BatchEnd, BatchScanner, iter_split, kinds_of
from indexes.durable.event_id_keys import add_unseen
from indexes.durable.log_columns import steps_of_items
from indexes.durable.record_codec import SEGMENT, TOMBSTONE, LogItem, Tombstone, decode
from indexes.engine import Engine
from indexes.gc_paused import gc_paused
from indexes.log import EventLog
from indexes.records import SegmentRecord
from indexes.segments.batch import EngineStep

READ_RECORDS = 65_536  # log records per read and decode call
APPLY_CHUNK_RECORDS = 131_072  # committed records per shard call: big runs vectorise well


@dataclass
class ReplayReport:
    from_lsn: int
    applied_lsn: int  # one past the last commit/abort mark: where the next replay resumes
    end_lsn: int  # where the log ended; records from applied_lsn to here belong to a torn batch
    records: int  # data records applied (events, profiles, erasures, declarations)
    events: int  # events applied (duplicates excluded)
    commits: int
    aborted_records: int  # records of torn batches that abort marks discard
    tombstone_digests: int  # event-id digests from tombstones that were not yet seen
    seconds: float

    @property
    def uncommitted_records(self) -> int:
        return self.end_lsn - self.applied_lsn

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def _items(log: EventLog, from_lsn: int, end_lsn: int) -> Iterator[list[LogItem]]:
    """The log items from_lsn..end_lsn-1, READ_RECORDS at a time."""
    if from_lsn >= end_lsn:
        return
    for run in log.read_bodies(from_lsn, READ_RECORDS):
        try:
            items = run.decode(use_list=False)  # tuples: see BodyRun.decode
        except ValueError:
            # Name the frame that does not decode: the record-at-a-time reader raises LogCorruptError.
            for _ in log.read_batches(run.first_lsn, run.count):
                pass
            raise
        if run.first_lsn + len(items) >= end_lsn:
            yield items[: end_lsn - run.first_lsn]
            return
        yield items


def _chunks(
    log: EventLog, scanner: BatchScanner, end_lsn: int, keep: Callable[[LogItem], bool] | None
) -> Iterator[tuple[list[LogItem], list[BatchEnd]]]:
    """Committed items, a whole number of batches at a time, with where each batch ends."""
    ready: list[LogItem] = []
    batches: list[BatchEnd] = []
    for items in _items(log, scanner.next_lsn if keep is None else 0, end_lsn):
        if keep is not None:  # compaction's reference: LSNs renumbered as the rewrite will
            items = [item for item in items if keep(item)]
        scanner.feed(items, ready, batches)
        if len(ready) >= APPLY_CHUNK_RECORDS:
            yield ready, batches
            ready, batches = [], []
    if batches:
        yield ready, batches


def replay(
    log: EventLog,
    engine: Engine,
    from_lsn: int,
    *,
    to_lsn: int | None = None,
    keep: Callable[[LogItem], bool] | None = None,
) -> ReplayReport:
    """Apply the committed records of `log` from `from_lsn` (a batch boundary) up to `to_lsn` (a batch
    boundary; default the log's current end) to `engine`.

    `keep` (with from_lsn 0) replays only the records it accepts, as if the log had been rewritten
    with it: compaction's reference state. LSNs in the report are then those of the kept records."""
    assert keep is None or from_lsn == 0
    started = time.perf_counter()
    end_lsn = log.end_lsn if to_lsn is None else to_lsn
    assert 0 <= from_lsn <= end_lsn <= log.end_lsn, f"replay {from_lsn}..{end_lsn} outside the log"
    scanner = BatchScanner(from_lsn)
    totals = _Totals()
    with gc_paused():
        for chunk, batches in _chunks(log, scanner, end_lsn, keep):
            kinds = kinds_of(chunk)
            special = (kinds == SEGMENT) | (kinds == TOMBSTONE)
            if not engine.segments.maintains() and not special.any():  # the common case: the chunk at once
                walls = [batch.wall_ms for batch in batches if batch.wall_ms is not None]
                _apply_coalesced(engine, chunk, kinds, 0, len(chunk), max(walls, default=None), totals)
                continue
            start = coalesced_from = 0
            coalesced_wall: int | None = None
            for batch in batches:
                alone = engine.segments.maintains() or bool(special[start : batch.stop].any())
                if not alone:
                    coalesced_wall = _later(coalesced_wall, batch.wall_ms)
                else:
                    _apply_coalesced(engine, chunk, kinds, coalesced_from, start, coalesced_wall, totals)
                    _apply_alone(engine, chunk[start : batch.stop], kinds[start : batch.stop], batch.wall_ms, totals)
                    coalesced_from, coalesced_wall = batch.stop, None
                start = batch.stop
            _apply_coalesced(engine, chunk, kinds, coalesced_from, start, coalesced_wall, totals)
    records, events, tombstone_digests = totals.records, totals.events, totals.tombstone_digests
    return ReplayReport(
        from_lsn=from_lsn,
        applied_lsn=scanner.committed_lsn,
        end_lsn=scanner.next_lsn,
        records=records,
        events=events,
        commits=scanner.commits,
        aborted_records=scanner.aborted_records,
        tombstone_digests=tombstone_digests,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Totals:
    records: int = 0
    events: int = 0
    tombstone_digests: int = 0


def _later(wall_ms: int | None, other_ms: int | None) -> int | None:
    if wall_ms is None:
        return other_ms
    return wall_ms if other_ms is None else max(wall_ms, other_ms)


def _apply_coalesced(engine: Engine, chunk: list[LogItem], kinds: np.ndarray, start: int, stop: int,
                     wall_ms: int | None, totals: _Totals) -> None:
    """Consecutive plain batches (no active segment, no segment command, no tombstone) in one go:
    the shard applies runs in order, and the clock only needs their latest time."""
    if stop > start:
        stats = engine.shard.apply_steps(steps_of_items(chunk[start:stop], kinds[start:stop]))
        totals.records += stop - start
        totals.events += stats.events
    if wall_ms is not None:
        engine.segments.observe_clock(wall_ms)


def _apply_alone(engine: Engine, items: list[LogItem], kinds: np.ndarray, wall_ms: int | None,
                 totals: _Totals) -> None:
    """One committed batch, as the live engine applied it."""
    steps: list[EngineStep] = []
    tombstones = False
    for start, stop in iter_split(items, kinds):
        if kinds[start] == TOMBSTONE:
            mark = decode(items[start])
            assert type(mark) is Tombstone
            totals.tombstone_digests += add_unseen(engine.shard.event_ids, mark.keys)
            tombstones = True
            continue
        steps.extend(_steps_with_commands(items[start:stop], kinds[start:stop]))
        totals.records += stop - start
    stats = engine.apply_batch_steps(steps, wall_ms)
    totals.events += stats.events
    if tombstones:
        engine.segments.note_rewrite()


def _steps_with_commands(items: list[LogItem], kinds: np.ndarray) -> list[EngineStep]:
    """Shard steps of data items, with segment commands as steps of their own, in log order."""
    steps: list[EngineStep] = []
    start = 0
    for at in [*np.flatnonzero(kinds == SEGMENT).tolist(), len(items)]:
        if at > start:
            steps.extend(steps_of_items(items[start:at], kinds[start:at]))
        if at < len(items):
            record = decode(items[at])
            assert type(record) is SegmentRecord
            steps.append(record)
        start = at + 1
    return steps

"""Compaction: erased customers' records leave the stored data (RECORDS.md, "Erasure record").

An erasure removes the customer from every index at once when it is applied; their records stay in
the log (and possibly in snapshots) until this runs:

1. Open the workspace (snapshot + tail). Plan from the log: each customer's last erasure LSN, the
   records to drop (every record naming an erased customer up to and including their last erasure,
   not the ones after it: the customer came back), the torn batches that abort marks discard, and
   the event ids of the dropped events.
2. Append a tombstone batch with the 16-byte digests of those event ids (never the ids, never a
   customer id): they stay "seen" forever (docs/SEMANTICS.md). Written *before* the rewrite, so a
   crash in between leaves both the events and their tombstone, which replay tolerates.
3. Close; delete every snapshot (a stale one would map renumbered LSNs to old state, and may hold the
   erased data); rewrite the log with `indexes.log.rewrite` (atomic swap); remove repair side files.
4. Replay the new log from LSN 0 and check its digest equals the expected state's: the old log
   replayed through the same keep() predicate before the rewrite (the live state itself differs once
   a customer was erased: it still holds their retired dense id and masked rows). Write a snapshot.

A crash anywhere leaves a workspace that opens: the old log (plus tombstone) without snapshots, or
the new log without snapshots; running compaction again finishes the job.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexes.durable.engine import LOG_DIR, SNAPSHOTS_DIR, DurableEngine
from indexes.durable.record_codec import (
    ABORT,
    COMMIT,
    CUSTOMER_AT,
    ERASURE,
    EVENT,
    EVENT_ID_AT,
    TOMBSTONE,
    LogItem,
    customer_of,
    kind_of,
)
from indexes.durable.replay import replay
from indexes.engine import Engine
from indexes.event_ids import digests
from indexes.log import EventLog, rewrite
from indexes.log.fsio import Fsync
from indexes.log.segment_writer import DEFAULT_SEGMENT_SIZE_BYTES
from indexes.snapshot import delete_all_snapshots, state_digest

SIDE_FILE_PATTERN = "*.corrupt-*"
_READ_BATCH_RECORDS = 4096


@dataclass
class CompactionPlan:
    last_erasure_lsn: dict[str, int]  # customer -> LSN of their last erasure record
    aborted: list[tuple[int, int]]  # [start, stop) LSN ranges: torn batches with their abort mark
    dropped_event_ids: int = 0
    keys: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.uint64))  # new tombstones

    @property
    def has_work(self) -> bool:
        return bool(self.last_erasure_lsn or self.aborted)

    def keep(self) -> Callable[[LogItem], bool]:
        """The rewrite predicate. Stateful: it must see every record from LSN 0, in order, once."""
        last_erasure = self.last_erasure_lsn
        starts = [start for start, _ in self.aborted]
        aborted = self.aborted
        lsn = -1

        def keep_record(record: LogItem) -> bool:
            nonlocal lsn
            lsn += 1
            if starts:
                at = bisect.bisect_right(starts, lsn) - 1
                if at >= 0 and lsn < aborted[at][1]:
                    return False
            customer = customer_of(record)
            if customer is None:
                return True  # declarations, commit marks, tombstones
            last = last_erasure.get(customer)
            return last is None or lsn > last

        return keep_record


def plan_compaction(log: EventLog, end_lsn: int) -> CompactionPlan:
    """Two reads of the log up to `end_lsn` (a batch boundary): erasures and torn batches, then the
    event ids that the drop removes and that no tombstone holds yet."""
    last_erasure: dict[str, int] = {}
    aborted: list[tuple[int, int]] = []
    tombstoned: set[bytes] = set()
    mark_end = 0  # one past the last commit or abort mark
    for lsn, item in _items(log, end_lsn):
        kind = kind_of(item)
        if kind == ERASURE:
            last_erasure[item[CUSTOMER_AT]] = lsn
        elif kind == ABORT:
            aborted.append((mark_end, lsn + 1))
            mark_end = lsn + 1
        elif kind == COMMIT:
            mark_end = lsn + 1
        elif kind == TOMBSTONE:
            blob = item[1]
            tombstoned.update(blob[i : i + 16] for i in range(0, len(blob), 16))
    plan = CompactionPlan(last_erasure, aborted)
    if not last_erasure:
        return plan
    dropped: list[str] = []
    for lsn, item in _items(log, end_lsn):
        if kind_of(item) == EVENT:
            last = last_erasure.get(item[CUSTOMER_AT])
            if last is not None and lsn <= last:
                dropped.append(item[EVENT_ID_AT])
    plan.dropped_event_ids = len(dropped)
    keys = digests(dropped)
    if tombstoned and len(keys):
        blob = keys.astype(">u8").tobytes()
        fresh = [blob[i : i + 16] not in tombstoned for i in range(0, len(blob), 16)]
        keys = keys[np.array(fresh, dtype=bool)]
    plan.keys = keys
    return plan


def _items(log: EventLog, end_lsn: int):  # type: ignore[no-untyped-def]
    for first_lsn, items in log.read_batches(0, _READ_BATCH_RECORDS):
        for offset, item in enumerate(items):
            lsn = first_lsn + offset
            if lsn >= end_lsn:
                return
            yield lsn, item


@dataclass
class CompactionReport:
    customers_erased: int  # customers whose records (up to their last erasure) were dropped
    records_before: int
    records_after: int
    records_dropped: int
    aborted_records_dropped: int  # torn batches and their abort marks
    tombstone_digests: int
    log_bytes_before: int
    log_bytes_after: int
    digest_equal: bool  # the rewritten log replays to the expected state (old log through the predicate)
    live_equal: bool  # ... which is the live state itself when no customer was erased (dense ids and
    # masked rows of erased customers are state too, so the digests differ after an erasure)
    live_digest: str
    expected_digest: str
    rebuilt_digest: str
    snapshot_path: str | None
    side_files_removed: list[str]
    seconds: float


def compact(
    data_dir: Path,
    *,
    fsync: Fsync = os.fsync,
    segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
    after_tombstones: Callable[[], None] | None = None,
    before_rewrite: Callable[[list[str]], object] | None = None,
) -> CompactionReport:
    """Compact the workspace at `data_dir` (no other process may have it open). `after_tombstones`
    is a test hook: called between the tombstone append and the rewrite. `before_rewrite` gets the
    customers this compaction erases while the log still names them (the service takes them out of
    its export files there: indexes/durable/export_erasure.py); a crash after it repeats it."""
    started = time.perf_counter()
    log_dir = data_dir / LOG_DIR
    log_bytes_before = _log_bytes(log_dir)
    with DurableEngine.open(data_dir, create=False, fsync=fsync, segment_size_bytes=segment_size_bytes) as engine:
        plan = plan_compaction(engine.log, engine.applied_lsn)
        with engine.read_state() as live:
            live_digest = state_digest(live.shard, live.segments)
        if len(plan.keys) or plan.last_erasure_lsn:
            # Even without digests to keep: a tombstone batch ends the change log's epoch, since the
            # rewritten log renumbers its positions (seqs) when customers leave (docs/SAVED_SEGMENTS.md).
            engine.append_tombstones(plan.keys)
        # The state the rewritten log must replay to: the old log read through the same predicate.
        expected = Engine(tz=engine.tz)
        replay(engine.log, expected, 0, keep=plan.keep())
        expected_digest = state_digest(expected.shard, expected.segments)
        del expected
    if after_tombstones is not None:
        after_tombstones()
    if before_rewrite is not None:
        before_rewrite(sorted(plan.last_erasure_lsn))
    delete_all_snapshots(data_dir / SNAPSHOTS_DIR)
    if plan.has_work:
        result = rewrite(log_dir, plan.keep(), segment_size_bytes=segment_size_bytes, fsync=fsync)
        before, after = result.records_before, result.records_kept
    else:
        before = after = -1  # filled in below from the reopened log
    side_files = sorted(str(p) for p in log_dir.glob(SIDE_FILE_PATTERN))
    for path in side_files:
        os.unlink(path)
    with DurableEngine.open(
        data_dir, create=False, fsync=fsync, segment_size_bytes=segment_size_bytes, use_snapshots=False
    ) as engine:
        with engine.read_state() as rebuilt:
            rebuilt_digest = state_digest(rebuilt.shard, rebuilt.segments)
        if before < 0:
            before = after = engine.applied_lsn
        snapshot = engine.snapshot() if rebuilt_digest == expected_digest else None
    aborted_dropped = sum(stop - start for start, stop in plan.aborted)
    return CompactionReport(
        customers_erased=len(plan.last_erasure_lsn),
        records_before=before,
        records_after=after,
        records_dropped=before - after,
        aborted_records_dropped=aborted_dropped,
        tombstone_digests=len(plan.keys),
        log_bytes_before=log_bytes_before,
        log_bytes_after=_log_bytes(log_dir),
        digest_equal=rebuilt_digest == expected_digest,
        live_equal=rebuilt_digest == live_digest,
        live_digest=live_digest,
        expected_digest=expected_digest,
        rebuilt_digest=rebuilt_digest,
        snapshot_path=str(snapshot.path) if snapshot is not None else None,
        side_files_removed=side_files,
        seconds=time.perf_counter() - started,
    )


def _log_bytes(log_dir: Path) -> int:
    return sum(p.stat().st_size for p in log_dir.glob("*.seg"))

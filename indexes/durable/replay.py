"""Replay: the committed batches of the log, from an LSN to its end, applied to an engine in LSN order.

Reading and decoding run in a thread of their own while this thread applies, in bounded chunks handed
over through a bounded queue. Both hold the GIL most of the time, so the overlap is what the GIL lets
go: file reads, CRC32C, numpy work inside the shard (docs/DURABILITY.md has the measured figures).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from indexes.durable.control import BatchScanner, iter_split
from indexes.durable.event_id_keys import add_unseen
from indexes.durable.record_codec import LogDict, Tombstone
from indexes.engine import Engine
from indexes.log import EventLog
from indexes.records import Record

READ_BATCH_RECORDS = 2048  # dicts per read_batches() item
APPLY_CHUNK_RECORDS = 32_768  # committed records per shard.apply call: big runs vectorise well
PIPELINE_DEPTH = 4  # chunks decoded ahead of the applier: bounds the memory in flight
_STOP = object()


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


def _chunks(
    log: EventLog, scanner: BatchScanner, end_lsn: int, keep: Callable[[LogDict], bool] | None
) -> Iterator[list[Record | Tombstone]]:
    ready: list[Record | Tombstone] = []
    for first_lsn, items in log.read_batches(scanner.next_lsn if keep is None else 0, READ_BATCH_RECORDS):
        if first_lsn + len(items) > end_lsn:
            items = items[: end_lsn - first_lsn]
        last_read = first_lsn + len(items) >= end_lsn
        if keep is not None:  # compaction's reference: LSNs renumbered as the rewrite will
            items = [item for item in items if keep(item)]
        else:
            assert first_lsn == scanner.next_lsn, "read_batches yields consecutive LSNs"
        scanner.feed(items, ready)
        if len(ready) >= APPLY_CHUNK_RECORDS:
            yield ready
            ready = []
        if last_read:
            break
    if ready:
        yield ready


def _put(out: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put into the bounded queue, waiting for the applier; False once the applier has stopped."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _reader(chunks: Iterator[list[Record | Tombstone]], out: queue.Queue, stop: threading.Event) -> None:
    try:
        for chunk in chunks:
            if not _put(out, chunk, stop):
                return
        _put(out, _STOP, stop)
    except BaseException as exc:  # handed to the applier, which re-raises it
        _put(out, exc, stop)


def replay(
    log: EventLog,
    engine: Engine,
    from_lsn: int,
    *,
    to_lsn: int | None = None,
    threaded: bool = True,
    keep: Callable[[LogDict], bool] | None = None,
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
    records = events = tombstone_digests = 0
    chunks = _chunks(log, scanner, end_lsn, keep)
    if threaded:
        handoff: queue.Queue = queue.Queue(PIPELINE_DEPTH)
        stop = threading.Event()
        thread = threading.Thread(target=_reader, args=(chunks, handoff, stop), name="replay-reader", daemon=True)
        thread.start()
        source: Iterator = iter(handoff.get, _STOP)
    else:
        source = chunks
    try:
        for chunk in source:
            if isinstance(chunk, BaseException):
                raise chunk
            for part in iter_split(chunk):
                if type(part) is Tombstone:
                    tombstone_digests += add_unseen(engine.shard.event_ids, part.keys)
                else:
                    stats = engine.apply_validated(part)  # type: ignore[arg-type]
                    records += len(part)  # type: ignore[arg-type]
                    events += stats.events
    finally:
        if threaded:
            stop.set()
            thread.join(timeout=30)
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

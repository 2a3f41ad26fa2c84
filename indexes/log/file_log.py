"""FileLog: the durable event log in a data directory (segment files, group commit, replay).

    with FileLog("data/log", sync="always") as log:
        result = log.append([{"event_id": "e-1", ...}, ...])   # durable on return
        for lsn, record in log.read():                         # replay
            ...

Opening scans the active segment (CRC of every frame) and checks sealed ones by their seals, cuts a
torn tail (reported in `open_report`) and refuses any other damage it finds with LogCorruptError; reads
check every byte they return. See docs/LOG.md for the format and the guarantees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path

from indexes.log.codec import BodyRun, Record
from indexes.log.errors import LogClosedError
from indexes.log.frame import frame_records
from indexes.log.fsio import DirLock, Fsync, ensure_dir
from indexes.log.group_commit import GroupCommit
from indexes.log.interface import (
    DEFAULT_READ_BATCH_RECORDS,
    AppendResult,
    EventLog,
    check_batch,
    check_read_range,
)
from indexes.log.pending import PendingQueue
from indexes.log.reader import read_batches, read_body_runs
from indexes.log.recovery import recover
from indexes.log.reports import OpenReport
from indexes.log.segment_writer import DEFAULT_SEGMENT_SIZE_BYTES, SegmentWriter
from indexes.log.sync_policy import SyncPolicy

DEFAULT_SYNC_INTERVAL_MS = 50
DEFAULT_MAX_PENDING_RECORDS = 200_000
DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024
DEFAULT_BACKPRESSURE_TIMEOUT_MS = 10_000


class FileLog(EventLog):
    """The durable EventLog. Thread-safe: any number of producer threads may append and read at once.

    sync: "always" (default; acknowledged = fsynced), "interval" (acknowledged = written, fsynced
      within `sync_interval_ms`) or "never" (acknowledged = written; fsync only on sync()/close()).
      Loss windows are in `indexes.log.sync_policy` and docs/LOG.md.
    segment_size_bytes: roll over to a new segment file past this size (at batch boundaries).
    max_pending_records / max_pending_bytes: bound of the queue in front of the writer; an append
      waits up to `backpressure_timeout_ms` (or its own `timeout_ms`) for room, then raises
      LogBackpressureError. A single batch must fit in the bound.
    fsync: the function used for every fsync (files and directory); tests inject failures with it.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        sync: SyncPolicy | str = SyncPolicy.ALWAYS,
        sync_interval_ms: int = DEFAULT_SYNC_INTERVAL_MS,
        segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
        max_pending_records: int = DEFAULT_MAX_PENDING_RECORDS,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        backpressure_timeout_ms: int = DEFAULT_BACKPRESSURE_TIMEOUT_MS,
        fsync: Fsync = os.fsync,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.sync_policy = SyncPolicy.of(sync)
        self._backpressure_timeout_ms = backpressure_timeout_ms
        self._closed = False
        ensure_dir(self.data_dir, fsync)
        self._lock = DirLock(self.data_dir)
        self._lock.acquire()
        try:
            self.open_report: OpenReport
            self.open_report, scan = recover(self.data_dir, fsync)
            last = scan.segments[-1] if scan.segments else None
            self._writer = SegmentWriter(
                self.data_dir,
                [(segment.base_lsn, segment.path) for segment in scan.segments],
                last_size_bytes=last.size_bytes if last else 0,
                last_frames=last.frames if last else 0,
                segment_size_bytes=segment_size_bytes,
                fsync=fsync,
            )
            try:
                self._commit = GroupCommit(
                    self._writer,
                    policy=self.sync_policy,
                    sync_interval_ms=sync_interval_ms,
                    queue=PendingQueue(max_pending_records, max_pending_bytes),
                    end_lsn=scan.end_lsn,
                )
            except BaseException:
                self._writer.close()
                raise
        except BaseException:
            self._lock.release()
            raise

    def append(self, records: Sequence[Record], *, timeout_ms: int | None = None) -> AppendResult:
        self._check_open()
        check_batch(records)
        frames = frame_records(records)  # in the caller's thread: producers encode in parallel
        timeout = self._backpressure_timeout_ms if timeout_ms is None else timeout_ms
        return self._commit.submit(frames, len(records), timeout)

    def read(self, from_lsn: int = 0) -> Iterator[tuple[int, Record]]:
        batches = self.read_batches(from_lsn, DEFAULT_READ_BATCH_RECORDS)
        return chain.from_iterable(enumerate(records, first_lsn) for first_lsn, records in batches)

    def read_batches(
        self, from_lsn: int = 0, max_records: int = DEFAULT_READ_BATCH_RECORDS
    ) -> Iterator[tuple[int, list[Record]]]:
        self._check_open()
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        # The watermark before the segment list: every LSN below it is in a listed segment.
        end_lsn = self._commit.acked_end
        check_read_range(from_lsn, end_lsn)
        return read_batches(self._writer.segments(), from_lsn, end_lsn, max_records)

    def read_bodies(self, from_lsn: int = 0, max_records: int = DEFAULT_READ_BATCH_RECORDS) -> Iterator[BodyRun]:
        self._check_open()
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        end_lsn = self._commit.acked_end  # before the segment list, as in read_batches
        check_read_range(from_lsn, end_lsn)
        return read_body_runs(self._writer.segments(), from_lsn, end_lsn, max_records)

    @property
    def end_lsn(self) -> int:
        return self._commit.acked_end

    @property
    def pending_records(self) -> int:
        """Records queued for the writer and not yet taken: the depth behind backpressure (a metric)."""
        return self._commit.pending_records

    def sync(self) -> None:
        self._check_open()
        self._commit.sync()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._commit.close()
        finally:
            self._writer.close()
            self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"event log {self.data_dir} is closed")

"""Group commit: many producer threads, one writer thread, one write() and (under `always`) one fsync()
per group of batches.

A producer frames its batch in its own thread, then, under the lock, waits for queue space (up to its
timeout: backpressure), takes the next LSNs and queues the batch. The writer takes everything queued,
writes it, syncs as the policy says, then advances the acknowledged watermark and wakes the producers;
each returns once the watermark passes its last LSN. LSNs are given in queue order and the writer writes
in queue order, so LSN order is file order.

Failure is final. If a write or fsync raises, the log fails: every waiting producer and every later
call gets LogFailedError. An fsync is never retried, because after a failed fsync Linux may drop the
dirty pages and report the next fsync as a success (PostgreSQL's "fsyncgate", 2018): a retry could
acknowledge records that are not on disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from indexes.log.errors import LogBackpressureError, LogClosedError, LogError, LogFailedError
from indexes.log.interface import AppendResult
from indexes.log.pending import PendingBatch, PendingQueue
from indexes.log.sync_policy import SyncPolicy

# A waiting producer re-checks that the writer thread is alive this often, so a writer that died
# without reporting (it cannot, but assume) never leaves a producer blocked forever.
_LIVENESS_CHECK_S = 1.0
CLOSE_TIMEOUT_MS = 120_000


class CommitSink(Protocol):
    """Where groups go: SegmentWriter for FileLog; a replicated backend could bring its own."""

    def write_group(self, batches: Sequence[tuple[bytes, int]], first_lsn: int) -> None: ...

    def sync(self) -> None: ...


class GroupCommit:
    def __init__(
        self,
        sink: CommitSink,
        *,
        policy: SyncPolicy,
        sync_interval_ms: int,
        queue: PendingQueue,
        end_lsn: int,
        name: str = "event-log-writer",
    ) -> None:
        if sync_interval_ms <= 0:
            raise ValueError("sync_interval_ms must be positive")
        self._sink = sink
        self._policy = policy
        self._sync_interval_s = sync_interval_ms / 1000
        self._queue = queue
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer waits for batches, syncs, close
        self._space = threading.Condition(self._lock)  # producers wait for queue space
        self._acked = threading.Condition(self._lock)  # producers and sync() wait for watermarks
        self._next_lsn = end_lsn  # given to the next admitted batch
        self._written_end = end_lsn  # one past the last LSN written to the sink
        self._synced_end = end_lsn  # one past the last LSN fsynced
        self._acked_end = end_lsn  # one past the last acknowledged LSN
        self._sync_wanted_end = end_lsn  # sync() asks the writer to fsync up to here
        self._dirty_since = 0.0  # monotonic time of the first unsynced write, 0 when clean
        self._failure: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- producer side ---------------------------------------------------------------------------------

    @property
    def acked_end(self) -> int:
        with self._lock:
            return self._acked_end

    @property
    def pending_records(self) -> int:
        with self._lock:
            return self._queue.records

    def submit(self, frames: bytes, count: int, timeout_ms: int) -> AppendResult:
        assert count > 0 and frames
        if not self._queue.fits_ever(count, len(frames)):
            raise ValueError(
                f"batch of {count} records / {len(frames)} bytes exceeds the pending queue "
                f"({self._queue.max_records} records / {self._queue.max_bytes} bytes): split it"
            )
        deadline = time.monotonic() + timeout_ms / 1000
        with self._lock:
            self._check_usable()
            while not self._queue.admits(count, len(frames)):
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise LogBackpressureError(
                        f"pending queue full for {timeout_ms} ms "
                        f"({self._queue.max_records} records / {self._queue.max_bytes} bytes); "
                        "the writer is not keeping up"
                    )
                self._space.wait(remaining_s)
                self._check_usable()
            first_lsn = self._next_lsn
            self._next_lsn += count
            self._queue.push(PendingBatch(first_lsn, count, frames))
            self._work.notify()
            last_lsn = first_lsn + count - 1
            self._wait_until(lambda: self._acked_end > last_lsn)
        return AppendResult(first_lsn, last_lsn)

    def sync(self) -> None:
        """fsync everything acknowledged so far (a no-op wait under `always`)."""
        with self._lock:
            if self._failure is not None:
                raise self._failed_error()
            target = self._acked_end
            if self._synced_end >= target:
                return
            self._sync_wanted_end = max(self._sync_wanted_end, target)
            self._work.notify()
            self._wait_until(lambda: self._synced_end >= target)

    def close(self) -> None:
        """Drain the queue, sync, stop the writer. Raises LogFailedError if that final work failed."""
        with self._lock:
            failed_before = self._failure is not None
            self._closing = True
            self._work.notify_all()
            self._space.notify_all()
        self._thread.join(CLOSE_TIMEOUT_MS / 1000)
        if self._thread.is_alive():
            raise LogError(f"event-log writer did not stop within {CLOSE_TIMEOUT_MS} ms")
        with self._lock:
            if self._failure is not None and not failed_before:
                raise self._failed_error()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failed_error()
        if self._closing:
            raise LogClosedError("event log is closed")

    def _wait_until(self, done: Callable[[], bool]) -> None:
        """Wait (lock held) until done() or failure; bounded by the writer's progress or death."""
        while not done():
            if self._failure is not None:
                raise self._failed_error()
            if not self._thread.is_alive():
                raise LogFailedError("event-log writer thread stopped")
            self._acked.wait(_LIVENESS_CHECK_S)

    def _failed_error(self) -> LogFailedError:
        # A fresh exception per raise: producers on many threads must not share one traceback.
        error = LogFailedError(
            f"event log failed ({self._failure!r}); nothing at or after LSN {self._acked_end} is "
            "acknowledged and no further append is accepted (reopen the log to continue)"
        )
        error.__cause__ = self._failure
        return error

    # -- writer side -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            # One turn per group; ends when closing with nothing queued. Every turn either writes,
            # syncs, or waits on the condition, so it never spins.
            while True:
                with self._lock:
                    group, first_lsn, sync_due, closing = self._next_group()
                count = sum(batch.count for batch in group)
                if group:
                    self._sink.write_group([(batch.frames, batch.count) for batch in group], first_lsn)
                dirty = bool(group) or self._synced_end < self._written_end
                must_sync = (bool(group) and self._policy is SyncPolicy.ALWAYS) or sync_due or closing
                if must_sync and dirty:
                    self._sink.sync()
                with self._lock:
                    self._finish_group(count, synced=must_sync and dirty)
                    if closing and not self._queue:
                        return
        except BaseException as exc:  # the log's contract: any failure of the writer is fatal
            with self._lock:
                self._failure = exc
                self._work.notify_all()
                self._space.notify_all()
                self._acked.notify_all()

    def _next_group(self) -> tuple[list[PendingBatch], int, bool, bool]:
        """Wait (lock held) for work; return (group, its first LSN, whether to sync, closing)."""
        while not (self._queue or self._closing or self._sync_wanted() or self._interval_due() == 0.0):
            self._work.wait(self._interval_due())
        group = self._queue.take_all()
        if group:
            assert group[0].first_lsn == self._written_end, "queue order is LSN order"
            self._space.notify_all()
        return group, self._written_end, self._sync_wanted() or self._interval_due() == 0.0, self._closing

    def _sync_wanted(self) -> bool:
        return self._sync_wanted_end > self._synced_end

    def _interval_due(self) -> float | None:
        """Seconds until an `interval` fsync is due (0.0 when due), None when none is pending."""
        if self._policy is not SyncPolicy.INTERVAL or not self._dirty_since:
            return None
        return max(0.0, self._dirty_since + self._sync_interval_s - time.monotonic())

    def _finish_group(self, count: int, *, synced: bool) -> None:
        self._written_end += count
        if synced:
            self._synced_end = self._written_end
            self._dirty_since = 0.0
        elif count and not self._dirty_since:
            self._dirty_since = time.monotonic()
        acked = self._synced_end if self._policy is SyncPolicy.ALWAYS else self._written_end
        assert acked >= self._acked_end, "the acknowledged watermark only moves forward"
        self._acked_end = acked
        self._acked.notify_all()

"""MemoryLog: the reference EventLog, in memory. For unit tests, and the yardstick of the contract suite.

Records are stored encoded, exactly as FileLog stores them, so both return the same values (a tuple
comes back as a list from either) and reject the same records.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from indexes.log.codec import BodyRun, Record, new_packer, pack_record, unpack_record
from indexes.log.errors import LogClosedError
from indexes.log.interface import (
    DEFAULT_READ_BATCH_RECORDS,
    AppendResult,
    EventLog,
    check_batch,
    check_read_range,
)


class MemoryLog(EventLog):
    """Acknowledges on append (nothing is durable). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: list[bytes] = []
        self._closed = False

    def append(self, records: Sequence[Record], *, timeout_ms: int | None = None) -> AppendResult:
        check_batch(records)
        packer = new_packer()
        bodies = [pack_record(packer, record, index) for index, record in enumerate(records)]
        with self._lock:
            self._check_open()
            first_lsn = len(self._bodies)
            self._bodies.extend(bodies)
        return AppendResult(first_lsn, first_lsn + len(bodies) - 1)

    def read(self, from_lsn: int = 0) -> Iterator[tuple[int, Record]]:
        with self._lock:
            self._check_open()
            end_lsn = len(self._bodies)
            check_read_range(from_lsn, end_lsn)
            # The list only grows, so a slice taken now is the log as of this call.
            bodies = self._bodies[from_lsn:end_lsn]
        return ((lsn, unpack_record(body)) for lsn, body in enumerate(bodies, from_lsn))

    def read_bodies(self, from_lsn: int = 0, max_records: int = DEFAULT_READ_BATCH_RECORDS) -> Iterator[BodyRun]:
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        with self._lock:
            self._check_open()
            end_lsn = len(self._bodies)
            check_read_range(from_lsn, end_lsn)
            bodies = self._bodies[from_lsn:end_lsn]
        for low in range(0, len(bodies), max_records):
            run = bodies[low : low + max_records]
            yield BodyRun(from_lsn + low, len(run), b"".join(run))

    @property
    def end_lsn(self) -> int:
        with self._lock:
            return len(self._bodies)

    def sync(self) -> None:
        with self._lock:
            self._check_open()

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("event log is closed")

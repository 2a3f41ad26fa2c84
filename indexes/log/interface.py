"""The event log as the rest of the engine sees it: a small interface with interchangeable backends.

After the Python `eventsourcing` library's recorders: persistence sits behind a few methods, and one
contract test suite (tests/test_log_contract.py) runs against every implementation. `FileLog` is the
durable one, `MemoryLog` the reference and the unit tests' stand-in; a replicated backend would be a
third class passing the same suite (docs/LOG.md, "Other backends").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from indexes.log.codec import BodyRun, Record, new_packer, pack_record

# Measured: decoding in batches of a few hundred is fastest; a batch's fresh objects stay in cache.
DEFAULT_READ_BATCH_RECORDS = 256


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The LSNs given to an appended batch: consecutive, first_lsn..last_lsn inclusive."""

    first_lsn: int
    last_lsn: int

    @property
    def count(self) -> int:
        return self.last_lsn - self.first_lsn + 1


class EventLog(ABC):
    """An append-only sequence of records (dicts or lists), each at an LSN: its 0-based position in the log.

    Contract, for every implementation:
    * `append` gives a batch consecutive LSNs and returns only once the batch is acknowledged, i.e.
      durable as the implementation's sync policy promises. Batches are all-or-nothing.
    * Concurrent appends are serialised: their LSN ranges never overlap and `read` returns every
      acknowledged batch whole and in LSN order.
    * A record reads back equal to what was appended, up to msgpack's mapping of types (tuples come
      back as lists).
    * `end_lsn` is one past the last acknowledged record: everything below it is readable.
    """

    @abstractmethod
    def append(self, records: Sequence[Record], *, timeout_ms: int | None = None) -> AppendResult:
        """Append a non-empty batch; `timeout_ms` bounds only the wait for queue space (backpressure)."""

    @abstractmethod
    def read(self, from_lsn: int = 0) -> Iterator[tuple[int, Record]]:
        """(lsn, record) for every LSN from `from_lsn` up to the `end_lsn` at the time of the call."""

    def read_batches(
        self, from_lsn: int = 0, max_records: int = DEFAULT_READ_BATCH_RECORDS
    ) -> Iterator[tuple[int, list[Record]]]:
        """(first_lsn, records) in LSN order, at most `max_records` per batch: the replay path."""
        assert max_records > 0
        batch: list[Record] = []
        first_lsn = from_lsn
        for lsn, record in self.read(from_lsn):
            if not batch:
                first_lsn = lsn
            batch.append(record)
            if len(batch) == max_records:
                yield first_lsn, batch
                batch = []
        if batch:
            yield first_lsn, batch

    def read_bodies(self, from_lsn: int = 0, max_records: int = DEFAULT_READ_BATCH_RECORDS) -> Iterator[BodyRun]:
        """The records from `from_lsn` as runs of encoded bodies (`BodyRun.decode()` gives the records):
        for a reader that decodes in bulk or in its own way. This default re-encodes `read_batches`;
        backends that store bodies override it."""
        packer = new_packer()
        for first_lsn, records in self.read_batches(from_lsn, max_records):
            bodies = b"".join(pack_record(packer, record, index) for index, record in enumerate(records))
            yield BodyRun(first_lsn, len(records), bodies)

    @property
    @abstractmethod
    def end_lsn(self) -> int:
        """One past the last acknowledged record (0 for an empty log)."""

    @abstractmethod
    def sync(self) -> None:
        """Make every record acknowledged so far durable, whatever the sync policy."""

    @abstractmethod
    def close(self) -> None:
        """Finish pending appends, sync, release resources. Idempotent; later calls raise LogClosedError."""

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def check_read_range(from_lsn: int, end_lsn: int) -> None:
    """The argument check every implementation's `read` shares."""
    if not 0 <= from_lsn <= end_lsn:
        raise ValueError(f"from_lsn {from_lsn} outside 0..end_lsn ({end_lsn})")


def check_batch(records: Sequence[Record]) -> None:
    if len(records) == 0:
        raise ValueError("append needs at least one record")

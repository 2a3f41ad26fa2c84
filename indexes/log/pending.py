"""The bounded queue of batches waiting for the writer thread, counted in records and bytes.

Not thread-safe by itself: the group commit guards it with its own lock, which also guards the LSN
counters, so admitting a batch and numbering it are one step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PendingBatch:
    first_lsn: int
    count: int
    frames: bytes  # already encoded and framed by the producer


class PendingQueue:
    def __init__(self, max_records: int, max_bytes: int) -> None:
        assert max_records > 0 and max_bytes > 0
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._batches: deque[PendingBatch] = deque()
        self._records = 0
        self._bytes = 0

    def fits_ever(self, count: int, size_bytes: int) -> bool:
        """A batch this size can be admitted into an empty queue."""
        return count <= self.max_records and size_bytes <= self.max_bytes

    def admits(self, count: int, size_bytes: int) -> bool:
        return self._records + count <= self.max_records and self._bytes + size_bytes <= self.max_bytes

    def push(self, batch: PendingBatch) -> None:
        assert self.admits(batch.count, len(batch.frames))
        assert not self._batches or self._batches[-1].first_lsn + self._batches[-1].count == batch.first_lsn
        self._batches.append(batch)
        self._records += batch.count
        self._bytes += len(batch.frames)

    def take_all(self) -> list[PendingBatch]:
        """Everything queued, oldest first: the next group commit. At most max_records records."""
        group = list(self._batches)
        self._batches.clear()
        self._records = 0
        self._bytes = 0
        return group

    @property
    def records(self) -> int:
        return self._records

    def __len__(self) -> int:
        return len(self._batches)

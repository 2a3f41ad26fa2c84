"""Ingest batches in the log: commit marks make each batch all-or-nothing across crashes.

The log frames every record separately, so a crash in the middle of a `write()` can leave the first
records of a batch on disk, whole and CRC-valid, without the rest (docs/LOG.md: a torn tail is cut at
the first bad frame, and the good frames before it stay). Such a batch was never acknowledged, and
none of it may become visible. So every batch ends with a commit mark, and replay applies records only
once their batch's mark is read:

    [r1 r2 r3 C] [r4 r5 C] [r6 r7            <- torn: no mark; on open an abort mark follows it
    [r1 r2 r3 C] [r4 r5 C] [r6 r7 A] [r8 C]  <- r6, r7 are discarded by every replay

The abort is written (durably) by the open that finds the torn tail, before any new batch, so a torn
batch is never glued to the next one. Separate marks, rather than a flag on a batch's last record,
survive compaction, which drops records of erased customers from the middle of batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from indexes.durable.record_codec import COMMIT_MARK, Abort, Commit, LogDict, Tombstone, decode, decode_run
from indexes.records import Record

# A tombstone frame stays far below the log's 16 MiB record limit: 4 MiB of digests.
TOMBSTONE_DIGESTS_PER_RECORD = 1 << 18


@dataclass
class Committed:
    """The data records of consecutive committed batches, in LSN order; `end_lsn` follows the mark."""

    records: list[Record | Tombstone]
    end_lsn: int


@dataclass
class BatchScanner:
    """Feeds log dicts in LSN order and hands out what is committed. One per replay."""

    next_lsn: int  # LSN of the next dict fed
    committed_lsn: int = field(init=False)  # one past the last commit/abort mark fed
    pending: list[Record | Tombstone] = field(default_factory=list)  # records since that mark
    commits: int = 0
    aborted_records: int = 0

    def __post_init__(self) -> None:
        self.committed_lsn = self.next_lsn

    def feed(self, items: list[LogDict], ready: list[Record | Tombstone]) -> None:
        """Decode `items` (consecutive from next_lsn); append newly committed records to `ready`."""
        pending = self.pending
        at = 0
        # Each turn decodes a run of data records and handles the mark after it: at most one turn
        # per mark, plus one.
        while at < len(items):
            mark_at = decode_run(items, at, pending)  # type: ignore[arg-type]
            if mark_at == len(items):
                break
            mark = decode(items[mark_at])
            lsn_after = self.next_lsn + mark_at + 1
            if type(mark) is Commit:
                ready.extend(pending)
                pending.clear()
                self.commits += 1
                self.committed_lsn = lsn_after
            elif type(mark) is Abort:
                self.aborted_records += len(pending)
                pending.clear()
                self.committed_lsn = lsn_after
            else:
                pending.append(mark)  # type: ignore[arg-type]  # a tombstone, committed with its batch
            at = mark_at + 1
        self.next_lsn += len(items)

    @property
    def uncommitted_records(self) -> int:
        return self.next_lsn - self.committed_lsn


def tombstone_batch(keys: np.ndarray) -> list[Tombstone | Commit]:
    """Tombstones for `keys` ((n, 2) uint64 digests), split to bounded records, then a commit mark."""
    assert keys.ndim == 2 and keys.shape[1] == 2
    marks: list[Tombstone | Commit] = [
        Tombstone(np.ascontiguousarray(keys[low : low + TOMBSTONE_DIGESTS_PER_RECORD]))
        for low in range(0, len(keys), TOMBSTONE_DIGESTS_PER_RECORD)
    ]
    marks.append(COMMIT_MARK)
    return marks


def iter_split(records: list[Record | Tombstone]) -> Iterator[list[Record] | Tombstone]:
    """Runs of ordinary records and single tombstones, in order (the shard applies the former)."""
    start = 0
    for index, record in enumerate(records):
        if type(record) is Tombstone:
            if index > start:
                yield records[start:index]  # type: ignore[misc]
            yield record
            start = index + 1
    if start < len(records):
        yield records[start:] if start else records  # type: ignore[misc]

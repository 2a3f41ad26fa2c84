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

The scanner works on log items as decoded (record_codec arrays): it only reads their kind tags, with
C-level passes, and hands out committed items for the replay to turn into columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from indexes.durable.record_codec import (
    ABORT,
    COMMIT,
    COMMIT_MARK,
    EVENT,
    LAST_KIND,
    TOMBSTONE,
    CodecError,
    Commit,
    LogItem,
    Tombstone,
    commit_wall_ms,
)

# A tombstone frame stays far below the log's 16 MiB record limit: 4 MiB of digests.
TOMBSTONE_DIGESTS_PER_RECORD = 1 << 18
_KIND = itemgetter(0)


def kinds_of(items: list[LogItem]) -> np.ndarray:
    """The kind tag of every item (int8); CodecError when an item is not one of this codec's."""
    try:
        kinds = np.fromiter(map(_KIND, items), dtype=np.int64, count=len(items))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CodecError(f"log item without a kind tag: {exc!r}") from None
    unknown = np.flatnonzero((kinds < EVENT) | (kinds > LAST_KIND))
    if len(unknown):
        raise CodecError(f"log item of unknown kind {int(kinds[unknown[0]])}")
    return kinds.astype(np.int8)


@dataclass(frozen=True)
class BatchEnd:
    """A committed batch seen by the scanner: its records end at `stop` in the ready list."""

    stop: int
    wall_ms: int | None  # the commit mark's wall-clock time (None in older logs)


@dataclass
class BatchScanner:
    """Fed log items in LSN order; hands out the committed ones. One per replay."""

    next_lsn: int  # LSN of the next item fed
    committed_lsn: int = field(init=False)  # one past the last commit/abort mark fed
    pending: list[LogItem] = field(default_factory=list)  # items since that mark
    commits: int = 0
    aborted_records: int = 0

    def __post_init__(self) -> None:
        self.committed_lsn = self.next_lsn

    def feed(self, items: list[LogItem], ready: list[LogItem], batches: list[BatchEnd] | None = None) -> None:
        """Take `items` (consecutive from next_lsn); append the newly committed data items (records
        and tombstones, in order) to `ready`, and for each committed batch, when `batches` is given,
        where it ends in `ready` and the wall-clock time of its commit mark."""
        kinds = kinds_of(items)
        pending = self.pending
        at = 0
        # Commit and abort marks end batches; a tombstone is a record of its batch.
        for mark_at in np.flatnonzero((kinds == COMMIT) | (kinds == ABORT)).tolist():
            pending.extend(items[at:mark_at])
            if kinds[mark_at] == COMMIT:
                ready.extend(pending)
                self.commits += 1
                if batches is not None:
                    batches.append(BatchEnd(len(ready), commit_wall_ms(items[mark_at])))
            else:
                self.aborted_records += len(pending)
            pending.clear()
            self.committed_lsn = self.next_lsn + mark_at + 1
            at = mark_at + 1
        pending.extend(items[at:])
        self.next_lsn += len(items)

    @property
    def uncommitted_records(self) -> int:
        return self.next_lsn - self.committed_lsn


def tombstone_batch(keys: np.ndarray, wall_ms: int | None = None) -> list[Tombstone | Commit]:
    """Tombstones for `keys` ((n, 2) uint64 digests), split to bounded records, then a commit mark.

    At least one tombstone record even for no keys: compaction appends a tombstone batch whenever it
    rewrites the log, and the number of tombstone batches is the change log's epoch (a change-log
    position from before a rewrite is refused, docs/SAVED_SEGMENTS.md)."""
    assert keys.ndim == 2 and keys.shape[1] == 2
    marks: list[Tombstone | Commit] = [
        Tombstone(np.ascontiguousarray(keys[low : low + TOMBSTONE_DIGESTS_PER_RECORD]))
        for low in range(0, max(len(keys), 1), TOMBSTONE_DIGESTS_PER_RECORD)
    ]
    marks.append(COMMIT_MARK if wall_ms is None else Commit(wall_ms))
    return marks


def iter_split(items: list[LogItem], kinds: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of the parts of `items` between tombstones, and (i, i + 1) for each tombstone,
    in order: the shard applies the former, the replay adds the latter's digests itself."""
    start = 0
    for index in np.flatnonzero(kinds == TOMBSTONE).tolist():
        if index > start:
            yield start, index
        yield index, index + 1
        start = index + 1
    if start < len(items):
        yield start, len(items)

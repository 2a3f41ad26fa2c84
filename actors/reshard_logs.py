"""The log side of resharding: every shard's committed batches, merged, and each split by new owner.

* Reading (`committed_batches`): an old shard's log items in LSN order, cut into batches at commit
  marks. Records of a batch that was aborted or never committed (a torn tail) are dropped, as replay
  drops them. Ticks (a commit mark alone) only move the clock, which the new shards get at the end.
* Merging (`merged_batches`): the shards' batch streams in the order of their commit marks' wall time
  (a running maximum per stream, so a stream is never reordered; ties go to the lower shard). Each
  customer lives on exactly one old shard, so their records keep their log order; declarations and
  segment commands, which every old shard holds, come before the records that needed them, because
  those were committed after them.
* Routing (`BatchRouter.split`): events, profiles and erasures go to the new owner of the customer
  they name (actors/placement.py shard_of); declarations and saved-segment commands to every new
  shard, once (a body already sent, from another old shard, is not sent again: the shards hold the
  same replicated records). Every part keeps the batch's commit mark, so a batch stays all-or-nothing
  on each new shard.
* Tombstones (event-id digests of records compaction removed; they name no customer) are gathered and
  given to every new shard at the end of its log (`BatchRouter.tombstone_items`), each digest once, in
  more tombstone batches than any old shard applied: the number of tombstone batches is a shard's
  change-log epoch, so every change-log position read before the reshard is refused after it
  (PositionExpiredError) instead of being resumed against renumbered entries.

Items are kept exactly as the log holds them (no decoding into records, no re-validation: they were
validated when first appended), with arrays as lists, which is what FileLog.append accepts.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgpack
import numpy as np

from actors.placement import shard_of
from indexes.durable.control import tombstone_batch
from indexes.durable.record_codec import (
    ABORT,
    COMMIT,
    DECLARATION,
    ERASURE,
    EVENT,
    PROFILE,
    SEGMENT,
    TOMBSTONE,
    CodecError,
    LogItem,
    Tombstone,
    commit_wall_ms,
    decode,
    encode_control,
    kind_of,
)
from indexes.log import FileLog

READ_RECORDS = 65_536  # log records per read and decode call (as replay reads)
_ROUTED = (EVENT, PROFILE, ERASURE)
_REPLICATED = (DECLARATION, SEGMENT)


@dataclass
class Batch:
    source: int  # the old shard
    wall_ms: int | None  # its commit mark's time (None: a mark from before saved segments)
    items: list[LogItem]  # its records, without the mark


def committed_batches(log: FileLog, source: int) -> Iterator[Batch]:
    """The committed batches of `log`, in LSN order; ticks (no records) included."""
    pending: list[LogItem] = []
    end_lsn = log.end_lsn
    if end_lsn == 0:
        return
    for run in log.read_bodies(0, READ_RECORDS):
        items = run.decode(use_list=True)
        for item in items[: max(0, end_lsn - run.first_lsn)]:
            kind = kind_of(item)
            if kind == COMMIT:
                yield Batch(source, commit_wall_ms(item), pending)
                pending = []
            elif kind == ABORT:
                pending = []
            else:
                pending.append(item)
        if run.first_lsn + run.count >= end_lsn:
            break
    # `pending` now holds a torn batch's records (no mark yet): never acknowledged, dropped.


def merged_batches(streams: list[Iterator[Batch]]) -> Iterator[Batch]:
    """One stream of the old shards' batches, by commit time; each stream's own order kept."""
    heap: list[tuple[int, int, Batch]] = []
    clocks = [-1] * len(streams)  # running maximum of each stream's wall times

    def push(source: int) -> None:
        batch = next(streams[source], None)
        if batch is not None:
            if batch.wall_ms is not None:
                clocks[source] = max(clocks[source], batch.wall_ms)
            heapq.heappush(heap, (clocks[source], source, batch))

    for source in range(len(streams)):
        push(source)
    # Each turn takes one batch off the heap and pushes at most one: ends when every stream has.
    while heap:
        _, source, batch = heapq.heappop(heap)
        yield batch
        push(source)


@dataclass
class BatchRouter:
    shards: int  # the new shard count
    sources: int  # the old shard count
    replicated_seen: set[bytes] = field(default_factory=set)  # packed declaration / segment items sent
    routed_records: int = 0
    replicated_records: int = 0
    duplicate_replicas: int = 0  # replicated records dropped because another old shard's copy was sent
    tombstone_keys: list[np.ndarray] = field(default_factory=list)  # (n, 2) uint64 digests, repeats included
    tombstone_batches: list[int] = field(init=False)  # per old shard: its tombstone batches (its epoch)

    def __post_init__(self) -> None:
        self.tombstone_batches = [0] * self.sources

    def split(self, batch: Batch) -> list[list[LogItem]]:
        """Per new shard, its records of `batch` in batch order (empty: none)."""
        parts: list[list[LogItem]] = [[] for _ in range(self.shards)]
        tombstones = False
        for item in batch.items:
            kind = item[0]
            if kind in _ROUTED:
                customer = item[1]
                if type(customer) is not str:
                    raise CodecError(f"shard {batch.source}: a record without a customer id: {item!r:.80}")
                parts[shard_of(customer, self.shards)].append(item)
                self.routed_records += 1
            elif kind in _REPLICATED:
                key = msgpack.packb(item)
                if key in self.replicated_seen:
                    self.duplicate_replicas += 1
                    continue
                self.replicated_seen.add(key)
                self.replicated_records += 1
                for part in parts:
                    part.append(item)
            elif kind == TOMBSTONE:
                mark = decode(item)  # CodecError for a blob that is not whole digests
                assert type(mark) is Tombstone
                self.tombstone_keys.append(mark.keys)
                tombstones = True
            else:
                raise CodecError(f"shard {batch.source}: unexpected log item of kind {kind} inside a batch")
        self.tombstone_batches[batch.source] += tombstones
        return parts

    def tombstone_items(self) -> tuple[list[LogItem], int]:
        """The tombstone batches every new shard ends with (items, commit marks included), and how
        many distinct digests they carry: all digests in the first, then empty ones up to one batch
        more than the most any old shard applied."""
        if not self.tombstone_keys:
            return [], 0
        keys = np.unique(np.concatenate(self.tombstone_keys), axis=0)
        empty = np.empty((0, 2), dtype=np.uint64)
        items: list[LogItem] = []
        for number in range(max(self.tombstone_batches) + 1):
            items.extend(encode_control(mark) for mark in tombstone_batch(keys if number == 0 else empty))
        return items, len(keys)


def commit_item(wall_ms: int | None) -> LogItem:
    return [COMMIT] if wall_ms is None else [COMMIT, wall_ms]

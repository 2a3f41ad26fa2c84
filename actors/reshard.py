"""`segments reshard`: change a data directory's shard count by replaying every shard's log.

Offline, with the documented short pause: stop the server, `segments reshard --data-dir DIR --shards N`,
start it again (docs/SCALING.md). Holding DATA_DIR/LOCK, the lock a running server holds, it

1. opens every old shard (snapshot + log: torn batches get their abort mark) and notes its totals,
   schema and saved-segment catalog;
2. writes the new shards into DATA_DIR/gen-NNNN/ (the next generation, actors/layout.py): every old
   shard's committed batches, merged by commit time and split by new owner (actors/reshard_logs.py),
   appended as log items, unchanged, each part with its batch's commit mark; then the tombstones of
   every old shard (a new change-log epoch) and one tick at the latest commit time seen, so every new
   shard's clock is the old cluster's;
3. opens each new shard (a full replay: it is checked to apply), compares the totals (customers,
   events), the schema and the catalog with the old shards', and writes a snapshot so the first
   start does not replay again (actors/reshard_check.py; steps 1 and 3 open `jobs` shards at once);
4. rewrites cluster.json atomically with the new count and generation: the commit point. A crash or
   an error before it leaves the old layout in use; running the command again starts over (the
   unfinished generation's directory is removed first);
5. removes the old generation's shard directories (kept with `keep_old`, until the next reshard).

Exactness: a customer's records all come from one old shard, in its log order, and go to one new
shard, so the new shard's state for them is the old one's; event-id idempotency follows the events
(and tombstoned digests go to every shard); erasures are records like the others, so an erased
customer stays erased. Saved segments keep their definitions and memberships; their change logs are
rebuilt per new shard, in a new epoch (positions from before the reshard are refused:
PositionExpiredError, or a position of another shard count: an invalid page token).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actors.layout import (
    CLUSTER_FILE,
    GENERATION_DIR_PREFIX,
    MAX_GENERATION,
    MAX_SHARDS,
    ClusterLayout,
    ClusterLayoutError,
    generation_path,
    open_layout,
)
from actors.reshard_check import MAX_JOBS, ReshardError, check_same, summarize
from actors.reshard_logs import BatchRouter, commit_item, committed_batches, merged_batches
from indexes.durable.engine import LOG_DIR
from indexes.durable.record_codec import LogItem
from indexes.durable.workspace import open_workspace, write_atomically
from indexes.log import FileLog
from indexes.log.fsio import DirLock, fsync_dir

# Items buffered per new shard before one append: few large writes instead of one per old batch.
FLUSH_ITEMS = 8_192
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ReshardReport:
    data_dir: str
    old_shards: int
    new_shards: int
    generation: int
    batches: int  # committed batches read from the old shards
    routed_records: int  # events, profiles, erasures
    replicated_records: int  # declarations and segment commands, each sent to every new shard
    duplicate_replicas: int  # copies of those held by the other old shards, not sent again
    tombstone_digests: int
    customers: int
    events: int
    old_removed: bool
    seconds: float


@dataclass(frozen=True)
class _Written:
    router: BatchRouter
    batches: int
    tombstone_digests: int


def reshard(data_dir: str | Path, shards: int, *, keep_old: bool = False, jobs: int = 1,
            progress: Progress | None = None) -> ReshardReport:
    """Rebuild `data_dir` with `shards` shards (see the module docstring); `jobs` shards are opened
    at once (each in a process of its own when more than one). ReshardError, or LogLockedError when a
    server (or another command) holds the directory; nothing changes then."""
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    if type(shards) is not int or not 1 <= shards <= MAX_SHARDS:
        raise ReshardError(f"--shards must be 1..{MAX_SHARDS} (got {shards!r})")
    if type(jobs) is not int or not 1 <= jobs <= MAX_JOBS:
        raise ReshardError(f"--jobs must be 1..{MAX_JOBS} (got {jobs!r})")
    root = Path(data_dir).resolve()
    if not (root / CLUSTER_FILE).is_file():
        raise ReshardError(f"{root} is not a cluster data directory ({CLUSTER_FILE} missing)")
    with DirLock(root):  # the lock `segments serve` holds: refuses while a server runs
        try:
            old = open_layout(root)
        except ClusterLayoutError as exc:
            raise ReshardError(str(exc)) from None
        if shards == old.shards:
            raise ReshardError(f"--shards: {root} already has {shards} shards")
        if old.generation >= MAX_GENERATION:
            raise ReshardError(f"{root} was resharded {MAX_GENERATION} times; no generation left")
        new = ClusterLayout(root, shards, old.hash_name, old.tz, old.created_at_ms, old.generation + 1)
        _remove_stale_generations(old)
        staging = root / generation_path(new.generation)
        shutil.rmtree(staging, ignore_errors=True)  # an earlier attempt that did not finish: start over
        say(f"reading {old.shards} shards")
        before = summarize([old.shard_dir(s) for s in range(old.shards)], old.tz, snapshot=False, jobs=jobs)
        say(f"old shards hold {sum(t.customers for t in before.totals)} customers, "
            f"{sum(t.events for t in before.totals)} events; writing {shards} new shards in {staging.name}")
        try:
            written = _write_generation(old, new, say)
            say(f"opening {shards} new shards (full replay) to check and snapshot them")
            after = summarize([new.shard_dir(s) for s in range(shards)], new.tz, snapshot=True, jobs=jobs)
            check_same(before, after)
            fsync_dir(staging, os.fsync)  # the new shard directories' entries, before they are committed to
            fsync_dir(root, os.fsync)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        # The commit point: from here on the data directory is the new layout.
        write_atomically(root / CLUSTER_FILE, json.dumps(new.to_json(), indent=1).encode())
        say(f"{CLUSTER_FILE}: {shards} shards, generation {new.generation}")
        if not keep_old:
            _remove_generation(old)
    customers = sum(t.customers for t in after.totals)
    events = sum(t.events for t in after.totals)
    router = written.router
    return ReshardReport(str(root), old.shards, shards, new.generation, written.batches, router.routed_records,
                         router.replicated_records, router.duplicate_replicas, written.tombstone_digests,
                         customers, events, not keep_old, time.perf_counter() - started)


def _write_generation(old: ClusterLayout, new: ClusterLayout, say: Progress) -> _Written:
    """The new shard directories, their logs holding every old shard's committed batches."""
    router = BatchRouter(new.shards, old.shards)
    latest_wall_ms: int | None = None
    batches = 0
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(_closing(FileLog(old.shard_dir(s) / LOG_DIR, sync="never")))
                   for s in range(old.shards)]
        writers: list[FileLog] = []
        for shard in range(new.shards):
            new.shard_dir(shard).mkdir(parents=True)
            open_workspace(new.shard_dir(shard), new.tz, create=True)
            writers.append(stack.enter_context(_closing(FileLog(new.shard_dir(shard) / LOG_DIR, sync="never"))))
        buffers: list[list[LogItem]] = [[] for _ in writers]
        streams = [committed_batches(reader, s) for s, reader in enumerate(readers)]
        for batch in merged_batches(streams):
            batches += 1
            if batch.wall_ms is not None:
                latest_wall_ms = batch.wall_ms if latest_wall_ms is None else max(latest_wall_ms, batch.wall_ms)
            for shard, part in enumerate(router.split(batch)):
                if part:
                    buffers[shard].extend(part)
                    buffers[shard].append(commit_item(batch.wall_ms))
                    if len(buffers[shard]) >= FLUSH_ITEMS:
                        _flush(writers[shard], buffers[shard])
            if batches % 100_000 == 0:
                say(f"{batches} batches, {router.routed_records} records routed")
        tombstones, tombstone_digests = router.tombstone_items()
        for writer, buffer in zip(writers, buffers, strict=True):
            buffer.extend(tombstones)  # after every record: they only keep ids seen; and a new epoch
            if latest_wall_ms is not None:
                buffer.append(commit_item(latest_wall_ms))  # a tick: the clock every old shard reached at most
            _flush(writer, buffer)
            writer.sync()
    say(f"{batches} batches: {router.routed_records} records routed, {router.replicated_records} replicated")
    return _Written(router, batches, tombstone_digests)


def _flush(writer: FileLog, buffer: list[LogItem]) -> None:
    if buffer:
        writer.append(buffer)
        buffer.clear()


@contextlib.contextmanager
def _closing(log: FileLog):  # type: ignore[no-untyped-def]
    try:
        yield log
    finally:
        log.close()


def _remove_generation(layout: ClusterLayout) -> None:
    """Delete a generation's shard directories (no longer the layout in cluster.json)."""
    if layout.generation == 0:
        for shard in range(layout.shards):
            shutil.rmtree(layout.shard_dir(shard), ignore_errors=True)
    else:
        shutil.rmtree(layout.shards_root(), ignore_errors=True)


def _remove_stale_generations(current: ClusterLayout) -> None:
    """Generation directories other than the current one: an earlier reshard's old shards (kept, or
    left by a crash after its commit) or an unfinished one."""
    for path in current.data_dir.glob(f"{GENERATION_DIR_PREFIX}*"):
        if path.is_dir() and path != current.shards_root():
            shutil.rmtree(path)
    if current.generation > 0:
        for path in current.data_dir.glob("shard-[0-9][0-9][0-9][0-9]"):
            if path.is_dir():
                shutil.rmtree(path)  # generation 0's shards, from before the first reshard

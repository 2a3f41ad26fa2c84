"""Opening a DurableEngine: the workspace, then recovery (newest usable snapshot + log replay).

A mixin of DurableEngine (indexes/durable/engine.py), so that `DurableEngine.open` and
`DurableEngine.open_with_report` stay where callers look for them; recovery itself is
indexes/durable/recovery.py.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from indexes.durable.recovery import LOG_DIR, recover
from indexes.durable.replay import ReplayReport
from indexes.durable.workspace import WorkspaceError, open_workspace
from indexes.log import FileLog, OpenReport
from indexes.log.file_log import DEFAULT_MAX_PENDING_RECORDS
from indexes.log.fsio import Fsync
from indexes.log.segment_writer import DEFAULT_SEGMENT_SIZE_BYTES
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD
from indexes.snapshot import SnapshotInfo


@dataclass(frozen=True)
class EngineOpenReport:
    log: OpenReport  # what opening the log did (torn tail cut, rewrite finished)
    snapshot: SnapshotInfo | None  # the snapshot the state started from (None: full replay)
    skipped_snapshots: list[str]  # unusable snapshots passed over, with the reason
    stale_snapshots_removed: list[str]  # snapshots covering more than the log holds (after a repair)
    replay: ReplayReport
    abort_written: bool  # the log ended inside a batch; an abort mark now discards it
    seconds: float


class EngineOpening:
    """`open` and `open_with_report`; the class they build takes (data_dir, workspace, log, engine,
    applied_lsn), as DurableEngine does."""

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        tz: str | None = None,
        sync: str = "always",
        *,
        create: bool = True,
        fsync: Fsync = os.fsync,
        segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
        use_snapshots: bool = True,
        capacity: int = MAX_CUSTOMERS_PER_SHARD,
        max_pending_records: int = DEFAULT_MAX_PENDING_RECORDS,
    ) -> Self:
        """Open (or create, with `tz`, default UTC) the workspace at `data_dir` and recover its state.

        `tz` must match the workspace's zone when it exists. `use_snapshots=False` replays the whole
        log. `fsync` is injectable for failure tests; `capacity` (customer ids per shard) for limits
        (a snapshot brings its own); `max_pending_records` bounds the log's queue (backpressure)."""
        engine, _ = cls.open_with_report(
            data_dir, tz, sync, create=create, fsync=fsync, segment_size_bytes=segment_size_bytes,
            use_snapshots=use_snapshots, capacity=capacity,
            max_pending_records=max_pending_records,
        )
        return engine

    @classmethod
    def open_with_report(
        cls,
        data_dir: str | os.PathLike[str],
        tz: str | None = None,
        sync: str = "always",
        *,
        create: bool = True,
        fsync: Fsync = os.fsync,
        segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
        use_snapshots: bool = True,
        capacity: int = MAX_CUSTOMERS_PER_SHARD,
        max_pending_records: int = DEFAULT_MAX_PENDING_RECORDS,
    ) -> tuple[Self, EngineOpenReport]:
        started = time.perf_counter()
        root = Path(data_dir)
        if create:
            root.mkdir(parents=True, exist_ok=True)
        elif not root.is_dir():
            raise WorkspaceError(f"no workspace at {root}")
        workspace = open_workspace(root, tz, create=create, fsync=fsync)

        def open_log() -> FileLog:
            return FileLog(root / LOG_DIR, sync=sync, fsync=fsync, segment_size_bytes=segment_size_bytes,
                           max_pending_records=max_pending_records)

        state = recover(root, workspace, open_log, use_snapshots=use_snapshots, capacity=capacity)
        durable = cls(root, workspace, state.log, state.engine, state.log.end_lsn)
        open_report = EngineOpenReport(
            state.log.open_report, state.snapshot, state.skipped, state.stale, state.replay,
            state.abort_written, time.perf_counter() - started,
        )
        return durable, open_report


__all__ = ["EngineOpenReport", "EngineOpening"]

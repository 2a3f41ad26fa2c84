"""Recovery on open: the newest usable snapshot, then a replay of the log from the LSN it covers.

The log's open (a CRC scan of every frame, docs/LOG.md) and the snapshot load are independent, so they
run at the same time: the log opens in a thread while this one loads the snapshot. Both are mostly
I/O, numpy and C code, so they overlap even under the GIL. Only then is the snapshot checked against
the log: one covering more records than the log holds (the log was cut by `log repair`) is stale, its
LSNs would be reused by new records, so every snapshot is deleted and the log replayed from LSN 0.
A torn batch at the end of the log is closed with an abort mark before anything new is appended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexes.durable.record_codec import ABORT_MARK, encode_control
from indexes.durable.replay import ReplayReport, replay
from indexes.durable.workspace import Workspace
from indexes.engine import Engine
from indexes.log import FileLog
from indexes.snapshot import SnapshotInfo, delete_all_snapshots, list_snapshots, load_newest_snapshot

LOG_DIR = "log"  # the data directory's layout: data/log/ and data/snapshots/
SNAPSHOTS_DIR = "snapshots"
_LOG_OPEN_TIMEOUT_S = 3600.0  # a scan of the largest logs takes minutes, not hours


@dataclass
class Recovered:
    log: FileLog
    engine: Engine
    snapshot: SnapshotInfo | None  # what the state started from (None: replay from LSN 0)
    skipped: list[str]  # unusable snapshots passed over, with the reason
    stale: list[str]  # snapshots deleted because they cover more than the log holds
    replay: ReplayReport
    abort_written: bool


def _open_in_thread(open_log: Callable[[], FileLog]) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run() -> None:
        try:
            box["log"] = open_log()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="log-open", daemon=True)
    thread.start()
    return thread, box


def _load(root: Path, workspace: Workspace, capacity: int) -> tuple[Engine, SnapshotInfo | None, list[str]]:
    engine = Engine(tz=workspace.tz, capacity=capacity)
    loaded = load_newest_snapshot(root / SNAPSHOTS_DIR)
    if loaded is None:
        return engine, None, []
    skipped = [f"{s.path}: {s.reason}" for s in loaded.skipped]
    if loaded.shard.calendar.name != workspace.tz:
        skipped.append(f"{loaded.info.path}: time zone {loaded.shard.calendar.name}, workspace {workspace.tz}")
        return engine, None, skipped
    engine.shard = loaded.shard
    engine.segments = loaded.segments
    return engine, loaded.info, skipped


def recover(
    root: Path, workspace: Workspace, open_log: Callable[[], FileLog], *, use_snapshots: bool, capacity: int
) -> Recovered:
    thread, box = _open_in_thread(open_log)
    try:
        if use_snapshots:
            engine, snapshot, skipped = _load(root, workspace, capacity)
        else:
            engine, snapshot, skipped = Engine(tz=workspace.tz, capacity=capacity), None, []
    except BaseException:
        thread.join(_LOG_OPEN_TIMEOUT_S)
        if "log" in box:
            box["log"].close()
        raise
    thread.join(_LOG_OPEN_TIMEOUT_S)
    if thread.is_alive():
        raise TimeoutError(f"the event log did not open within {_LOG_OPEN_TIMEOUT_S:.0f} s")
    if "error" in box:
        raise box["error"]
    log: FileLog = box["log"]
    try:
        end_lsn = log.end_lsn
        stale = [
            f"{info.path}: covers LSN {info.covered_lsn}, the log ends at {end_lsn}"
            for info in list_snapshots(root / SNAPSHOTS_DIR)
            if info.covered_lsn > end_lsn
        ] if use_snapshots else []
        if stale:
            delete_all_snapshots(root / SNAPSHOTS_DIR)
            engine, snapshot = Engine(tz=workspace.tz, capacity=capacity), None
        report = replay(log, engine, snapshot.covered_lsn if snapshot is not None else 0)
        abort_written = False
        if report.uncommitted_records:
            # The log ends inside a batch that was never acknowledged: discard it for good before
            # anything is appended after it (indexes/durable/control.py).
            log.append([encode_control(ABORT_MARK)])
            abort_written = True
    except BaseException:
        log.close()
        raise
    return Recovered(log, engine, snapshot, skipped, stale, report, abort_written)

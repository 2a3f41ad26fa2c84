"""rebuild: replay the whole log into a fresh engine and prove it equals the live state.

"Every index is a function of the log" is checked here, not assumed: the live state (a snapshot plus
the tail replayed, plus whatever was ingested since) and the state replayed from LSN 0 must have the
same `shard_digest`. On a mismatch, `index_digests` names the indexes that differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from indexes.durable.engine import KEEP_SNAPSHOTS, SNAPSHOTS_DIR, DurableEngine
from indexes.durable.replay import replay
from indexes.engine import Engine
from indexes.snapshot import (
    delete_all_snapshots,
    index_digests,
    prune_snapshots,
    shard_digest,
    write_snapshot,
)


@dataclass
class RebuildReport:
    equal: bool
    live_digest: str
    rebuilt_digest: str
    differences: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # index: (live, rebuilt)
    records: int = 0
    events: int = 0
    seconds: float = 0.0
    snapshot_path: str | None = None


def rebuild(engine: DurableEngine, *, replace_snapshots: bool = False, write: bool = True) -> RebuildReport:
    """Replay the log from LSN 0 up to what `engine` has applied, and compare digests.

    Ingest is held off meanwhile. When equal and `write`, a snapshot of the state is written. When
    not equal, nothing changes unless `replace_snapshots`: then the snapshots are replaced by the
    rebuilt state and the engine adopts it (the log is the truth)."""
    started = time.perf_counter()
    fresh = Engine(tz=engine.tz)
    with engine.read_state() as live:
        applied_lsn = engine.applied_lsn
        report = replay(engine.log, fresh, 0, to_lsn=applied_lsn)
        assert report.applied_lsn == applied_lsn, "the live state ends at a batch boundary"
        live_digest = shard_digest(live.shard)
        rebuilt_digest = shard_digest(fresh.shard)
        differences: dict[str, tuple[str | None, str | None]] = {}
        if live_digest != rebuilt_digest:
            live_parts, rebuilt_parts = index_digests(live.shard), index_digests(fresh.shard)
            for name in sorted(set(live_parts) | set(rebuilt_parts)):
                if live_parts.get(name) != rebuilt_parts.get(name):
                    differences[name] = (live_parts.get(name), rebuilt_parts.get(name))
        out = RebuildReport(
            equal=live_digest == rebuilt_digest,
            live_digest=live_digest,
            rebuilt_digest=rebuilt_digest,
            differences=differences,
            records=report.records,
            events=report.events,
        )
        snapshots_dir = engine.data_dir / SNAPSHOTS_DIR
        if out.equal and write:
            out.snapshot_path = str(write_snapshot(fresh.shard, snapshots_dir, applied_lsn).path)
        elif not out.equal and replace_snapshots:
            delete_all_snapshots(snapshots_dir)
            out.snapshot_path = str(write_snapshot(fresh.shard, snapshots_dir, applied_lsn).path)
            live.shard = fresh.shard
    if out.snapshot_path is not None:
        prune_snapshots(snapshots_dir, keep=KEEP_SNAPSHOTS)
    out.seconds = time.perf_counter() - started
    return out

"""rebuild: replay the whole log into a fresh engine and prove it equals the live state.

"Every index is a function of the log" is checked here, not assumed: the live state (a snapshot plus
the tail replayed, plus whatever was ingested since) and the state replayed from LSN 0 must have the
same digest, the saved segments included (catalog, clock, materialized bitmaps, change log, daily
sizes). On a mismatch, `state_digests` names the parts that differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from indexes.durable.engine import KEEP_SNAPSHOTS, SNAPSHOTS_DIR, DurableEngine
from indexes.durable.replay import replay
from indexes.engine import Engine
from indexes.snapshot import (
    delete_all_snapshots,
    prune_snapshots,
    state_digests,
    write_snapshot,
)
from indexes.snapshot.digest import combined_digest


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

    The live digests are taken under the state lock; the replay runs without it (up to the LSN the
    digests were taken at), so queries and ingest go on. When equal and `write`, a snapshot of the
    rebuilt state is written. When not equal, nothing changes unless `replace_snapshots`: then the
    snapshots are replaced by the rebuilt state, and the engine adopts it if nothing was ingested
    meanwhile (the log is the truth)."""
    started = time.perf_counter()
    with engine.read_state() as live:
        applied_lsn = engine.applied_lsn
        live_parts = state_digests(live.shard, live.segments)
    fresh = Engine(tz=engine.tz)
    report = replay(engine.log, fresh, 0, to_lsn=applied_lsn)
    assert report.applied_lsn == applied_lsn, "the live state ends at a batch boundary"
    rebuilt_parts = state_digests(fresh.shard, fresh.segments)
    differences = {
        name: (live_parts.get(name), rebuilt_parts.get(name))
        for name in sorted(set(live_parts) | set(rebuilt_parts))
        if live_parts.get(name) != rebuilt_parts.get(name)
    }
    out = RebuildReport(
        equal=not differences,
        live_digest=combined_digest(live_parts),
        rebuilt_digest=combined_digest(rebuilt_parts),
        differences=differences,
        records=report.records,
        events=report.events,
    )
    snapshots_dir = engine.data_dir / SNAPSHOTS_DIR
    if out.equal and write:
        out.snapshot_path = str(write_snapshot(fresh.shard, snapshots_dir, applied_lsn, segments=fresh.segments).path)
    elif not out.equal and replace_snapshots:
        delete_all_snapshots(snapshots_dir)
        out.snapshot_path = str(write_snapshot(fresh.shard, snapshots_dir, applied_lsn, segments=fresh.segments).path)
        with engine.read_state() as live:
            if engine.applied_lsn == applied_lsn:
                live.shard = fresh.shard
                live.segments = fresh.segments
    if out.snapshot_path is not None:
        prune_snapshots(snapshots_dir, keep=KEEP_SNAPSHOTS)
    out.seconds = time.perf_counter() - started
    return out

"""What a DurableEngine reports about itself: size, progress, snapshot age, refusal (EngineStats).

A mixin of DurableEngine (indexes/durable/engine.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from indexes.durable.ordered_apply import OrderedApplier
from indexes.durable.recovery import LOG_DIR, SNAPSHOTS_DIR
from indexes.engine import Engine
from indexes.snapshot import SnapshotInfo, list_snapshots


@dataclass(frozen=True)
class EngineStats:
    data_dir: str
    tz: str
    customers: int
    events: int  # event rows applied since the log began (erased customers' rows included)
    event_ids: int  # distinct event ids remembered for idempotency
    event_ids_size_bytes: int
    applied_lsn: int
    log_size_bytes: int
    log_segments: int
    snapshot: SnapshotInfo | None
    snapshot_age_ms: int | None
    records_since_snapshot: int
    refusing_ingest: str | None  # why ingest is refused, if it is
    coalesced_applies: int  # shard calls that applied several consecutive batches at once


class EngineStatsReport:
    # DurableEngine's state (indexes/durable/engine.py).
    data_dir: Path
    tz: str
    _state: threading.Condition
    _engine: Engine
    _applier: OrderedApplier
    _refusal: BaseException | None

    def stats(self) -> EngineStats:
        snapshots = list_snapshots(self.data_dir / SNAPSHOTS_DIR)
        newest = max(snapshots, key=lambda s: s.covered_lsn, default=None)
        segments = sorted((self.data_dir / LOG_DIR).glob("*.seg"))
        with self._state:
            shard = self._engine.shard
            applied = self._applier.applied_lsn
            out = EngineStats(
                data_dir=str(self.data_dir),
                tz=self.tz,
                customers=len(shard.alive),
                events=shard.event_count,
                event_ids=len(shard.event_ids),
                event_ids_size_bytes=shard.event_ids.size_bytes(),
                applied_lsn=applied,
                log_size_bytes=sum(_size(p) for p in segments),
                log_segments=len(segments),
                snapshot=newest,
                snapshot_age_ms=(int(time.time() * 1000) - newest.created_at_ms) if newest else None,
                records_since_snapshot=applied - (newest.covered_lsn if newest else 0),
                refusing_ingest=repr(self._refusal) if self._refusal is not None else None,
                coalesced_applies=self._applier.coalesced_calls,
            )
        return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # a segment removed by a concurrent rewrite: not ours to count
        return 0


__all__ = ["EngineStats", "EngineStatsReport"]

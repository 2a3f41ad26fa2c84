"""Writing a snapshot of a DurableEngine's applied state (docs/SNAPSHOTS.md).

A mixin of DurableEngine (indexes/durable/engine.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from indexes.durable.ordered_apply import OrderedApplier
from indexes.durable.recovery import SNAPSHOTS_DIR
from indexes.engine import Engine
from indexes.log import FileLog
from indexes.snapshot import SnapshotInfo, prune_snapshots, write_snapshot

KEEP_SNAPSHOTS = 2


class EngineSnapshot:
    # DurableEngine's state (indexes/durable/engine.py).
    data_dir: Path
    _state: threading.Condition
    _engine: Engine
    _applier: OrderedApplier
    _log: FileLog

    def snapshot(self) -> SnapshotInfo:
        """Write a snapshot of the applied state and keep the newest KEEP_SNAPSHOTS. The log is synced
        first, so a snapshot never covers a record that is not durable (policies interval/never)."""
        self._log.sync()
        with self._state:
            info = write_snapshot(self._engine.shard, self.data_dir / SNAPSHOTS_DIR, self._applier.applied_lsn,
                                  segments=self._engine.segments)
        prune_snapshots(self.data_dir / SNAPSHOTS_DIR, keep=KEEP_SNAPSHOTS)
        return info


__all__ = ["KEEP_SNAPSHOTS", "EngineSnapshot"]

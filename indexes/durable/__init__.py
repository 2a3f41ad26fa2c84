"""The durable engine: an Engine over a data directory (log + snapshots), crash-safe and idempotent.

See docs/DURABILITY.md. `DurableEngine.open(data_dir)` recovers; `compact` erases for good;
`rebuild` proves the state is a function of the log.
"""

from indexes.durable.compaction import CompactionReport, compact
from indexes.durable.engine import DurableEngine, EngineOpenReport, EngineStats
from indexes.durable.rebuild import RebuildReport, rebuild
from indexes.durable.replay import ReplayReport, replay
from indexes.durable.workspace import Workspace, WorkspaceError

__all__ = [
    "CompactionReport",
    "DurableEngine",
    "EngineOpenReport",
    "EngineStats",
    "RebuildReport",
    "ReplayReport",
    "Workspace",
    "WorkspaceError",
    "compact",
    "rebuild",
    "replay",
]

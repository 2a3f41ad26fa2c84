"""The durable, append-only event log: the engine's source of truth (docs/LOG.md).

Every index is derived from the log by replay. `EventLog` is the interface; `FileLog` the durable
implementation (segment files, CRC32C frames, group commit), `MemoryLog` the in-memory reference.
`verify`, `repair` and `rewrite` are the operator's tools on a data directory.
"""

from indexes.log.codec import MAX_RECORD_BYTES, Record
from indexes.log.errors import (
    LogBackpressureError,
    LogClosedError,
    LogCorruptError,
    LogError,
    LogFailedError,
    LogLockedError,
    RecordTooLargeError,
)
from indexes.log.file_log import FileLog
from indexes.log.interface import AppendResult, EventLog
from indexes.log.memory_log import MemoryLog
from indexes.log.repair import repair
from indexes.log.reports import (
    OpenReport,
    Problem,
    RepairReport,
    RewriteReport,
    SegmentReport,
    TornTail,
    VerifyReport,
)
from indexes.log.rewrite import rewrite
from indexes.log.sync_policy import SyncPolicy
from indexes.log.verify import verify

__all__ = [
    "MAX_RECORD_BYTES",
    "AppendResult",
    "EventLog",
    "FileLog",
    "LogBackpressureError",
    "LogClosedError",
    "LogCorruptError",
    "LogError",
    "LogFailedError",
    "LogLockedError",
    "MemoryLog",
    "OpenReport",
    "Problem",
    "Record",
    "RecordTooLargeError",
    "RepairReport",
    "RewriteReport",
    "SegmentReport",
    "SyncPolicy",
    "TornTail",
    "VerifyReport",
    "repair",
    "rewrite",
    "verify",
]

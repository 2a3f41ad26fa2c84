"""What the snapshot functions return: plain records, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indexes.segments.live import LiveSegments
from indexes.shard.shard import Shard


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    covered_lsn: int  # log records already applied to the saved shard: replay resumes here
    size_bytes: int  # every file of the snapshot, manifest included
    created_at_ms: int


@dataclass(frozen=True)
class SkippedSnapshot:
    path: Path
    reason: str


@dataclass
class LoadedSnapshot:
    shard: Shard
    info: SnapshotInfo
    skipped: list[SkippedSnapshot] = field(default_factory=list)  # newer ones that could not be used
    # Saved segments at that LSN; a snapshot without them was taken when the log held no segment
    # command and no timed commit mark, which is exactly the empty state.
    segments: LiveSegments = field(default_factory=LiveSegments)

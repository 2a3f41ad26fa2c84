"""What `service/` may call on the sharded engine for saved segments (docs/SERVICE.md, "Saved segments").

Plain Python values in and out, like actors/api.py. Segment definitions, versions and campaigns are
answered from the router's copy of the catalog; counts, members, sizes, dry runs and the change log
from the shards, merged. Errors, besides those of actors/api.py:

| raised here | gRPC status |
| --- | --- |
| indexes.segments.SegmentNotFoundError | NOT_FOUND |
| indexes.segments.SegmentConflictError | ALREADY_EXISTS |
| indexes.segments.SegmentInUseError (`.campaigns`, `.segments`) | FAILED_PRECONDITION |
| indexes.segments.SegmentError, RuleError (cycles included) | INVALID_ARGUMENT |
| indexes.segments.PositionExpiredError | OUT_OF_RANGE |

A change-log position is a vector: per shard, the epoch of its change log and the last seq read
(each shard numbers its own entries consecutively). Entries are merged across shards in order of
at_ms; each shard's stay in seq order, so resuming after a position skips and repeats nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from actors.api import MembersPage, Rule
from indexes.segments.templates import Template
from indexes.segments.views import ChangeEntry, DryRun, SegmentView


@dataclass(frozen=True)
class ShardPosition:
    epoch: int  # the shard's change-log epoch (compaction starts a new one)
    after_seq: int | None  # the last seq read; None: before the oldest entry kept


ChangePosition = tuple[ShardPosition, ...]  # one per shard, in shard order


class ClusterChange(NamedTuple):
    # A NamedTuple: one per change streamed to Watch consumers.
    shard: int
    entry: ChangeEntry


@dataclass(frozen=True)
class ChangesOutcome:
    changes: list[ClusterChange]  # in order of at_ms; each shard's in seq order
    position: ChangePosition  # after these changes: pass it back to continue
    has_more: bool  # entries after `position` matching the filters may be waiting


@dataclass(frozen=True)
class SegmentCountOutcome:
    count: int
    as_of_ms: int
    clock_ms: int  # the oldest shard clock (0: no record yet)
    last_update_ms: int | None  # the newest membership change on any shard
    active: bool


class SavedSegmentsBackend(Protocol):
    """Coroutines for one asyncio loop, like actors.api.SegmentsBackend (which Cluster also is)."""

    async def segment_command(self, command: dict[str, Any]) -> SegmentView:
        """Validate (router catalog + schema) and store one command (indexes/segments/commands.py) on
        every shard, all or none; the segment afterwards (after a delete: its last version, deleted)."""
        ...

    async def get_segment(self, segment_id: str, version: int | None, include_deleted: bool) -> SegmentView: ...

    async def segment_versions(self, segment_id: str, include_deleted: bool) -> list[SegmentView]: ...

    async def list_segments(self, name_contains: str | None, tag: str | None, include_deleted: bool) -> list[SegmentView]:
        """In creation order."""
        ...

    async def segment_count(self, segment_id: str, as_of_ms: int | None) -> SegmentCountOutcome: ...

    async def segment_members_page(self, segment_id: str, as_of_ms: int, after: str | None,
                                   page_size: int) -> MembersPage: ...

    async def segment_size_history(self, segment_id: str) -> list[tuple[dt.date, int]]: ...

    async def dry_run_edit(self, segment_id: str, rule: Rule, as_of_ms: int | None, samples: int) -> DryRun: ...

    async def segment_changes(self, segment_ids: list[str] | None, position: ChangePosition | None,
                              customer_id: str | None, from_ms: int | None, to_ms: int | None,
                              limit: int) -> ChangesOutcome:
        """One page of the change log after `position` (None: from the oldest entry kept)."""
        ...

    async def next_changes(self, segment_ids: list[str] | None, position: ChangePosition | None,
                           wait_ms: int, limit: int) -> ChangesOutcome:
        """Watch's long poll: the changes after `position` as soon as there are any, or none after
        wait_ms (the position may still have moved past other segments' entries). None: from now
        (returns at once, with no changes and the current end)."""
        ...

    def segment_templates(self) -> list[Template]: ...

"""Errors of the saved-segment API, one class per answer the service gives (docs/SAVED_SEGMENTS.md).

Rules that do not validate raise `indexes.rules.RuleError` (INVALID_ARGUMENT with the rule path);
a cycle in the segment graph is a RuleError too, naming the path of the segment node that closes it.
"""

from __future__ import annotations


class SegmentError(ValueError):
    """A command argument that is not acceptable (INVALID_ARGUMENT). `field` names it: "name",
    "tags[2]", "version"."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple:
        # Pickled with the constructor's arguments (BaseException's default passes the message only):
        # the shards raise these to the router across a process boundary (actors/channel_protocol.py).
        return type(self), (self.field, self.reason)


class SegmentNotFoundError(SegmentError):
    """An unknown or deleted segment id, an unknown version or campaign (NOT_FOUND)."""


class SegmentConflictError(SegmentError):
    """The id or the name is taken (ALREADY_EXISTS). Names are unique among segments that are not
    deleted, compared case-insensitively."""


class SegmentInUseError(SegmentError):
    """Delete of a segment that an active campaign or another segment uses (FAILED_PRECONDITION).
    `campaigns` and `segments` list the users, sorted."""

    def __init__(self, segment_id: str, campaigns: list[str], segments: list[str]) -> None:
        users = [f"campaign {c}" for c in campaigns] + [f"segment {s}" for s in segments]
        super().__init__("id", f"segment {segment_id!r} is used by {', '.join(users)}")
        self.segment_id = segment_id
        self.campaigns = campaigns
        self.segments = segments

    def __reduce__(self) -> tuple:
        return type(self), (self.segment_id, self.campaigns, self.segments)


class PositionExpiredError(ValueError):
    """A change-log position the log cannot continue from without a gap: older than what retention
    kept, or from another epoch (the log was compacted since). The reader must resynchronise (read
    the members, then follow the log from its current end)."""


class SegmentLimitError(SegmentError):
    """A workspace already holds the most live segments it may (RESOURCE_EXHAUSTED): each live segment
    is maintained on every ingest batch, so their number is bounded (docs/LIMITS.md)."""

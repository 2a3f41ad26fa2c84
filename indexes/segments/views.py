"""What the segment API returns: plain frozen records the service turns into messages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from indexes.rules import format_rule
from indexes.rules.json_form import rule_from_json
from indexes.schema import Schema
from indexes.segments.catalog import SavedSegment
from indexes.segments.errors import SegmentNotFoundError


@dataclass(frozen=True)
class SegmentView:
    id: str
    version: int  # the version shown (the current one unless asked for another)
    latest_version: int
    name: str
    description: str
    rule: dict  # canonical JSON form
    rule_text: str  # the same rule in the text form
    tags: tuple[str, ...]
    active: bool
    created_at_ms: int  # version 1's time
    version_at_ms: int  # when the version shown was made
    updated_at_ms: int  # the last command on the segment (campaign changes included)
    op: str  # what made the version shown: create, edit, rollback
    from_version: int | None  # rollback: the version it copies
    deleted: bool
    campaigns: tuple[tuple[str, bool], ...]  # (campaign id, active), sorted


@dataclass(frozen=True)
class SegmentStats:
    id: str
    active: bool
    count: int  # members: the materialized bitmap when active, else evaluated at as_of_ms
    as_of_ms: int
    clock_ms: int  # the shard's clock (what active segments are exact at)
    last_update_ms: int | None  # clock of the last membership change (or of the activation)
    daily_sizes: tuple[tuple[dt.date, int], ...]  # member count at the end of each local day, oldest first
    campaigns: tuple[tuple[str, bool], ...]


class ChangeEntry(NamedTuple):
    # A NamedTuple, not a dataclass: Watch moves tens of thousands a second through pickle (3-4x cheaper).
    seq: int
    segment_id: str
    customer_id: str | None  # None: the customer was erased since
    entered: bool  # False: exited
    at_ms: int  # the clock of the step that made the change
    reason: str  # event, profile, erasure, time, rule_edit, activated, dependency
    event_id: str | None  # event: the customer's last event of the batch that the segment reads
    version: int | None  # rule_edit / activated: the segment's version
    upstream: str | None  # dependency: the segment whose change caused it


@dataclass(frozen=True)
class ChangePage:
    entries: list[ChangeEntry]
    next_after_seq: int  # pass back as after_seq: the next page starts right after this page
    first_seq: int  # the oldest entry retention kept
    end_seq: int  # one past the newest entry
    epoch: int  # pass back as epoch: a position of another epoch is refused (the log was compacted)


@dataclass(frozen=True)
class DryRun:
    as_of_ms: int
    before_count: int
    after_count: int
    entering: int  # would enter
    exiting: int  # would exit
    entering_samples: list[str]  # up to `samples` customer ids each, the lowest dense ids
    exiting_samples: list[str]


def segment_view(segment: SavedSegment, schema: Schema, version: int | None = None) -> SegmentView:
    if version is None:
        shown = segment.current
    elif 1 <= version <= len(segment.versions):
        shown = segment.versions[version - 1]
    else:
        raise SegmentNotFoundError("version", f"segment {segment.id!r} has versions 1..{len(segment.versions)}")
    content = shown.content
    rule = content.rule_json
    # Display only: referenced segments existed when the version was made (they may be gone now).
    text = format_rule(rule_from_json(rule, schema, lambda _segment_id: True))
    return SegmentView(
        id=segment.id, version=shown.version, latest_version=segment.current.version, name=content.name,
        description=content.description, rule=rule, rule_text=text, tags=content.tags, active=content.active,
        created_at_ms=segment.created_at_ms, version_at_ms=shown.at_ms, updated_at_ms=segment.changed_at_ms,
        op=shown.op, from_version=shown.from_version, deleted=segment.deleted,
        campaigns=tuple(sorted(segment.campaigns.items())),
    )

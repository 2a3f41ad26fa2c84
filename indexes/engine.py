"""The embedded engine: one shard, in process. The public entry point of `indexes/`.

    engine = Engine(tz="Europe/Istanbul")
    engine.ingest(records)                    # raw RECORDS.md dicts; all or nothing by default
    engine.count('count(order_created, last 30 days) = 0', as_of_ms=...)
    engine.members(rule_json)
    engine.create_segment("Lapsed", "last(order_created) more_than_ago 90 days")   # saved, live
    engine.segment_members(segment_id), engine.segment_changes([segment_id], after_seq=...)

The CLI, the benchmarks and (wrapped per shard in Ray) the service all go through these calls.

Every `ingest` (and `apply_validated`) call is one committed batch: its `now_ms` (default the wall
clock) moves the shard's clock, at which saved segments are materialized, and the batch's records
are then applied with segment maintenance (indexes/segments/batch.py; docs/SAVED_SEGMENTS.md).
`advance_clock(now_ms)` lets time pass without records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap

from indexes.plan.compile import Plan, compile_rule
from indexes.plan.evaluate import SegmentResolver, evaluate
from indexes.records import RecordBatchError, RecordError, SegmentRecord, validate_batch
from indexes.rules import load_rule
from indexes.rules.model import Node
from indexes.schema import Schema
from indexes.segments import queries
from indexes.segments.api import SegmentCommands
from indexes.segments.batch import EngineStep, apply_batch, is_plain, steps_of_records
from indexes.segments.catalog import DELETE
from indexes.segments.commands import resolve_command
from indexes.segments.live import LiveSegments
from indexes.segments.templates import TEMPLATES, Template
from indexes.segments.views import ChangePage, DryRun, SegmentStats, SegmentView
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD
from indexes.shard.shard import ApplyStats, Shard

RuleInput = Node | dict | str


@dataclass
class IngestResult:
    accepted: int = 0  # records applied (events, profiles, erasures, declarations)
    duplicates: int = 0  # events whose event_id was already accepted: acknowledged, ignored
    errors: list[RecordError] = field(default_factory=list)  # rejected records (partial mode)
    # Input indexes of the duplicates, ascending. DurableEngine fills it (it drops duplicates at
    # admission, where it knows their positions); the in-memory Engine only counts them (the shard
    # finds them while applying) and leaves it empty.
    duplicate_indexes: list[int] = field(default_factory=list)


def now_ms() -> int:
    return int(time.time() * 1000)


now_ms_ = now_ms  # for methods whose `now_ms` parameter shadows the function


class Engine(SegmentCommands):
    def __init__(
        self,
        tz: str = "UTC",
        schema: Schema | None = None,
        capacity: int = MAX_CUSTOMERS_PER_SHARD,
        segment_exists: Callable[[str], bool] | None = None,
        resolver: SegmentResolver | None = None,
        segments: LiveSegments | None = None,
    ) -> None:
        self.shard = Shard(schema, tz, capacity)
        self.segments = segments if segments is not None else LiveSegments()
        # Overrides of the saved segments for `segment` rule nodes (tests of rules alone).
        self.segment_exists = segment_exists
        self.resolver = resolver

    @property
    def schema(self) -> Schema:
        return self.shard.schema

    @property
    def tz(self) -> str:
        return self.shard.calendar.name

    @property
    def clock_ms(self) -> int:
        """The shard's clock: active saved segments are exact at as_of = clock (0: never set)."""
        return self.segments.clock_ms

    # --- ingest -----------------------------------------------------------------------------
    def ingest(self, raws: Sequence[Any], *, partial: bool = False, now_ms: int | None = None) -> IngestResult:
        """Validate then apply a batch. Without `partial`, one bad record rejects the whole batch
        (RecordBatchError naming index, field and reason) and nothing is applied. `now_ms`: the
        batch's wall-clock time (default now), which moves the clock."""
        batch = validate_batch(raws, self.shard.schema, partial=partial)
        stats = self.apply_validated(batch.records, now_ms)
        return IngestResult(
            accepted=stats.events + stats.profiles + stats.erasures + stats.declarations,
            duplicates=stats.duplicates,
            errors=list(batch.errors),
        )

    def apply_validated(self, records: Sequence[Any], now_ms: int | None = None) -> ApplyStats:
        """Apply validated records as one committed batch with wall-clock time now_ms (default now)."""
        return self.apply_committed(records, now_ms_() if now_ms is None else now_ms)

    def apply_committed(self, records: Sequence[Any], wall_ms: int | None) -> ApplyStats:
        """One committed batch of validated records whose commit mark carries wall_ms (None: a mark
        of an older log, which leaves the clock alone)."""
        if not self.segments.maintains() and is_plain(records):
            stats = self.shard.apply(records)
            self.segments.observe_clock(wall_ms)
            return stats
        return apply_batch(self.shard, self.segments, steps_of_records(records), wall_ms)

    def apply_batch_steps(self, steps: list[EngineStep], wall_ms: int | None) -> ApplyStats:
        """One committed batch already in step form (replay); wall_ms from its commit mark."""
        return apply_batch(self.shard, self.segments, steps, wall_ms)

    def advance_clock(self, now_ms: int | None = None) -> bool:
        """Let time pass to now_ms (default now) without records, if that can change a materialized
        segment (a window bound or an event's time crossed); False, and nothing changes, otherwise."""
        at_ms = now_ms_() if now_ms is None else now_ms
        if not self.segments.tick_needed(self.shard, at_ms):
            return False
        self.apply_validated([], at_ms)
        return True

    def flush_buffers(self) -> None:
        """Fold ingest buffers into the read-optimised indexes (queries do it on demand)."""
        self.shard.flush_buffers()

    # --- rules ------------------------------------------------------------------------------
    def load_rule(self, rule: RuleInput) -> Node:
        """Model, JSON dict, JSON text or the text form -> validated model (RuleError on bad input).
        `segment` nodes may name saved segments that are not deleted."""
        exists = self.segment_exists if self.segment_exists is not None else self.segments.catalog.is_live
        return load_rule(rule, self.shard.schema, exists)

    def compile(self, rule: RuleInput) -> Plan:
        return compile_rule(self.load_rule(rule), self.shard.schema)

    def evaluate(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> BitMap:
        """Dense ids of the members (a bitmap over this engine's shard)."""
        plan = rule if _is_plan(rule) else self.compile(rule)  # type: ignore[arg-type]
        resolver = self.resolver if self.resolver is not None else self.segments.resolver(self.shard.schema)
        return evaluate(plan, self.shard, now_ms_() if as_of_ms is None else as_of_ms, resolver)  # type: ignore[arg-type]

    def count(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> int:
        return len(self.evaluate(rule, as_of_ms))

    def members(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> list[str]:
        """Customer ids of the members, sorted."""
        return sorted(self.shard.ids.externals(self.evaluate(rule, as_of_ms)))

    def customer_count(self) -> int:
        return len(self.shard.alive)

    # --- saved segments: commands (named forms in SegmentCommands) ----------------------------
    def resolve_segment_command(self, command: dict, ts_ms: int, schema: Schema | None = None) -> SegmentRecord:
        """Validate a command against the catalog (and `schema`, default the shard's) into the record
        to store; nothing changes. SegmentError and its kinds, or RuleError, say why not."""
        body = resolve_command(command, self.segments.catalog, self.shard.schema if schema is None else schema)
        return SegmentRecord(body, ts_ms)

    def segment_command(self, command: dict, *, now_ms: int | None = None) -> SegmentView | None:
        wall_ms = now_ms_() if now_ms is None else now_ms
        record = self.resolve_segment_command(command, wall_ms)
        self.apply_validated([record], wall_ms)
        return self.segment_after(record)

    def segment_after(self, record: SegmentRecord) -> SegmentView | None:
        """The segment a command left (None after a delete)."""
        if record.body["op"] == DELETE:
            return None
        return self.get_segment(record.body["id"])

    # --- saved segments: reads ------------------------------------------------------------------
    def get_segment(self, segment_id: str, *, version: int | None = None, include_deleted: bool = False) -> SegmentView:
        return queries.get(self.shard, self.segments, segment_id, version, include_deleted)

    def segment_versions(self, segment_id: str, *, include_deleted: bool = False) -> list[SegmentView]:
        return queries.versions(self.shard, self.segments, segment_id, include_deleted)

    def list_segments(self, *, name_contains: str | None = None, tag: str | None = None,
                      include_deleted: bool = False) -> list[SegmentView]:
        """Segments in creation order, filtered by a name substring (case-insensitive) and a tag."""
        return queries.search(self.shard, self.segments, name_contains, tag, include_deleted)

    def segment_evaluate(self, segment_id: str, as_of_ms: int | None = None) -> BitMap:
        """Dense ids of a saved segment's members: the materialized bitmap for an active segment at
        its clock (as_of None), else its rule evaluated at as_of (None: now)."""
        return queries.members(self.shard, self.segments, segment_id, as_of_ms, now_ms_)[0]

    def segment_count(self, segment_id: str, as_of_ms: int | None = None) -> int:
        return len(self.segment_evaluate(segment_id, as_of_ms))

    def segment_members(self, segment_id: str, as_of_ms: int | None = None) -> list[str]:
        """Customer ids of a saved segment's members, sorted."""
        return sorted(self.shard.ids.externals(self.segment_evaluate(segment_id, as_of_ms)))

    def segment_stats(self, segment_id: str) -> SegmentStats:
        """Count, last update time, daily sizes."""
        return queries.stats(self.shard, self.segments, segment_id, now_ms_)

    def segment_changes(self, segment_ids: Sequence[str] | None = None, *, after_seq: int | None = None,
                        customer_id: str | None = None, from_ms: int | None = None, to_ms: int | None = None,
                        limit: int = 1000, epoch: int | None = None) -> ChangePage:
        """Change-log entries after `after_seq` (None: the oldest kept) of the given segments (None: all),
        optionally of one customer and with at_ms in [from_ms, to_ms]; at most `limit`. Resume with
        the page's next_after_seq and epoch: no entry is skipped or repeated. PositionExpiredError
        when the position is older than retention kept or of another epoch."""
        ids = None if segment_ids is None else list(segment_ids)
        return queries.changes(self.shard, self.segments, ids, after_seq, customer_id, from_ms, to_ms, limit, epoch)

    def dry_run_edit(self, segment_id: str, rule: Any, *, as_of_ms: int | None = None, samples: int = 10) -> DryRun:
        """Counts before and after replacing the segment's rule, who would enter and exit; saves nothing."""
        return queries.dry_run(self.shard, self.segments, segment_id, rule, as_of_ms, samples, now_ms_)

    @staticmethod
    def segment_templates() -> list[Template]:
        return list(TEMPLATES)


def _is_plan(value: object) -> bool:
    return type(value).__module__ == "indexes.plan.compile"


__all__ = ["Engine", "IngestResult", "RecordBatchError", "now_ms"]

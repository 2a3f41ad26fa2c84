"""The embedded engine: one shard, in process. The public entry point of `indexes/`.

    engine = Engine(tz="Europe/Istanbul")
    engine.ingest(records)                    # raw RECORDS.md dicts; all or nothing by default
    engine.count('count(order_created, last 30 days) = 0', as_of_ms=...)
    engine.members(rule_json)

The CLI, the benchmarks and (wrapped per shard in Ray) the service all go through these calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap

from indexes.plan.compile import Plan, compile_rule
from indexes.plan.evaluate import SegmentResolver, evaluate
from indexes.records import RecordBatchError, RecordError, validate_batch
from indexes.rules import load_rule
from indexes.rules.model import Node
from indexes.schema import Schema
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


class Engine:
    def __init__(
        self,
        tz: str = "UTC",
        schema: Schema | None = None,
        capacity: int = MAX_CUSTOMERS_PER_SHARD,
        segment_exists: Callable[[str], bool] | None = None,
        resolver: SegmentResolver | None = None,
    ) -> None:
        self.shard = Shard(schema, tz, capacity)
        self.segment_exists = segment_exists
        self.resolver = resolver

    @property
    def schema(self) -> Schema:
        return self.shard.schema

    @property
    def tz(self) -> str:
        return self.shard.calendar.name

    # --- ingest -----------------------------------------------------------------------------
    def ingest(self, raws: Sequence[Any], *, partial: bool = False) -> IngestResult:
        """Validate then apply a batch. Without `partial`, one bad record rejects the whole batch
        (RecordBatchError naming index, field and reason) and nothing is applied."""
        batch = validate_batch(raws, self.shard.schema, partial=partial)
        stats = self.apply_validated(batch.records)
        return IngestResult(
            accepted=stats.events + stats.profiles + stats.erasures + stats.declarations,
            duplicates=stats.duplicates,
            errors=list(batch.errors),
        )

    def apply_validated(self, records: Sequence[Any]) -> ApplyStats:
        return self.shard.apply(records)

    def flush_buffers(self) -> None:
        """Fold ingest buffers into the read-optimised indexes (queries do it on demand)."""
        self.shard.flush_buffers()

    # --- rules ------------------------------------------------------------------------------
    def load_rule(self, rule: RuleInput) -> Node:
        """Model, JSON dict, JSON text or the text form -> validated model (RuleError on bad input)."""
        return load_rule(rule, self.shard.schema, self.segment_exists)

    def compile(self, rule: RuleInput) -> Plan:
        return compile_rule(self.load_rule(rule), self.shard.schema)

    def evaluate(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> BitMap:
        """Dense ids of the members (a bitmap over this engine's shard)."""
        plan = rule if _is_plan(rule) else self.compile(rule)  # type: ignore[arg-type]
        return evaluate(plan, self.shard, now_ms() if as_of_ms is None else as_of_ms, self.resolver)  # type: ignore[arg-type]

    def count(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> int:
        return len(self.evaluate(rule, as_of_ms))

    def members(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> list[str]:
        """Customer ids of the members, sorted."""
        return sorted(self.shard.ids.externals(self.evaluate(rule, as_of_ms)))

    def customer_count(self) -> int:
        return len(self.shard.alive)


def _is_plan(value: object) -> bool:
    return type(value).__module__ == "indexes.plan.compile"


__all__ = ["Engine", "IngestResult", "RecordBatchError", "now_ms"]

"""The naive reference evaluator: the definition of right.

A per-customer loop over the stored records, written from ../shared/spec/RULES.md, RECORDS.md and
docs/SEMANTICS.md. No bitmaps, no numpy, no cleverness: it is slow on purpose and obvious on purpose.
The engine is checked against it on random data and random rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from indexes.records import DeclarationRecord, ErasureRecord, EventRecord, ProfileRecord, Record
from indexes.rules.model import (
    All,
    AllTime,
    AnyOf,
    Between,
    Count,
    EventCondition,
    Last,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Since,
    Sum,
    segment_ids,
)
from indexes.schema import Schema, ValueType
from tests.reference_time import day_start, next_day, recent_lower_bound

EPOCH = dt.date(1970, 1, 1)


def canonical(value: Any) -> str:
    if isinstance(value, tuple):
        value = sorted(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Customer:
    events: list[EventRecord] = field(default_factory=list)
    properties: dict[str, tuple[int, Any]] = field(default_factory=dict)  # name -> (ts, value or None)


class ReferenceEvaluator:
    def __init__(self, tz: str = "UTC", schema: Schema | None = None) -> None:
        self.tz = tz
        self.schema = schema.copy() if schema is not None else Schema()
        self.customers: dict[str, Customer] = {}
        self.seen_event_ids: set[str] = set()

    # --- state --------------------------------------------------------------------------------
    def apply(self, records: Iterable[Record]) -> None:
        for record in records:
            if isinstance(record, EventRecord):
                if record.event_id in self.seen_event_ids:
                    continue
                self.seen_event_ids.add(record.event_id)
                self.customers.setdefault(record.customer_id, Customer()).events.append(record)
            elif isinstance(record, ProfileRecord):
                customer = self.customers.setdefault(record.customer_id, Customer())
                for name, value in record.properties.items():
                    held = customer.properties.get(name)
                    if held is None or record.ts_ms > held[0] or (
                        record.ts_ms == held[0] and canonical(value) > canonical(held[1])
                    ):
                        customer.properties[name] = (record.ts_ms, value)
            elif isinstance(record, ErasureRecord):
                self.customers.pop(record.customer_id, None)
            elif isinstance(record, DeclarationRecord):
                self.schema.apply_declaration(record.body)

    def customer_ids(self) -> set[str]:
        return set(self.customers)

    # --- evaluation ---------------------------------------------------------------------------
    def members(self, rule: Node, as_of_ms: int, segments: dict[str, set[str]] | None = None) -> set[str]:
        return {cid for cid, c in self.customers.items() if self._holds(rule, cid, c, as_of_ms, segments or {})}

    def count(self, rule: Node, as_of_ms: int, segments: dict[str, set[str]] | None = None) -> int:
        return len(self.members(rule, as_of_ms, segments))

    def saved_members(self, rules: dict[str, Node], as_of_ms: int) -> dict[str, set[str]]:
        """Members of saved segments (id -> current rule) at as_of, every `segment` node resolved by
        evaluating that segment's rule at the same as_of (RULES.md: membership of another saved
        segment). The graph has no cycles; the recursion is bounded by the number of segments."""
        resolved: dict[str, set[str]] = {}

        def resolve(segment_id: str, depth: int) -> set[str]:
            assert depth <= len(rules), "a cycle among saved segments"
            if segment_id not in resolved:
                for upstream in segment_ids(rules[segment_id]):
                    resolve(upstream, depth + 1)
                resolved[segment_id] = self.members(rules[segment_id], as_of_ms, resolved)
            return resolved[segment_id]

        for segment_id in rules:
            resolve(segment_id, 0)
        return resolved

    def _holds(self, node: Node, cid: str, customer: Customer, as_of: int, segments: dict) -> bool:
        if isinstance(node, All):
            return all(self._holds(n, cid, customer, as_of, segments) for n in node.nodes)
        if isinstance(node, AnyOf):
            return any(self._holds(n, cid, customer, as_of, segments) for n in node.nodes)
        if isinstance(node, Not):
            return not self._holds(node.node, cid, customer, as_of, segments)
        if isinstance(node, SegmentCondition):
            return cid in segments[node.segment]
        if isinstance(node, PropertyCondition):
            value_type = self.schema.property_type(node.property)
            assert value_type is not None
            value = self._property_value(customer, node.property, value_type, as_of)
            return self._condition(value_type, node.op, node.value, value, as_of)
        assert isinstance(node, EventCondition)
        return self._event(node, customer, as_of)

    def _property_value(self, customer: Customer, name: str, value_type: ValueType, as_of: int) -> Any:
        """The value in rule units (Decimal for numbers, ms instants for times), None if missing."""
        past = [e for e in customer.events if e.ts_ms <= as_of]
        orders = [e for e in past if e.type == "order_created"]
        if name == "order_count":
            return Decimal(len(orders))
        if name == "lifetime_value":
            refunds = [e for e in past if e.type == "order_refunded"]
            cents = sum(e.attrs.get("amount", 0) for e in orders) - sum(e.attrs.get("amount", 0) for e in refunds)
            return Decimal(cents).scaleb(-2)
        if name == "first_order_at":
            return min((e.ts_ms for e in orders), default=None)
        if name == "last_order_at":
            return max((e.ts_ms for e in orders), default=None)
        if name == "last_seen_at":
            return max((e.ts_ms for e in past), default=None)
        held = customer.properties.get(name)
        return None if held is None else self._rule_units(held[1], value_type)

    def _rule_units(self, stored: Any, value_type: ValueType) -> Any:
        if stored is None or stored == ():
            return None  # an empty set is "without" the property
        if value_type.kind == "number":
            return Decimal(stored).scaleb(-value_type.scale)
        if value_type.kind == "date":
            return day_start(self.tz, EPOCH + dt.timedelta(days=stored))
        return stored

    def _condition(self, value_type: ValueType, op: str, target: Any, value: Any, as_of: int) -> bool:
        """One property / attribute comparison with RULES.md's missing-value rule."""
        if value is None:
            return op in ("not_exists", "has_none")
        if op == "exists":
            return True
        if op == "not_exists":
            return False
        kind = value_type.kind
        if kind in ("timestamp", "date"):
            return self._time_op(op, target, value, as_of)
        if kind in ("set", "list"):
            items = set(value)
            if op == "has":
                return target in items
            if op == "has_any":
                return bool(items & set(target))
            if op == "has_all":
                return set(target) <= items
            assert op == "has_none"
            return not items & set(target)
        if kind == "number" and not isinstance(value, Decimal):
            value = Decimal(value).scaleb(-value_type.scale)
        return compare(op, value, target)

    def _time_op(self, op: str, target: Any, value_ms: int, as_of: int) -> bool:
        tz = self.tz
        if op == "before":
            return value_ms < day_start(tz, target)
        if op == "after":
            return value_ms >= day_start(tz, next_day(target))
        if op == "on":
            return day_start(tz, target) <= value_ms < day_start(tz, next_day(target))
        if op == "between":
            return day_start(tz, target[0]) <= value_ms < day_start(tz, next_day(target[1]))
        lower = recent_lower_bound(tz, as_of, target.unit, target.amount)
        if op == "within_last":
            return lower <= value_ms <= as_of
        assert op == "more_than_ago"
        return value_ms < lower

    def _in_window(self, node: EventCondition, ts: int, as_of: int) -> bool:
        if ts > as_of:
            return False
        window, tz = node.window, self.tz
        if isinstance(window, AllTime):
            return True
        if isinstance(window, Last):
            return ts >= recent_lower_bound(tz, as_of, window.duration.unit, window.duration.amount)
        if isinstance(window, Since):
            return ts >= day_start(tz, window.day)
        assert isinstance(window, Between)
        return day_start(tz, window.first_day) <= ts < day_start(tz, next_day(window.last_day))

    def _event(self, node: EventCondition, customer: Customer, as_of: int) -> bool:
        attributes = self.schema.events[node.event]
        matching = []
        for event in customer.events:
            if event.type != node.event or not self._in_window(node, event.ts_ms, as_of):
                continue
            if all(
                self._condition(attributes[c.attr], c.op, c.value, self._attr_value(event, c.attr), as_of)
                for c in node.where
            ):
                matching.append(event)
        measure = node.measure
        if isinstance(measure, Count):
            return compare(measure.op, len(matching), measure.value)
        if isinstance(measure, Sum):
            scale = attributes[measure.attr].scale
            total = sum(e.attrs.get(measure.attr, 0) for e in matching)
            return compare(measure.op, Decimal(total).scaleb(-scale), measure.value)
        if not matching:
            return False
        times = [e.ts_ms for e in matching]
        when = min(times) if measure.which == "first" else max(times)
        return self._time_op(measure.op, measure.value, when, as_of)

    @staticmethod
    def _attr_value(event: EventRecord, attr: str) -> Any:
        value = event.attrs.get(attr)
        return None if value == () else value


def compare(op: str, value: Any, target: Any) -> bool:
    if op == "eq":
        return value == target
    if op == "neq":
        return value != target
    if op == "gt":
        return value > target
    if op == "gte":
        return value >= target
    if op == "lt":
        return value < target
    if op == "lte":
        return value <= target
    if op == "between":
        return target[0] <= value <= target[1]
    if op == "in":
        return value in target
    if op == "not_in":
        return value not in target
    if op == "contains":
        return target in value
    if op == "starts_with":
        return value.startswith(target)
    if op == "ends_with":
        return value.endswith(target)
    raise AssertionError(f"unknown op {op}")



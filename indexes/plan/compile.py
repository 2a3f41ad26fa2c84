"""Compile a validated rule into a plan: the same tree, with values in storage units.

A plan is compiled once per query and shipped to every shard (ARCHITECTURE.md). It does not depend
on a shard (dictionary codes are looked up there) nor on `as_of` (dates and durations stay symbolic
and are bound at evaluation), so the same plan answers any shard at any time.

Storage units: numbers are fixed-point ints at the property's / attribute's scale, counts ints.
Computed properties are rewritten into the event conditions they are defined by where that is exact
(order_count, first_order_at, last_order_at); lifetime_value and last_seen_at keep their own leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from indexes.rules.model import (
    ALL_TIME,
    All,
    AnyOf,
    AttributeCondition,
    Count,
    EventCondition,
    FirstLast,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Sum,
    Window,
)
from indexes.schema import Schema, ValueType

# Cost classes, cheapest first: an AND evaluates children in this order and hands the running
# result to the next child as its universe, so expensive leaves see fewer candidates.
COST_BITMAP = 1
COST_SLICED = 2
COST_DICTIONARY_SCAN = 3
COST_ROWS = 4


@dataclass(frozen=True)
class Filter:
    """A `where` entry with its value in storage units."""

    attr: str
    kind: str  # attribute kind: string, number, bool, timestamp, list
    op: str
    value: object


@dataclass(frozen=True)
class PropertyLeaf:
    prop: str
    kind: str  # property kind
    op: str
    value: object  # scaled int / (lo, hi) / str / tuple[str] / bool / date / Duration / None


@dataclass(frozen=True)
class EventLeaf:
    event: str
    filters: tuple[Filter, ...]
    measure: str  # count, sum, first, last
    op: str
    value: object  # int or (lo, hi) for count/sum; date / Duration / (date, date) for first/last
    window: Window
    sum_attr: str | None = None


@dataclass(frozen=True)
class ComputedLeaf:
    """lifetime_value (number, defined for everyone) and last_seen_at (timestamp)."""

    prop: str
    op: str
    value: object


@dataclass(frozen=True)
class SegmentLeaf:
    segment: str


@dataclass(frozen=True)
class AndPlan:
    children: tuple[Plan, ...]


@dataclass(frozen=True)
class OrPlan:
    children: tuple[Plan, ...]


@dataclass(frozen=True)
class NotPlan:
    child: Plan


@dataclass(frozen=True)
class EveryonePlan:
    """Always true (e.g. `order_count exists`)."""


@dataclass(frozen=True)
class NobodyPlan:
    """Always false (e.g. `order_count not_exists`)."""


Plan = (
    AndPlan | OrPlan | NotPlan | PropertyLeaf | EventLeaf | ComputedLeaf | SegmentLeaf | EveryonePlan | NobodyPlan
)


def scaled(value: Decimal, scale: int) -> int:
    exact = value.scaleb(scale)
    assert exact == exact.to_integral_value(), "validated values fit the scale"
    return int(exact)


def _number_value(value: object, scale: int) -> object:
    if isinstance(value, tuple):
        return tuple(scaled(v, scale) for v in value)  # type: ignore[arg-type]
    if isinstance(value, Decimal):
        return scaled(value, scale)
    return value


def _storage_value(value_type: ValueType, value: object) -> object:
    return _number_value(value, value_type.scale) if value_type.kind == "number" else value


def compile_rule(rule: Node, schema: Schema) -> Plan:
    """Compile a validated rule (validation bounds its depth to 64, so recursion is safe)."""
    return _compile(rule, schema)


def _compile(node: Node, schema: Schema) -> Plan:
    if isinstance(node, All):
        return AndPlan(tuple(_compile(child, schema) for child in node.nodes))
    if isinstance(node, AnyOf):
        return OrPlan(tuple(_compile(child, schema) for child in node.nodes))
    if isinstance(node, Not):
        return NotPlan(_compile(node.node, schema))
    if isinstance(node, SegmentCondition):
        return SegmentLeaf(node.segment)
    if isinstance(node, EventCondition):
        return _compile_event(node, schema)
    assert isinstance(node, PropertyCondition)
    return _compile_property(node, schema)


def _compile_property(node: PropertyCondition, schema: Schema) -> Plan:
    prop, op, value = node.property, node.op, node.value
    if prop == "order_count":
        if op in ("exists", "not_exists"):
            return EveryonePlan() if op == "exists" else NobodyPlan()
        count_value = tuple(int(v) for v in value) if isinstance(value, tuple) else int(value)  # type: ignore[arg-type, call-overload]
        return EventLeaf("order_created", (), "count", op, count_value, ALL_TIME)
    if prop in ("first_order_at", "last_order_at"):
        which = "first" if prop == "first_order_at" else "last"
        if op in ("exists", "not_exists"):
            had_order = EventLeaf("order_created", (), "count", "gte", 1, ALL_TIME)
            return had_order if op == "exists" else NotPlan(had_order)
        return EventLeaf("order_created", (), which, op, value, ALL_TIME)
    if prop == "lifetime_value":
        if op in ("exists", "not_exists"):
            return EveryonePlan() if op == "exists" else NobodyPlan()
        return ComputedLeaf(prop, op, _number_value(value, 2))
    if prop == "last_seen_at":
        return ComputedLeaf(prop, op, value)
    value_type = schema.properties[prop]
    return PropertyLeaf(prop, value_type.kind, op, _storage_value(value_type, value))


def _compile_event(node: EventCondition, schema: Schema) -> EventLeaf:
    attrs = schema.events[node.event]
    filters = tuple(_compile_filter(f, attrs[f.attr]) for f in node.where)
    measure = node.measure
    if isinstance(measure, Count):
        return EventLeaf(node.event, filters, "count", measure.op, measure.value, node.window)
    if isinstance(measure, Sum):
        scale = attrs[measure.attr].scale
        return EventLeaf(
            node.event, filters, "sum", measure.op, _number_value(measure.value, scale), node.window, measure.attr
        )
    assert isinstance(measure, FirstLast)
    return EventLeaf(node.event, filters, measure.which, measure.op, measure.value, node.window)


def _compile_filter(condition: AttributeCondition, value_type: ValueType) -> Filter:
    return Filter(condition.attr, value_type.kind, condition.op, _storage_value(value_type, condition.value))


def cost_class(plan: Plan) -> int:
    if isinstance(plan, (EveryonePlan, NobodyPlan, SegmentLeaf)):
        return COST_BITMAP
    if isinstance(plan, PropertyLeaf):
        if plan.op in ("contains", "starts_with", "ends_with"):
            return COST_DICTIONARY_SCAN
        return COST_SLICED if plan.kind in ("number", "timestamp", "date") else COST_BITMAP
    if isinstance(plan, ComputedLeaf):
        return COST_SLICED
    if isinstance(plan, EventLeaf):
        if plan.filters or plan.measure in ("sum",) or plan.window != ALL_TIME:
            return COST_ROWS
        return COST_SLICED
    children = plan.children if isinstance(plan, (AndPlan, OrPlan)) else (plan.child,)  # type: ignore[union-attr]
    return max(cost_class(child) for child in children)

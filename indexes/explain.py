"""Why one customer is in or out of a rule (issue 7 item 3): every node of the rule with its truth value
and the customer's actual values (property values, counts, sums, first / last times).

    explanation = explain_customer(engine, rule, "c-42", as_of_ms)
    explanation.node.holds           # the rule's answer for c-42, equal to `c-42 in engine.members(rule)`
    render_explanation(explanation)  # an indented tree for people

Truth values come from the engine itself: each node is compiled on its own and evaluated with the
universe {this customer} (indexes/segments/evaluation.py), so an explanation can never disagree with a
count. The values shown beside them are read from the shard's stored state for this one customer: a
property's current value, or the event rows of the node's window that pass its `where` filters (the
window's rows of that type, masked to this customer: O(rows in the window), vectorised). Tests hold
each leaf's value to its truth value and to the reference evaluator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pyroaring import BitMap

from indexes.engine import Engine
from indexes.insights import lifetime_values
from indexes.plan.compile import ComputedLeaf, EventLeaf, Plan, compile_rule
from indexes.plan.evaluate import SegmentResolver
from indexes.plan.filters import filter_mask
from indexes.plan.time_bounds import window_bounds
from indexes.rules import format_rule
from indexes.rules.errors import join
from indexes.rules.model import All, AnyOf, EventCondition, Node, Not, PropertyCondition, SegmentCondition
from indexes.schema import ValueType
from indexes.segments.evaluation import evaluate_on
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.shard import AMOUNT_ATTR, ORDER_EVENT, Shard

EPOCH_DAY = dt.date(1970, 1, 1)


class UnknownCustomerError(KeyError):
    """The customer id is not on this shard (never seen, or erased)."""


@dataclass
class ExplainNode:
    path: str  # the node's path in the rule, as rule errors name it ("" = the root, "all[1].not")
    kind: str  # all, any, not, property, event, segment
    rule: str  # the node in the text form
    holds: bool  # the node's truth value for the customer at as_of
    facts: dict[str, Any] = field(default_factory=dict)  # the customer's values the node compares
    children: list[ExplainNode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "rule": self.rule, "holds": self.holds}
        if self.facts:
            out["facts"] = self.facts
        if self.children:
            out["children"] = [child.to_json() for child in self.children]
        return out


@dataclass
class Explanation:
    customer_id: str
    as_of_ms: int
    node: ExplainNode  # the root: node.holds says whether the customer is a member


def explain_customer(engine: Engine, rule: Any, customer_id: str, as_of_ms: int) -> Explanation:
    """RuleError for a bad rule, UnknownCustomerError for a customer this engine does not hold.
    A DurableEngine is explained through its state view: `with durable.read_state() as engine`."""
    model = engine.load_rule(rule)
    shard = engine.shard
    dense = shard.ids.lookup(customer_id)
    if dense is None or dense not in shard.alive:
        raise UnknownCustomerError(customer_id)
    resolver = engine.resolver if engine.resolver is not None else engine.segments.resolver(shard.schema)
    walker = _Walker(shard, resolver, dense, as_of_ms)
    return Explanation(customer_id, as_of_ms, walker.node(model, ""))


class _Walker:
    def __init__(self, shard: Shard, resolver: SegmentResolver | None, dense: int, as_of_ms: int) -> None:
        self.shard = shard
        self.resolver = resolver
        self.dense = dense
        self.universe = BitMap([dense])
        self.as_of_ms = as_of_ms
        self.zone = ZoneInfo(shard.calendar.name)

    def holds(self, node: Node) -> bool:
        plan = compile_rule(node, self.shard.schema)
        return self.dense in evaluate_on(plan, self.shard, self.as_of_ms, self.resolver, self.universe)

    def node(self, node: Node, path: str) -> ExplainNode:
        # Recursion depth is the rule's depth (at most MAX_DEPTH, checked when the rule was loaded).
        if isinstance(node, (All, AnyOf)):
            key = "all" if isinstance(node, All) else "any"
            children = [self.node(child, join(path, f"{key}[{i}]")) for i, child in enumerate(node.nodes)]
            combined = all(c.holds for c in children) if key == "all" else any(c.holds for c in children)
            return ExplainNode(path, key, format_rule(node), combined, children=children)
        if isinstance(node, Not):
            child = self.node(node.node, join(path, "not"))
            return ExplainNode(path, "not", format_rule(node), not child.holds, children=[child])
        holds = self.holds(node)
        if isinstance(node, SegmentCondition):
            return ExplainNode(path, "segment", format_rule(node), holds, {"segment": node.segment})
        plan = compile_rule(node, self.shard.schema)
        if isinstance(node, PropertyCondition):
            facts = self.property_facts(node, plan)
        else:
            assert isinstance(node, EventCondition)
            facts = self.event_facts(plan)
        return ExplainNode(path, "property" if isinstance(node, PropertyCondition) else "event",
                           format_rule(node), holds, facts)

    # --- values --------------------------------------------------------------------------------
    def property_facts(self, node: PropertyCondition, plan: Plan) -> dict[str, Any]:
        if isinstance(plan, EventLeaf):  # order_count, first_order_at, last_order_at are event measures
            return {"property": node.property, **self.event_facts(plan)}
        if isinstance(plan, ComputedLeaf):
            return {"property": node.property, "value": self.computed_value(plan.prop)}
        column = self.shard.column(node.property)
        value_type = self.shard.schema.property_type(node.property)
        stored = column.current(self.dense) if column is not None else None
        shown = None if stored is None or value_type is None else self.shown(stored, value_type)
        return {"property": node.property, "value": shown}

    def computed_value(self, prop: str) -> str | None:
        if prop == "lifetime_value":
            total = int(lifetime_values(self.shard, self.as_of_ms)[self.dense])  # the one definition
            value_type = self.shard.schema.attribute_type(ORDER_EVENT, AMOUNT_ATTR)
            assert value_type is not None
            return self.shown(total, value_type)
        assert prop == "last_seen_at", prop
        latest = [int(rows.ts.max()) for event in self.shard.events
                  if (rows := self.rows_of(event, None, self.as_of_ms, (), ())) is not None and len(rows.ts)]
        return self.instant(max(latest)) if latest else None

    def event_facts(self, plan: Plan) -> dict[str, Any]:
        if not isinstance(plan, EventLeaf):  # compiled to always/never true (e.g. count >= 0)
            return {}
        start, end = window_bounds(self.shard.calendar, self.as_of_ms, plan.window)
        attrs = tuple(sorted({f.attr for f in plan.filters} | ({plan.sum_attr} if plan.sum_attr else set())))
        rows = self.rows_of(plan.event, start, end, attrs, plan.filters)
        facts: dict[str, Any] = {
            "event": plan.event, "measure": plan.measure,
            "window_from": None if start is None else self.instant(start), "window_to": self.instant(end),
            "matching_events": 0 if rows is None else len(rows.ts),
        }
        if plan.measure == "count":
            facts["value"] = facts["matching_events"]
        elif plan.measure == "sum":
            assert plan.sum_attr is not None
            value_type = self.shard.schema.attribute_type(plan.event, plan.sum_attr)
            assert value_type is not None
            facts["value"] = self.shown(_sum(rows, plan.sum_attr), value_type)
        else:
            found = rows is not None and len(rows.ts) > 0
            extreme = None if not found else (int(rows.ts.min()) if plan.measure == "first" else int(rows.ts.max()))
            facts["value"] = None if extreme is None else self.instant(extreme)
        return facts

    def rows_of(self, event: str, start: int | None, end: int, attrs: tuple[str, ...], filters: tuple) -> Any:
        """This customer's rows of `event` with start <= ts <= end passing `filters` (None: no such type)."""
        index = self.shard.event_index(event)
        if index is None:
            return None
        rows = index.store.window(start, end, attrs)
        mask = rows.customers == self.dense
        for flt in filters:
            if not mask.any():
                break
            mask &= filter_mask(rows, flt, index.store.dictionaries.get(flt.attr), self.shard.calendar, self.as_of_ms)
        return rows.filtered(mask)

    # --- display -------------------------------------------------------------------------------
    def instant(self, t_ms: int) -> str:
        return dt.datetime.fromtimestamp(t_ms / 1000, tz=self.zone).isoformat(timespec="milliseconds")

    def shown(self, stored: Any, value_type: ValueType) -> Any:
        """A stored value as the records wrote it: numbers as decimal text, times in the workspace zone."""
        kind = value_type.kind
        if kind == "number":
            return str(Decimal(int(stored)).scaleb(-value_type.scale))
        if kind == "timestamp":
            return self.instant(int(stored))
        if kind == "date":
            return (EPOCH_DAY + dt.timedelta(days=int(stored))).isoformat()
        if kind in ("set", "list"):
            return sorted(stored)
        return stored


def _sum(rows: Any, attr: str) -> int:
    if rows is None or not len(rows.ts):
        return 0
    values = np.asarray(rows.columns[attr], dtype=np.int64)
    return int(np.where(values == MISSING_NUMBER, 0, values).sum())


def render_explanation(explanation: Explanation) -> str:
    """An indented tree: one line per node, its answer first, the customer's values after it."""
    lines = [f"{explanation.customer_id}: {'IN' if explanation.node.holds else 'OUT'} "
             f"(as of {dt.datetime.fromtimestamp(explanation.as_of_ms / 1000, tz=dt.UTC).isoformat()})"]
    _render(explanation.node, 0, lines)
    return "\n".join(lines)


def _render(node: ExplainNode, depth: int, lines: list[str]) -> None:
    mark = "yes" if node.holds else "no "
    text = node.kind if node.kind in ("all", "any", "not") else node.rule.replace("\n", " ")
    line = f"{'  ' * depth}[{mark}] {text}"
    if node.facts:
        line += "    <- " + _facts_text(node.facts)
    lines.append(line)
    for child in node.children:
        _render(child, depth + 1, lines)


def _facts_text(facts: dict[str, Any]) -> str:
    if "segment" in facts:
        return f"segment {facts['segment']}"
    value = facts.get("value")
    shown = "not set" if value is None and "measure" not in facts else ("none" if value is None else str(value))
    if "measure" not in facts:
        return f"{facts['property']} = {shown}"
    window = f"{facts['window_from'] or 'all time'} .. {facts['window_to']}"
    label = facts.get("property", facts["measure"])  # order_count & co. are event measures underneath
    return f"{label} = {shown} ({facts['matching_events']} matching {facts['event']} events, {window})"


__all__ = ["ExplainNode", "Explanation", "UnknownCustomerError", "explain_customer", "render_explanation"]

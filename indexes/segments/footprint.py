"""What a compiled rule reads: its dependency footprint.

Two questions decide incremental maintenance (docs/SAVED_SEGMENTS.md):
  * data: which records can change a customer's answer? Accepted events of `event_types` (every
    type when `every_event_type`: last_seen_at), profile writes of `properties`; and, for every rule,
    the customer coming into existence or being erased.
  * time: with the data unchanged, which customers can change answer when the clock moves from t0 to
    t1? Each `TimeTerm` names a set of customers, computed by indexes/segments/time_candidates.py, whose
    union is a superset of them.
Both are per customer: a rule's answer for one customer never depends on another customer's data.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexes.plan.compile import (
    AndPlan,
    ComputedLeaf,
    EventLeaf,
    EveryonePlan,
    NobodyPlan,
    NotPlan,
    OrPlan,
    Plan,
    PropertyLeaf,
    SegmentLeaf,
)
from indexes.rules.model import Duration, Last
from indexes.shard.shard import ORDER_EVENT, REFUND_EVENT

DUE = "due"  # events with t0 < ts <= t1: they enter every window (events after as_of count nowhere)
EVENT_LOWER = "event_lower"  # events with lb(t0) <= ts < lb(t1): leave a `last N` window, cross a first/last threshold
PROPERTY = "property"  # timestamp / date values crossing a within_last / more_than_ago bound
EVENT_ATTR = "event_attr"  # timestamp attribute values in `where` crossing such a bound (a scan of the type's rows)
RELATIVE_OPS = ("within_last", "more_than_ago")


@dataclass(frozen=True)
class TimeTerm:
    kind: str  # DUE, EVENT_LOWER, PROPERTY, EVENT_ATTR
    event: str | None = None  # event type; None with DUE / EVENT_LOWER: every type
    name: str | None = None  # the property (PROPERTY) or attribute (EVENT_ATTR)
    duration: Duration | None = None  # the moving lower bound `lb(t)` (within_last / last N), if any
    upper: bool = False  # values in (t0, t1] matter too: within_last's "not after as_of"
    date: bool = False  # a date property: values are day numbers


@dataclass(frozen=True)
class Footprint:
    event_types: frozenset[str] = frozenset()
    every_event_type: bool = False
    properties: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()  # saved segments named directly
    time: frozenset[TimeTerm] = frozenset()

    def merged(self, other: Footprint) -> Footprint:
        return Footprint(
            self.event_types | other.event_types,
            self.every_event_type or other.every_event_type,
            self.properties | other.properties,
            self.segments | other.segments,
            self.time | other.time,
        )


def footprint(plan: Plan) -> Footprint:
    events: set[str] = set()
    properties: set[str] = set()
    segments: set[str] = set()
    time: set[TimeTerm] = set()
    every = False
    stack: list[Plan] = [plan]
    steps = 0
    while stack:  # bounded by the plan's nodes (rules have at most 1000)
        steps += 1
        assert steps <= 100_000, "plan walk does not end"
        node = stack.pop()
        if isinstance(node, (AndPlan, OrPlan)):
            stack.extend(node.children)
        elif isinstance(node, NotPlan):
            stack.append(node.child)
        elif isinstance(node, SegmentLeaf):
            segments.add(node.segment)
        elif isinstance(node, PropertyLeaf):
            properties.add(node.prop)
            if node.kind in ("timestamp", "date") and node.op in RELATIVE_OPS:
                assert isinstance(node.value, Duration)
                time.add(TimeTerm(PROPERTY, None, node.prop, node.value, node.op == "within_last", node.kind == "date"))
        elif isinstance(node, ComputedLeaf):
            if node.prop == "lifetime_value":
                events.update((ORDER_EVENT, REFUND_EVENT))
                time.update((TimeTerm(DUE, ORDER_EVENT), TimeTerm(DUE, REFUND_EVENT)))
            else:
                assert node.prop == "last_seen_at", node.prop
                every = True
                time.add(TimeTerm(DUE, None))
                if node.op in RELATIVE_OPS:
                    assert isinstance(node.value, Duration)
                    time.add(TimeTerm(EVENT_LOWER, None, None, node.value))
        elif isinstance(node, EventLeaf):
            events.add(node.event)
            time.update(_event_terms(node))
        else:
            assert isinstance(node, (EveryonePlan, NobodyPlan)), type(node).__name__
    return Footprint(frozenset(events), every, frozenset(properties), frozenset(segments), frozenset(time))


def _event_terms(leaf: EventLeaf) -> list[TimeTerm]:
    terms = [TimeTerm(DUE, leaf.event)]
    if isinstance(leaf.window, Last):
        terms.append(TimeTerm(EVENT_LOWER, leaf.event, None, leaf.window.duration))
    if leaf.measure in ("first", "last") and leaf.op in RELATIVE_OPS:
        assert isinstance(leaf.value, Duration)
        terms.append(TimeTerm(EVENT_LOWER, leaf.event, None, leaf.value))
    for flt in leaf.filters:
        if flt.kind == "timestamp" and flt.op in RELATIVE_OPS:
            assert isinstance(flt.value, Duration)
            terms.append(TimeTerm(EVENT_ATTR, leaf.event, flt.attr, flt.value, flt.op == "within_last"))
    return terms

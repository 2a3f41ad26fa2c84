"""Hypothesis strategy for valid rules of every node kind, with values from tests' data pools."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import strategies as st

from indexes.rules.model import (
    ALL_TIME,
    COUNT_OPS,
    FIRST_LAST_OPS,
    All,
    AnyOf,
    AttributeCondition,
    Between,
    Count,
    Duration,
    EventCondition,
    FirstLast,
    Last,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Since,
    Sum,
)
from indexes.schema import Schema, ValueType
from tests.strategies_records import EVENT_ATTRS, VALUE_POOLS, WEIGHTED_TYPES

BASE_DAY = dt.date(2026, 11, 1)
NUMBERS = [Decimal(v) for v in ("0", "0.01", "5.5", "10", "25.5", "99.5", "100", "1000", "-5", "35.5")]


def days(max_days: int = 10) -> st.SearchStrategy[dt.date]:
    return st.integers(-max_days, max_days).map(lambda d: BASE_DAY + dt.timedelta(days=d))


def durations() -> st.SearchStrategy[Duration]:
    return st.one_of(
        st.builds(Duration, st.just("days"), st.sampled_from([1, 2, 3, 4, 6, 7, 30, 3660])),
        st.builds(Duration, st.just("hours"), st.sampled_from([1, 2, 5, 24, 49, 100, 300])),
    )


def day_pairs() -> st.SearchStrategy[tuple[dt.date, dt.date]]:
    return st.tuples(days(), days()).map(lambda p: (min(p), max(p)))


def time_condition() -> st.SearchStrategy[tuple[str, object]]:
    return st.one_of(
        st.tuples(st.sampled_from(["before", "after", "on"]), days()),
        st.tuples(st.just("between"), day_pairs()),
        st.tuples(st.sampled_from(["within_last", "more_than_ago"]), durations()),
    )


def number_condition(scale: int) -> st.SearchStrategy[tuple[str, object]]:
    pool = [n for n in NUMBERS if n == n.quantize(Decimal(1).scaleb(-scale))]
    pairs = st.tuples(st.sampled_from(pool), st.sampled_from(pool)).map(lambda p: (min(p), max(p)))
    return st.one_of(
        st.tuples(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]), st.sampled_from(pool)),
        st.tuples(st.just("between"), pairs),
    )


def _strings(pool: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from([*pool, "zz", ""])


def condition(value_type: ValueType, pool: list[str]) -> st.SearchStrategy[tuple[str, object]]:
    kind = value_type.kind
    presence = st.tuples(st.sampled_from(["exists", "not_exists"]), st.none())
    if kind in ("timestamp", "date"):
        return st.one_of(time_condition(), presence)
    if kind == "number":
        return st.one_of(number_condition(value_type.scale), presence)
    if kind == "bool":
        return st.one_of(st.tuples(st.just("eq"), st.booleans()), presence)
    if kind in ("set", "list"):
        values = st.lists(_strings(pool), min_size=1, max_size=3).map(tuple)
        return st.one_of(
            st.tuples(st.just("has"), _strings(pool)),
            st.tuples(st.sampled_from(["has_any", "has_all", "has_none"]), values),
            presence,
        )
    if kind == "enum":
        pool = list(value_type.enum_values)
        values = st.lists(st.sampled_from(pool), min_size=1, max_size=2).map(tuple)
        text = st.sampled_from(pool)
    else:
        values = st.lists(_strings(pool), min_size=1, max_size=3).map(tuple)
        text = _strings(pool)
    fragments = [v[i:j] for v in pool for i, j in ((0, 2), (1, 4), (-4, None))] or ["a"]
    return st.one_of(
        st.tuples(st.sampled_from(["eq", "neq"]), text),
        st.tuples(st.sampled_from(["in", "not_in"]), values),
        st.tuples(st.sampled_from(["contains", "starts_with", "ends_with"]), st.sampled_from(fragments)),
        presence,
    )


PROPERTIES = [
    "country", "language", "email", "tags", "customer_groups", "total_order_value", "marketing_consent",
    "account_status", "consent_updated_at", "birth_date", "b2b_status", "city",
    "order_count", "lifetime_value", "first_order_at", "last_order_at", "last_seen_at",
]


@st.composite
def property_conditions(draw: st.DrawFn, schema: Schema) -> PropertyCondition:
    name = draw(st.sampled_from(PROPERTIES))
    value_type = schema.property_type(name)
    assert value_type is not None
    pool = [str(v).lower() if name == "email" else str(v) for v in VALUE_POOLS.get(name, [])]
    op, value = draw(condition(value_type, pool))
    return PropertyCondition(name, op, value)


def windows() -> st.SearchStrategy[object]:
    return st.one_of(
        st.just(ALL_TIME),
        st.builds(Last, durations()),
        st.builds(Since, days()),
        st.builds(lambda p: Between(*p), day_pairs()),
    )


@st.composite
def event_conditions(draw: st.DrawFn, schema: Schema) -> EventCondition:
    event = draw(st.sampled_from(WEIGHTED_TYPES))
    attrs = schema.events[event]
    where = []
    for attr in draw(st.lists(st.sampled_from(EVENT_ATTRS[event]), max_size=draw(st.sampled_from([0, 0, 1, 1, 2])))):
        pool = [str(v) for v in VALUE_POOLS.get(f"event:{attr}", [])]
        op, value = draw(condition(attrs[attr], pool))
        where.append(AttributeCondition(attr, op, value))
    numbers = [a for a in EVENT_ATTRS[event] if attrs[a].kind == "number"]
    kinds = ["count", "count", "first", "last"] + (["sum"] if numbers else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "count":
        op = draw(st.sampled_from(COUNT_OPS))
        if op == "between":
            value = tuple(sorted(draw(st.tuples(st.integers(0, 4), st.integers(0, 4)))))
        else:
            value = draw(st.integers(0, 4))
        measure = Count(op, value)
    elif kind == "sum":
        attr = draw(st.sampled_from(numbers))
        op, value = draw(number_condition(attrs[attr].scale))
        measure = Sum(attr, op, value)
    else:
        op, value = draw(time_condition())
        assert op in FIRST_LAST_OPS
        measure = FirstLast(kind, op, value)
    return EventCondition(event, tuple(where), measure, draw(windows()))


def rules(schema: Schema, *, max_leaves: int = 6, allow_segments: bool = False) -> st.SearchStrategy[Node]:
    leaves: list[st.SearchStrategy[Node]] = [property_conditions(schema), event_conditions(schema)]
    if allow_segments:
        leaves.append(st.builds(SegmentCondition, st.sampled_from(["seg_a", "seg_b"])))
    leaf = st.one_of(*leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: All(tuple(xs))),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: AnyOf(tuple(xs))),
            inner.map(Not),
        ),
        max_leaves=max_leaves,
    )

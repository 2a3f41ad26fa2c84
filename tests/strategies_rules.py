"""Hypothesis strategies for VALID rules of every node kind (RULES.md + docs/SEMANTICS.md).

`rules(schema, ...)` covers every op of every type the schema has, every measure, every window,
`where` filters on every attribute type (list attributes included) and nesting with `not`.
Differential tests pass value pools so that generated values hit their data:

    rules(schema, string_values={"country": ["TR", "DE"], "event:product_viewed.category": ["shoes"],
                                 "event:device": ["mobile"]}, days=(date(2026, 10, 1), date(2026, 11, 30)))

Pool keys: a property name, `event:EVENT.ATTR`, or `event:ATTR` (that attribute of any event).
Without `string_values` the pools of tests/strategies_records.py are used, so rules hit the records
that module generates. Odd strings (quotes, backslashes, newlines, unicode) are mixed in either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from hypothesis import strategies as st

from indexes.rules.model import (
    ALL_TIME,
    COUNT_OPS,
    MAX_WINDOW_DAYS,
    MAX_WINDOW_HOURS,
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
    Window,
)
from indexes.schema import COMPUTED_PROPERTIES, LOWERCASED_PROPERTIES, Schema, ValueType
from tests.strategies_records import VALUE_POOLS, WEIGHTED_TYPES

BASE_DAY = dt.date(2026, 11, 1)
DEFAULT_DAYS = (BASE_DAY - dt.timedelta(days=10), BASE_DAY + dt.timedelta(days=10))
NUMBERS = [Decimal(v) for v in ("0", "0.01", "5.5", "10", "25.5", "99.5", "100", "1000", "-5", "35.5", "-0.5")]
ODD_STRINGS = ["", 'say "hi"', "back\\slash", "two\nlines", "tab\there", "çğüş İstanbul", "日本", "😀", "# not a comment", "and"]
DEFAULT_STRING_VALUES: dict[str, list[str]] = {
    key: [str(v) for v in pool] for key, pool in VALUE_POOLS.items() if all(isinstance(v, str) for v in pool)
}


def _decimals(pool: list) -> list[Decimal] | None:
    """A pool of JSON numbers / decimal strings as Decimals; None when it holds anything else."""
    try:
        return [Decimal(str(v)) for v in pool if not isinstance(v, bool)] if pool else None
    except ArithmeticError:
        return None


DEFAULT_NUMBER_VALUES: dict[str, list[Decimal]] = {
    key: numbers
    for key, pool in VALUE_POOLS.items()
    if not all(isinstance(v, str) for v in pool) and (numbers := _decimals(pool)) is not None
}
PRESENCE = st.tuples(st.sampled_from(["exists", "not_exists"]), st.none())


def dates(days: tuple[dt.date, dt.date]) -> st.SearchStrategy[dt.date]:
    return st.dates(min_value=days[0], max_value=days[1])


def date_pairs(days: tuple[dt.date, dt.date]) -> st.SearchStrategy[tuple[dt.date, dt.date]]:
    return st.tuples(dates(days), dates(days)).map(lambda p: (min(p), max(p)))


def durations() -> st.SearchStrategy[Duration]:
    """Mostly short (so windows split the data), sometimes anywhere up to the limits."""
    return st.one_of(
        st.builds(Duration, st.just("days"), st.sampled_from([1, 2, 3, 4, 6, 7, 30, MAX_WINDOW_DAYS])),
        st.builds(Duration, st.just("hours"), st.sampled_from([1, 2, 5, 24, 49, 100, 300, MAX_WINDOW_HOURS])),
        st.builds(Duration, st.just("days"), st.integers(1, MAX_WINDOW_DAYS)),
        st.builds(Duration, st.just("hours"), st.integers(1, MAX_WINDOW_HOURS)),
    )


def time_conditions(days: tuple[dt.date, dt.date]) -> st.SearchStrategy[tuple[str, object]]:
    """(op, value) for the time ops without presence: what first/last measures take."""
    return st.one_of(
        st.tuples(st.sampled_from(["before", "after", "on"]), dates(days)),
        st.tuples(st.just("between"), date_pairs(days)),
        st.tuples(st.sampled_from(["within_last", "more_than_ago"]), durations()),
    )


def numbers(scale: int, pool: Sequence[Decimal] = ()) -> st.SearchStrategy[Decimal]:
    quantum = Decimal(1).scaleb(-scale)
    fitting = sorted({n for n in [*NUMBERS, *pool] if n == n.quantize(quantum)})
    return st.one_of(
        st.sampled_from(fitting),
        st.sampled_from(fitting),
        st.decimals(min_value=-(10**6), max_value=10**6, places=scale, allow_nan=False, allow_infinity=False),
    )


def number_conditions(scale: int, pool: Sequence[Decimal] = ()) -> st.SearchStrategy[tuple[str, object]]:
    """(op, value) for the comparisons of numbers (also a sum measure's)."""
    values = numbers(scale, pool)
    return st.one_of(
        st.tuples(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]), values),
        st.tuples(st.just("between"), st.tuples(values, values).map(lambda p: (min(p), max(p)))),
    )


def strings(pool: Sequence[str]) -> st.SearchStrategy[str]:
    """Mostly pool values (to hit data), sometimes odd ones (to stress quoting)."""
    odd = st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=6))
    if not pool:
        return odd
    return st.one_of(st.sampled_from(list(pool)), st.sampled_from(list(pool)), st.sampled_from(list(pool)), odd)


def _fragments(pool: Sequence[str]) -> list[str]:
    found = {v[i:j] for v in pool for i, j in ((0, 2), (1, 4), (-4, None), (0, None))}
    return sorted(found) or ["a"]


def conditions(value_type: ValueType, pool: Sequence[str], days: tuple[dt.date, dt.date],
               number_pool: Sequence[Decimal] = ()) -> st.SearchStrategy[tuple[str, object]]:
    """(op, value) for a property or attribute of this type: every op the type allows."""
    kind = value_type.kind
    if kind in ("timestamp", "date"):
        return st.one_of(time_conditions(days), PRESENCE)
    if kind == "number":
        return st.one_of(number_conditions(value_type.scale, number_pool), PRESENCE)
    if kind == "bool":
        return st.one_of(st.tuples(st.just("eq"), st.booleans()), PRESENCE)
    if kind in ("set", "list"):
        values = st.lists(strings(pool), min_size=1, max_size=3).map(tuple)
        return st.one_of(
            st.tuples(st.just("has"), strings(pool)),
            st.tuples(st.sampled_from(["has_any", "has_all", "has_none"]), values),
            PRESENCE,
        )
    if kind == "enum":
        whole = st.sampled_from(list(value_type.enum_values))
        fragment_pool = list(value_type.enum_values)
    else:
        whole = strings(pool)
        fragment_pool = list(pool)
    fragments = st.one_of(st.sampled_from(_fragments(fragment_pool)), strings(()))
    return st.one_of(
        st.tuples(st.sampled_from(["eq", "neq"]), whole),
        st.tuples(st.sampled_from(["in", "not_in"]), st.lists(whole, min_size=1, max_size=3).map(tuple)),
        st.tuples(st.sampled_from(["contains", "starts_with", "ends_with"]), fragments),
        PRESENCE,
    )


def windows(days: tuple[dt.date, dt.date] = DEFAULT_DAYS) -> st.SearchStrategy[Window]:
    return st.one_of(
        st.just(ALL_TIME),
        st.builds(Last, durations()),
        st.builds(Since, dates(days)),
        date_pairs(days).map(lambda p: Between(*p)),
    )


def _prefer(preferred: Sequence[str], every: Sequence[str]) -> st.SearchStrategy[str]:
    """Half the time a name the pools know about (so values hit data), else any name at all."""
    if not preferred:
        return st.sampled_from(list(every))
    return st.one_of(st.sampled_from(list(preferred)), st.sampled_from(list(every)))


class _Pools:
    def __init__(self, string_values: dict[str, list[str]], number_values: dict[str, list[Decimal]]) -> None:
        self.strings = string_values
        self.numbers = number_values

    def property_strings(self, name: str) -> list[str]:
        pool = self.strings.get(name, [])
        return [v.lower() for v in pool] if name in LOWERCASED_PROPERTIES else list(pool)

    def attr_strings(self, event: str, attr: str) -> list[str]:
        return self.strings.get(f"event:{event}.{attr}") or self.strings.get(f"event:{attr}", [])

    def attr_numbers(self, event: str, attr: str) -> list[Decimal]:
        return self.numbers.get(f"event:{event}.{attr}") or self.numbers.get(f"event:{attr}", [])

    def knows_attr(self, event: str, attr: str) -> bool:
        return bool(self.attr_strings(event, attr) or self.attr_numbers(event, attr))


def property_conditions(schema: Schema, pools: _Pools, days: tuple[dt.date, dt.date]) -> st.SearchStrategy[Node]:
    names = sorted({*schema.properties, *COMPUTED_PROPERTIES})
    preferred = [n for n in names if n in pools.strings or n in pools.numbers or n in COMPUTED_PROPERTIES]

    @st.composite
    def build(draw: st.DrawFn) -> Node:
        name = draw(_prefer(preferred, names))
        value_type = schema.property_type(name)
        assert value_type is not None
        number_pool = pools.numbers.get(name, [])
        op, value = draw(conditions(value_type, pools.property_strings(name), days, number_pool))
        return PropertyCondition(name, op, value)

    return build()


def event_conditions(schema: Schema, pools: _Pools, days: tuple[dt.date, dt.date],
                     events: Sequence[str] | None) -> st.SearchStrategy[Node]:
    every = sorted(schema.events)
    preferred = list(events) if events is not None else [
        e for e in every if any(pools.knows_attr(e, a) for a in schema.events[e])
    ]

    @st.composite
    def build(draw: st.DrawFn) -> Node:
        event = draw(_prefer(preferred, every))
        attrs = schema.events[event]
        names = sorted(attrs)
        where = []
        if names:
            known = [a for a in names if pools.knows_attr(event, a)]
            for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
                attr = draw(_prefer(known, names))
                pair = conditions(attrs[attr], pools.attr_strings(event, attr), days, pools.attr_numbers(event, attr))
                op, value = draw(pair)
                where.append(AttributeCondition(attr, op, value))
        number_attrs = [a for a in names if attrs[a].kind == "number"]
        kind = draw(st.sampled_from(["count", "count", "first", "last"] + (["sum"] if number_attrs else [])))
        if kind == "count":
            op = draw(st.sampled_from(COUNT_OPS))
            counts = st.one_of(st.integers(0, 4), st.integers(0, 4), st.integers(0, 10**6))
            value = tuple(sorted(draw(st.tuples(counts, counts)))) if op == "between" else draw(counts)
            measure: Count | Sum | FirstLast = Count(op, value)
        elif kind == "sum":
            attr = draw(st.sampled_from(number_attrs))
            op, value = draw(number_conditions(attrs[attr].scale, pools.attr_numbers(event, attr)))
            measure = Sum(attr, op, value)  # type: ignore[arg-type]
        else:
            op, value = draw(time_conditions(days))
            measure = FirstLast(kind, op, value)  # type: ignore[arg-type]
        return EventCondition(event, tuple(where), measure, draw(windows(days)))

    return build()


def rules(
    schema: Schema,
    *,
    max_leaves: int = 8,
    string_values: dict[str, list[str]] | None = None,
    allow_segments: bool = False,
    days: tuple[dt.date, dt.date] = DEFAULT_DAYS,
    number_values: dict[str, list[Decimal]] | None = None,
    events: Sequence[str] | None = None,
    segment_ids: Sequence[str] = ("seg_a", "seg_b"),
) -> st.SearchStrategy[Node]:
    """Random valid rules over `schema` (validate with segment_exists accepting `segment_ids`).

    days: the range dates (and window bounds) are drawn from. events: event types to favour
    (repeat one to weight it); by default those with pooled attributes.
    """
    if string_values is None:
        string_values = DEFAULT_STRING_VALUES
        number_values = DEFAULT_NUMBER_VALUES if number_values is None else number_values
        events = WEIGHTED_TYPES if events is None else events
    pools = _Pools(string_values, number_values or {})
    leaves: list[st.SearchStrategy[Node]] = [
        property_conditions(schema, pools, days),
        event_conditions(schema, pools, days, events),
    ]
    if allow_segments:
        leaves.append(st.builds(SegmentCondition, st.sampled_from(list(segment_ids))))
    return st.recursive(
        st.one_of(*leaves),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: All(tuple(xs))),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: AnyOf(tuple(xs))),
            inner.map(Not),
        ),
        max_leaves=max_leaves,
    )


def extended_schema() -> Schema:
    """The catalog plus the types it lacks (bool, timestamp attributes, other scales, odd enums)."""
    schema = Schema()
    for body in (
        {"property": "newsletter", "type": "bool"},
        {"property": "score", "type": "number", "scale": 0},
        {"property": "ratio", "type": "number", "scale": 4},
        {"property": "anniversary", "type": "date"},
        {"property": "mood", "type": "enum", "values": ['say "hi"', "back\\slash", "çok iyi", "two\nlines"]},
        {"event": "app_opened", "attributes": {"first_time": "bool", "opened_at": "timestamp",
                                               "screens": "list", "load_ms": {"type": "number", "scale": 0}}},
        {"event": "ping", "attributes": {}},
    ):
        schema.apply_declaration(body)
    return schema

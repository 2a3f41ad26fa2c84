"""One validator for every rule, whichever form it came in: checks a model against a schema.

Paths are those of the JSON form (RULES.md "Errors"), so a rule typed as text reports the same
path as its JSON twin. The size limits are checked first and iteratively, so a pathological rule
is refused before anything recurses over it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from indexes.rules.errors import RuleError, join
from indexes.rules.model import (
    BOOL_OPS,
    COUNT_OPS,
    FIRST_LAST_OPS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_WINDOW_DAYS,
    MAX_WINDOW_HOURS,
    NUMBER_OPS,
    SET_OPS,
    STRING_OPS,
    TIME_OPS,
    All,
    AllTime,
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
    children,
)
from indexes.schema import Schema, ValueType

SegmentExists = Callable[[str], bool]

OPS_BY_KIND = {
    "string": STRING_OPS,
    "enum": STRING_OPS,
    "number": NUMBER_OPS,
    "bool": BOOL_OPS,
    "timestamp": TIME_OPS,
    "date": TIME_OPS,
    "set": SET_OPS,
    "list": SET_OPS,
}
LIST_OPS = ("in", "not_in", "has_any", "has_all", "has_none")
STRING_VALUE_OPS = ("eq", "neq", "contains", "starts_with", "ends_with", "has")


def check_limits(rule: Node) -> None:
    """At most MAX_DEPTH levels and MAX_NODES nodes, counted without recursion."""
    stack: list[tuple[Node, int]] = [(rule, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise RuleError("", f"more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise RuleError("", f"nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children(node))


def validate_rule(rule: Node, schema: Schema, segment_exists: SegmentExists | None = None) -> None:
    check_limits(rule)
    _Validator(schema, segment_exists).node(rule, "")


def check_duration(value: object, path: str) -> None:
    if not isinstance(value, Duration) or value.unit not in ("days", "hours"):
        raise RuleError(path, 'must be {"days": N} or {"hours": N}')
    limit = MAX_WINDOW_DAYS if value.unit == "days" else MAX_WINDOW_HOURS
    if isinstance(value.amount, bool) or not isinstance(value.amount, int) or not 1 <= value.amount <= limit:
        raise RuleError(join(path, value.unit), f"must be a whole number of {value.unit} from 1 to {limit}")


def _check_date_pair(value: object, path: str) -> None:
    if not (isinstance(value, tuple) and len(value) == 2 and all(_is_date(v) for v in value)):
        raise RuleError(path, "must be two dates [YYYY-MM-DD, YYYY-MM-DD]")
    if value[0] > value[1]:
        raise RuleError(path, "the first date is after the second")


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _check_number(value: object, path: str, scale: int) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RuleError(path, "must be a number")
    if value.scaleb(scale) != value.scaleb(scale).to_integral_value():
        raise RuleError(path, f"more fractional digits than the scale {scale}")
    if abs(value.scaleb(scale)) > 2**63 - 1:
        raise RuleError(path, "number too large")


def check_time_value(op: str, value: object, path: str) -> None:
    if op in ("before", "after", "on"):
        if not _is_date(value):
            raise RuleError(path, "must be a date YYYY-MM-DD")
    elif op == "between":
        _check_date_pair(value, path)
    elif op in ("within_last", "more_than_ago"):
        check_duration(value, path)


class _Validator:
    def __init__(self, schema: Schema, segment_exists: SegmentExists | None) -> None:
        self.schema = schema
        self.segment_exists = segment_exists

    def node(self, node: Node, path: str) -> None:
        if isinstance(node, (All, AnyOf)):
            key = "all" if isinstance(node, All) else "any"
            if not node.nodes:
                raise RuleError(join(path, key), "a group needs at least one condition")
            for i, child in enumerate(node.nodes):
                self.node(child, join(path, f"{key}[{i}]"))
        elif isinstance(node, Not):
            self.node(node.node, join(path, "not"))
        elif isinstance(node, PropertyCondition):
            value_type = self.schema.property_type(node.property)
            if value_type is None:
                raise RuleError(join(path, "property"), f"unknown property {node.property!r}")
            self.condition(value_type, node.op, node.value, path, f"property {node.property}")
        elif isinstance(node, EventCondition):
            self.event(node, path)
        elif isinstance(node, SegmentCondition):
            if not isinstance(node.segment, str) or not node.segment:
                raise RuleError(join(path, "segment"), "must be a segment id")
            if self.segment_exists is None or not self.segment_exists(node.segment):
                raise RuleError(join(path, "segment"), f"unknown segment id {node.segment!r}")
        else:
            raise RuleError(path, f"not a rule node: {type(node).__name__}")

    def condition(self, value_type: ValueType, op: str, value: object, path: str, what: str) -> None:
        kind = value_type.kind
        allowed = OPS_BY_KIND[kind]
        if op not in allowed:
            raise RuleError(join(path, "op"), f"{op!r} does not fit {what} of type {kind}; use one of {', '.join(allowed)}")
        value_path = join(path, "value")
        if op in ("exists", "not_exists"):
            if value is not None:
                raise RuleError(value_path, f"{op} takes no value")
            return
        if kind in ("timestamp", "date"):
            check_time_value(op, value, value_path)
        elif kind == "number":
            if op == "between":
                if not (isinstance(value, tuple) and len(value) == 2):
                    raise RuleError(value_path, "must be [low, high]")
                for i, bound in enumerate(value):
                    _check_number(bound, join(value_path, f"[{i}]"), value_type.scale)
                if value[0] > value[1]:
                    raise RuleError(value_path, "low is greater than high")
            else:
                _check_number(value, value_path, value_type.scale)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise RuleError(value_path, "must be true or false")
        elif op in LIST_OPS:
            if not (isinstance(value, tuple) and value and all(isinstance(v, str) for v in value)):
                raise RuleError(value_path, "must be a non-empty list of strings")
            self._check_enum(value_type, op, value, value_path)
        else:
            if not isinstance(value, str):
                raise RuleError(value_path, "must be a string")
            self._check_enum(value_type, op, (value,), value_path)

    @staticmethod
    def _check_enum(value_type: ValueType, op: str, values: tuple, path: str) -> None:
        if value_type.kind != "enum" or op not in ("eq", "neq", "in", "not_in"):
            return
        for i, item in enumerate(values):
            if item not in value_type.enum_values:
                where = path if op in ("eq", "neq") else join(path, f"[{i}]")
                raise RuleError(where, f"{item!r} is not one of {', '.join(value_type.enum_values)}")

    def event(self, node: EventCondition, path: str) -> None:
        attributes = self.schema.events.get(node.event)
        if attributes is None:
            raise RuleError(join(path, "event"), f"unknown event type {node.event!r}")
        for i, condition in enumerate(node.where):
            where_path = join(path, f"where[{i}]")
            if not isinstance(condition, AttributeCondition):
                raise RuleError(where_path, "must be an attribute condition")
            attr_type = attributes.get(condition.attr)
            if attr_type is None:
                raise RuleError(join(where_path, "attr"), f"{condition.attr!r} is not an attribute of {node.event}")
            self.condition(attr_type, condition.op, condition.value, where_path, f"attribute {condition.attr}")
        measure = node.measure
        if isinstance(measure, Count):
            self._count(measure, join(path, "count"))
        elif isinstance(measure, Sum):
            sum_path = join(path, "sum")
            attr_type = attributes.get(measure.attr)
            if attr_type is None or attr_type.kind != "number":
                raise RuleError(join(sum_path, "attr"), f"{measure.attr!r} is not a number attribute of {node.event}")
            self.condition(attr_type, measure.op, measure.value, sum_path, "a sum")
            if measure.op in ("exists", "not_exists"):
                raise RuleError(join(sum_path, "op"), "a sum compares with eq, neq, gt, gte, lt, lte or between")
        elif isinstance(measure, FirstLast) and measure.which in ("first", "last"):
            measure_path = join(path, measure.which)
            if measure.op not in FIRST_LAST_OPS:
                raise RuleError(join(measure_path, "op"), f"use one of {', '.join(FIRST_LAST_OPS)}")
            check_time_value(measure.op, measure.value, join(measure_path, "value"))
        else:
            raise RuleError(path, "needs one measure: count, sum, first or last")
        self._window(node.window, join(path, "window"))

    @staticmethod
    def _count(measure: Count, path: str) -> None:
        if measure.op not in COUNT_OPS:
            raise RuleError(join(path, "op"), f"use one of {', '.join(COUNT_OPS)}")
        value_path = join(path, "value")

        def whole(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 0

        if measure.op == "between":
            value = measure.value
            if not (isinstance(value, tuple) and len(value) == 2 and all(whole(v) for v in value)):
                raise RuleError(value_path, "must be [low, high], whole numbers >= 0")
            if value[0] > value[1]:
                raise RuleError(value_path, "low is greater than high")
        elif not whole(measure.value):
            raise RuleError(value_path, "must be a whole number >= 0")

    @staticmethod
    def _window(window: object, path: str) -> None:
        if isinstance(window, AllTime):
            return
        if isinstance(window, Last):
            check_duration(window.duration, join(path, "last"))
        elif isinstance(window, Since):
            if not _is_date(window.day):
                raise RuleError(join(path, "since"), "must be a date YYYY-MM-DD")
        elif isinstance(window, Between):
            _check_date_pair((window.first_day, window.last_day), join(path, "between"))
        else:
            raise RuleError(path, 'must be "all_time", {"last": ...}, {"since": D} or {"between": [D1, D2]}')

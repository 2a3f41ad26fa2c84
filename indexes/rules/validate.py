"""One validator for every rule, whichever form it came in: checks a model against a schema.

Paths are those of the JSON form (RULES.md "Errors"), so a rule typed as text reports the same
path as its JSON twin. The size limits are checked first and iteratively (`check_limits`, also run
by the JSON and text readers on their raw trees), so a pathological rule is refused before anything
recurses over it; after that, recursion is at most MAX_DEPTH deep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from indexes.rules.errors import RuleError, join
from indexes.rules.model import (
    BOOL_OPS,
    COUNT_OPS,
    FIRST_LAST_OPS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_RULE_LIST_VALUES,
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
)
from indexes.schema import Schema, ValueType
from indexes.values import MAX_STRING_BYTES

SegmentExists = Callable[[str], bool]

OPS_BY_KIND: dict[str, tuple[str, ...]] = {
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
PRESENCE_OPS = ("exists", "not_exists")
ENUM_CHECKED_OPS = ("eq", "neq", "in", "not_in")
INT64_MAX = 2**63 - 1


# --- messages shared by the readers, so a JSON rule and a text rule fail with the same words ----
def unknown_property(path: str, name: object) -> RuleError:
    return RuleError(join(path, "property"), f"unknown property {name!r}")


def unknown_event(path: str, name: object) -> RuleError:
    return RuleError(join(path, "event"), f"unknown event type {name!r}")


def unknown_attribute(where_path: str, attr: object, event: str) -> RuleError:
    return RuleError(join(where_path, "attr"), f"{attr!r} is not an attribute of {event}")


# --- size limits -----------------------------------------------------------------------------------
def model_children(node: object) -> Iterable[tuple[str, object]]:
    """Children of a model node with their path parts (`all[0]`, `not`)."""
    if isinstance(node, All):
        return ((f"all[{i}]", child) for i, child in enumerate(node.nodes))
    if isinstance(node, AnyOf):
        return ((f"any[{i}]", child) for i, child in enumerate(node.nodes))
    if isinstance(node, Not):
        return (("not", node.node),)
    return ()


def check_limits(root: Any, labelled_children: Callable[[Any], Iterable[tuple[str, Any]]] = model_children) -> None:
    """At most MAX_DEPTH levels and MAX_NODES nodes, walked without recursion, in document order.

    Works on any tree (model, raw JSON, parse tree) given its children. Too deep names the first
    node below the limit; too many nodes is a whole-rule problem (path "").
    """
    stack: list[tuple[Any, int, str]] = [(root, 1, "")]
    seen = 0
    while stack:
        node, depth, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise RuleError("", f"more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise RuleError(path, f"nested more than {MAX_DEPTH} levels deep")
        kids = [(child, depth + 1, join(path, part)) for part, child in labelled_children(node)]
        stack.extend(reversed(kids))


def validate_rule(rule: Node, schema: Schema, segment_exists: SegmentExists | None = None) -> None:
    """Raise RuleError (with the JSON-form path) unless `rule` is a valid rule for `schema`.

    Segment nodes need `segment_exists`; without it every one is an unknown segment id.
    """
    check_limits(rule)
    _Validator(schema, segment_exists).node(rule, "")


# --- value checks ----------------------------------------------------------------------------------
def is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def check_duration(value: object, path: str) -> None:
    if not isinstance(value, Duration) or value.unit not in ("days", "hours"):
        raise RuleError(path, 'must be {"days": N} or {"hours": N}')
    limit = MAX_WINDOW_DAYS if value.unit == "days" else MAX_WINDOW_HOURS
    amount = value.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= limit:
        raise RuleError(join(path, value.unit), f"must be a whole number of {value.unit} from 1 to {limit}")


def _check_date_pair(value: object, path: str) -> None:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise RuleError(path, "must be two dates [YYYY-MM-DD, YYYY-MM-DD]")
    for i, day in enumerate(value):
        if not is_date(day):
            raise RuleError(join(path, f"[{i}]"), "must be a date YYYY-MM-DD")
    if value[0] > value[1]:
        raise RuleError(path, "the first date is after the second")


def _check_number(value: object, path: str, scale: int) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RuleError(path, "must be a number")
    scaled = _scaled_exactly(value, scale)
    if scaled is None:
        raise RuleError(path, f"more fractional digits than the scale {scale}")
    if abs(scaled) > INT64_MAX:
        raise RuleError(path, "number too large")


def _scaled_exactly(value: Decimal, scale: int) -> int | None:
    """value * 10**scale as an int, or None when that is not whole.

    Works on the digits, not with Decimal arithmetic, because the default context rounds to 28
    digits: "1.0000000000000000000000000001" must not pass for a scale-2 number.
    """
    if value.adjusted() > 40:  # far beyond int64 either way; avoids building 10**huge
        return INT64_MAX + 1
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    coefficient = int("".join(map(str, digits)) or "0")
    if coefficient == 0:
        return 0
    coefficient //= 10**trailing
    shift = exponent + trailing + scale
    if shift < 0:
        return None
    return (-1 if value < 0 else 1) * coefficient * 10**shift


def _check_number_pair(value: object, path: str, scale: int) -> None:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise RuleError(path, "must be [low, high]")
    for i, bound in enumerate(value):
        _check_number(bound, join(path, f"[{i}]"), scale)
    if value[0] > value[1]:
        raise RuleError(path, "low is greater than high")


def check_time_value(op: str, value: object, path: str) -> None:
    if op in ("before", "after", "on"):
        if not is_date(value):
            raise RuleError(path, "must be a date YYYY-MM-DD")
    elif op == "between":
        _check_date_pair(value, path)
    elif op in ("within_last", "more_than_ago"):
        check_duration(value, path)


def check_rule_string(value: object, path: str, max_bytes: int = MAX_STRING_BYTES) -> None:
    """A string value of a rule: no longer than any stored string can be (so never a match wasted on
    megabytes), and encodable as UTF-8 (a lone surrogate from a JSON escape would fail only later,
    when the rule is written to the log)."""
    if not isinstance(value, str):
        raise RuleError(path, "must be a string")
    if value.isascii():
        if len(value) > max_bytes:
            raise RuleError(path, f"longer than {max_bytes} bytes")
        return
    try:
        size_bytes = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise RuleError(path, "not valid Unicode text (a lone surrogate such as \\ud800)") from None
    if size_bytes > max_bytes:
        raise RuleError(path, f"longer than {max_bytes} bytes")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX


class _Validator:
    def __init__(self, schema: Schema, segment_exists: SegmentExists | None) -> None:
        self.schema = schema
        self.segment_exists = segment_exists

    def node(self, node: Node, path: str) -> None:
        # Recursion is bounded: check_limits has already refused anything deeper than MAX_DEPTH.
        if isinstance(node, (All, AnyOf)):
            key = "all" if isinstance(node, All) else "any"
            if not isinstance(node.nodes, tuple) or not node.nodes:
                raise RuleError(join(path, key), "a group needs at least one condition")
            for part, child in model_children(node):
                self.node(child, join(path, part))  # type: ignore[arg-type]
        elif isinstance(node, Not):
            self.node(node.node, join(path, "not"))
        elif isinstance(node, PropertyCondition):
            name = node.property
            value_type = self.schema.property_type(name) if isinstance(name, str) else None
            if value_type is None:
                raise unknown_property(path, name)
            self.condition(value_type, node.op, node.value, path, f"property {name}")
        elif isinstance(node, EventCondition):
            self.event(node, path)
        elif isinstance(node, SegmentCondition):
            if not isinstance(node.segment, str) or not node.segment:
                raise RuleError(join(path, "segment"), "must be a segment id")
            check_rule_string(node.segment, join(path, "segment"))
            if self.segment_exists is None or not self.segment_exists(node.segment):
                raise RuleError(join(path, "segment"), f"unknown segment id {node.segment!r}")
        else:
            raise RuleError(path, f"not a rule node: {type(node).__name__}")

    def condition(self, value_type: ValueType, op: object, value: object, path: str, what: str) -> None:
        """A property or attribute condition: the op fits the type, the value fits the op."""
        kind = value_type.kind
        allowed = OPS_BY_KIND[kind]
        if op not in allowed:
            raise RuleError(join(path, "op"), f"{op!r} does not fit {what} of type {kind}; use one of {', '.join(allowed)}")
        value_path = join(path, "value")
        if op in PRESENCE_OPS:
            if value is not None:
                raise RuleError(value_path, f"{op} takes no value")
            return
        if kind in ("timestamp", "date"):
            check_time_value(str(op), value, value_path)
        elif kind == "number":
            if op == "between":
                _check_number_pair(value, value_path, value_type.scale)
            else:
                _check_number(value, value_path, value_type.scale)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise RuleError(value_path, "must be true or false")
        elif op in LIST_OPS:
            if not (isinstance(value, tuple) and value):
                raise RuleError(value_path, "must be a non-empty list of strings")
            if len(value) > MAX_RULE_LIST_VALUES:
                raise RuleError(value_path, f"more than {MAX_RULE_LIST_VALUES} values ({len(value)})")
            for i, item in enumerate(value):
                check_rule_string(item, join(value_path, f"[{i}]"))
            self._check_enum(value_type, str(op), value, value_path)
        else:
            check_rule_string(value, value_path)
            self._check_enum(value_type, str(op), (value,), value_path)

    @staticmethod
    def _check_enum(value_type: ValueType, op: str, values: tuple, path: str) -> None:
        # contains / starts_with / ends_with may take any fragment; only whole values must exist.
        if value_type.kind != "enum" or op not in ENUM_CHECKED_OPS:
            return
        for i, item in enumerate(values):
            if item not in value_type.enum_values:
                where = path if op in ("eq", "neq") else join(path, f"[{i}]")
                raise RuleError(where, f"{item!r} is not one of {', '.join(value_type.enum_values)}")

    def event(self, node: EventCondition, path: str) -> None:
        name = node.event
        attributes = self.schema.events.get(name) if isinstance(name, str) else None
        if attributes is None:
            raise unknown_event(path, name)
        if not isinstance(node.where, tuple):
            raise RuleError(join(path, "where"), "must be a list of attribute conditions")
        for i, condition in enumerate(node.where):
            where_path = join(path, f"where[{i}]")
            if not isinstance(condition, AttributeCondition):
                raise RuleError(where_path, "must be an attribute condition")
            attr_type = attributes.get(condition.attr) if isinstance(condition.attr, str) else None
            if attr_type is None:
                raise unknown_attribute(where_path, condition.attr, name)
            self.condition(attr_type, condition.op, condition.value, where_path, f"attribute {condition.attr}")
        measure = node.measure
        if isinstance(measure, Count):
            self._count(measure, join(path, "count"))
        elif isinstance(measure, Sum):
            self._sum(measure, join(path, "sum"), attributes, name)
        elif isinstance(measure, FirstLast) and measure.which in ("first", "last"):
            measure_path = join(path, measure.which)
            if measure.op not in FIRST_LAST_OPS:
                raise RuleError(join(measure_path, "op"), f"{measure.op!r}: use one of {', '.join(FIRST_LAST_OPS)}")
            check_time_value(measure.op, measure.value, join(measure_path, "value"))
        else:
            raise RuleError(path, "needs one measure: count, sum, first or last")
        self._window(node.window, join(path, "window"))

    def _sum(self, measure: Sum, path: str, attributes: dict[str, ValueType], event: str) -> None:
        attr_type = attributes.get(measure.attr) if isinstance(measure.attr, str) else None
        if attr_type is None or attr_type.kind != "number":
            raise RuleError(join(path, "attr"), f"{measure.attr!r} is not a number attribute of {event}")
        if measure.op not in COUNT_OPS:
            raise RuleError(join(path, "op"), f"{measure.op!r}: a sum compares with {', '.join(COUNT_OPS)}")
        self.condition(attr_type, measure.op, measure.value, path, "a sum")

    @staticmethod
    def _count(measure: Count, path: str) -> None:
        if measure.op not in COUNT_OPS:
            raise RuleError(join(path, "op"), f"{measure.op!r}: use one of {', '.join(COUNT_OPS)}")
        value_path = join(path, "value")
        value = measure.value
        if measure.op == "between":
            if not (isinstance(value, tuple) and len(value) == 2):
                raise RuleError(value_path, "must be [low, high], whole numbers >= 0")
            for i, bound in enumerate(value):
                if not _is_count(bound):
                    raise RuleError(join(value_path, f"[{i}]"), "must be a whole number >= 0")
            if value[0] > value[1]:
                raise RuleError(value_path, "low is greater than high")
        elif not _is_count(value):
            raise RuleError(value_path, "must be a whole number >= 0")

    @staticmethod
    def _window(window: object, path: str) -> None:
        if isinstance(window, AllTime):
            return
        if isinstance(window, Last):
            check_duration(window.duration, join(path, "last"))
        elif isinstance(window, Since):
            if not is_date(window.day):
                raise RuleError(join(path, "since"), "must be a date YYYY-MM-DD")
        elif isinstance(window, Between):
            _check_date_pair((window.first_day, window.last_day), join(path, "between"))
        else:
            raise RuleError(path, 'must be "all_time", {"last": ...}, {"since": D} or {"between": [D1, D2]}')


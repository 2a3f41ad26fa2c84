"""The JSON form of rules (RULES.md): decode into the model, encode back.

Decoding reads shapes (which keys, which JSON types) and turns values into model values, using the
schema only to know whether `between` takes dates or numbers and `eq` a number or a string. What a
rule means (op fits type, enum values, scales, window sizes, segments) is checked afterwards by the
shared validator, so the JSON and text forms reject the same rules with the same paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from indexes.rules.errors import RuleError, join
from indexes.rules.model import (
    ALL_TIME,
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
    Measure,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Since,
    Sum,
    Window,
)
from indexes.rules.validate import (
    LIST_OPS,
    OPS_BY_KIND,
    PRESENCE_OPS,
    check_limits,
    unknown_attribute,
    unknown_event,
    unknown_property,
    validate_rule,
)
from indexes.schema import Schema
from indexes.values import parse_date, parse_decimal

_TIME_KINDS = ("timestamp", "date")
_MEASURES = ("count", "sum", "first", "last")
_WINDOW_SHAPES = 'must be "all_time", {"last": {"days": N}}, {"since": "YYYY-MM-DD"} or {"between": [D1, D2]}'


def rule_from_json(obj: Any, schema: Schema, segment_exists: Callable[[str], bool] | None = None) -> Node:
    """The JSON form (already parsed, e.g. by json.loads) -> a validated model; RuleError otherwise."""
    # Limits first, on the raw JSON, so the (recursive) decoder never meets a 10,000-deep nesting.
    check_limits(obj, json_children)
    rule = _Decoder(schema).node(obj, "")
    validate_rule(rule, schema, segment_exists)
    return rule


def json_children(obj: Any) -> Iterable[tuple[str, Any]]:
    """Child nodes of a raw JSON group, with path parts; leaves and malformed nodes have none."""
    if not isinstance(obj, dict):
        return ()
    for key in ("all", "any"):
        if key in obj:
            items = obj[key]
            return ((f"{key}[{i}]", item) for i, item in enumerate(items)) if isinstance(items, list) else ()
    if "not" in obj:
        return (("not", obj["not"]),)
    return ()


class _Decoder:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def node(self, obj: Any, path: str) -> Node:
        if not isinstance(obj, dict):
            raise RuleError(path, "a rule node must be a JSON object")
        for key, build in (("all", All), ("any", AnyOf)):
            if key in obj:
                _only(obj, {key}, path)
                items = obj[key]
                if not isinstance(items, list):
                    raise RuleError(join(path, key), "must be a list of rule nodes")
                return build(tuple(self.node(item, join(path, part)) for part, item in json_children(obj)))
        if "not" in obj:
            _only(obj, {"not"}, path)
            return Not(self.node(obj["not"], join(path, "not")))
        if "segment" in obj:
            _only(obj, {"segment"}, path)
            if not isinstance(obj["segment"], str):
                raise RuleError(join(path, "segment"), "must be a segment id string")
            return SegmentCondition(obj["segment"])
        if "property" in obj:
            return self.property(obj, path)
        if "event" in obj:
            return self.event(obj, path)
        raise RuleError(path, "expected a node with one of all, any, not, property, event, segment")

    def property(self, obj: dict, path: str) -> PropertyCondition:
        _only(obj, {"property", "op", "value"}, path)
        name = obj["property"]
        value_type = self.schema.property_type(name) if isinstance(name, str) else None
        if value_type is None:
            raise unknown_property(path, name)
        op = _op(obj, path)
        return PropertyCondition(name, op, _value(value_type.kind, op, obj.get("value"), join(path, "value")))

    def event(self, obj: dict, path: str) -> EventCondition:
        _only(obj, {"event", "where", "window", *_MEASURES}, path)
        name = obj["event"]
        attributes = self.schema.events.get(name) if isinstance(name, str) else None
        if attributes is None:
            raise unknown_event(path, name)
        raw_where = obj.get("where", [])
        if not isinstance(raw_where, list):
            raise RuleError(join(path, "where"), "must be a list of attribute conditions")
        where = []
        for i, item in enumerate(raw_where):
            item_path = join(path, f"where[{i}]")
            if not isinstance(item, dict):
                raise RuleError(item_path, "must be an object {attr, op, value}")
            _only(item, {"attr", "op", "value"}, item_path)
            attr = item.get("attr")
            attr_type = attributes.get(attr) if isinstance(attr, str) else None
            if attr_type is None:
                raise unknown_attribute(item_path, attr, name)
            op = _op(item, item_path)
            value = _value(attr_type.kind, op, item.get("value"), join(item_path, "value"))
            where.append(AttributeCondition(attr, op, value))  # type: ignore[arg-type]
        measures = [m for m in _MEASURES if m in obj]
        if len(measures) > 1:
            raise RuleError(join(path, measures[1]), "an event condition has exactly one measure")
        measure = self.measure(measures[0], obj[measures[0]], join(path, measures[0])) if measures else Count()
        window = _window(obj.get("window", "all_time"), join(path, "window"))
        return EventCondition(name, tuple(where), measure, window)

    @staticmethod
    def measure(kind: str, obj: Any, path: str) -> Measure:
        if not isinstance(obj, dict):
            raise RuleError(path, "must be an object {op, value}" if kind != "sum" else "must be an object {attr, op, value}")
        _only(obj, {"attr", "op", "value"} if kind == "sum" else {"op", "value"}, path)
        op = _op(obj, path)
        raw = obj.get("value")
        value_path = join(path, "value")
        if kind == "count":
            # Counts stay JSON integers; the validator refuses floats, strings and booleans.
            return Count(op, tuple(raw) if op == "between" and isinstance(raw, list) else raw)
        if kind == "sum":
            attr = obj.get("attr")
            if not isinstance(attr, str):
                raise RuleError(join(path, "attr"), "must be an attribute name")
            return Sum(attr, op, _value("number", op, raw, value_path))  # type: ignore[arg-type]
        return FirstLast(kind, op, _value("timestamp", op, raw, value_path))  # type: ignore[arg-type]


def _only(obj: dict, allowed: set[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise RuleError(join(path, str(key)), "unknown key here")


def _op(obj: dict, path: str) -> str:
    op = obj.get("op")
    if not isinstance(op, str):
        raise RuleError(join(path, "op"), "required: an operator name")
    return op


def _value(kind: str, op: str, raw: Any, path: str) -> object:
    """JSON value -> model value, by the kind of the property/attribute and the op."""
    if op not in OPS_BY_KIND[kind] or op in PRESENCE_OPS:
        # A wrong op is the error to report, and exists takes no value: the validator says both.
        return raw
    if op in ("within_last", "more_than_ago"):
        return _duration(raw, path)
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise RuleError(path, "must be [low, high]")
        convert = _date if kind in _TIME_KINDS else _number
        return tuple(convert(v, join(path, f"[{i}]")) for i, v in enumerate(raw))
    if op in ("before", "after", "on"):
        return _date(raw, path)
    if op in LIST_OPS:
        if not isinstance(raw, list):
            raise RuleError(path, "must be a non-empty list of strings")
        return tuple(raw)
    if kind == "number":
        return _number(raw, path)
    return raw  # strings and bools: the validator checks their type


def _number(raw: Any, path: str) -> Decimal:
    try:
        return parse_decimal(raw)
    except ValueError as exc:
        raise RuleError(path, str(exc)) from None


def _date(raw: Any, path: str) -> dt.date:
    try:
        return parse_date(raw)
    except ValueError as exc:
        raise RuleError(path, str(exc)) from None


def _duration(raw: Any, path: str) -> Duration:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("days", "hours"):
        raise RuleError(path, 'must be {"days": N} or {"hours": N}')
    unit, amount = next(iter(raw.items()))
    return Duration(unit, amount)  # the validator checks amount is a whole number in range


def _window(raw: Any, path: str) -> Window:
    if raw == "all_time":
        return ALL_TIME
    if not isinstance(raw, dict) or len(raw) != 1:
        raise RuleError(path, _WINDOW_SHAPES)
    key, value = next(iter(raw.items()))
    if key == "last":
        return Last(_duration(value, join(path, "last")))
    if key == "since":
        return Since(_date(value, join(path, "since")))
    if key == "between":
        between_path = join(path, "between")
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(between_path, "must be [first day, last day]")
        return Between(_date(value[0], join(between_path, "[0]")), _date(value[1], join(between_path, "[1]")))
    raise RuleError(join(path, str(key)), f"unknown window kind; {_WINDOW_SHAPES}")


# --- encoding --------------------------------------------------------------------------------------
def rule_to_json(rule: Node) -> dict:
    """Canonical JSON of a valid rule: measure and window always explicit, `where` only when not empty.

    `rule_from_json(rule_to_json(r)) == r` for every valid r.
    """
    check_limits(rule)  # a hand-built, absurdly deep model gets a RuleError, not a RecursionError
    return _encode(rule)


def _encode(rule: Node) -> dict:
    if isinstance(rule, All):
        return {"all": [_encode(n) for n in rule.nodes]}
    if isinstance(rule, AnyOf):
        return {"any": [_encode(n) for n in rule.nodes]}
    if isinstance(rule, Not):
        return {"not": _encode(rule.node)}
    if isinstance(rule, SegmentCondition):
        return {"segment": rule.segment}
    if isinstance(rule, PropertyCondition):
        return _condition_json({"property": rule.property}, rule.op, rule.value)
    if not isinstance(rule, EventCondition):
        raise RuleError("", f"not a rule node: {type(rule).__name__}")
    out: dict[str, Any] = {"event": rule.event}
    if rule.where:
        out["where"] = [_condition_json({"attr": c.attr}, c.op, c.value) for c in rule.where]
    measure = rule.measure
    if isinstance(measure, Count):
        out["count"] = {"op": measure.op, "value": value_to_json(measure.value)}
    elif isinstance(measure, Sum):
        out["sum"] = {"attr": measure.attr, "op": measure.op, "value": value_to_json(measure.value)}
    else:
        out[measure.which] = {"op": measure.op, "value": value_to_json(measure.value)}
    out["window"] = window_to_json(rule.window)
    return out


def _condition_json(head: dict, op: str, value: object) -> dict:
    out = {**head, "op": op}
    if value is not None:
        out["value"] = value_to_json(value)
    return out


def value_to_json(value: object) -> Any:
    """Model value -> JSON value. Decimals become ints when whole, floats when a float says exactly
    the same number, else decimal strings (which the decoder accepts as numbers)."""
    if isinstance(value, tuple):
        return [value_to_json(v) for v in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(str(value))
        return as_float if Decimal(repr(as_float)) == value else format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Duration):
        return {value.unit: value.amount}
    return value


def window_to_json(window: Window) -> Any:
    if isinstance(window, AllTime):
        return "all_time"
    if isinstance(window, Last):
        return {"last": value_to_json(window.duration)}
    if isinstance(window, Since):
        return {"since": window.day.isoformat()}
    if isinstance(window, Between):
        return {"between": [window.first_day.isoformat(), window.last_day.isoformat()]}
    raise RuleError("", f"not a window: {type(window).__name__}")

"""The JSON form of rules (RULES.md): decode into the model, encode back.

Decoding only reads shapes (which keys, which JSON types) and turns values into model values, using
the schema to know whether `between` takes dates or numbers and `eq` a number, a bool or a string.
Everything about meaning (op fits type, enum values, scales, window sizes, segments) is checked by
the shared validator afterwards, so the JSON and text forms reject the same rules the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from indexes.rules.errors import RuleError, join
from indexes.rules.model import (
    ALL_TIME,
    MAX_DEPTH,
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
from indexes.rules.validate import OPS_BY_KIND, validate_rule
from indexes.schema import Schema
from indexes.values import parse_date, parse_decimal

_TIME_KINDS = ("timestamp", "date")
_MEASURES = ("count", "sum", "first", "last")


def rule_from_json(obj: Any, schema: Schema, segment_exists: Callable[[str], bool] | None = None) -> Node:
    rule = _Decoder(schema).node(obj, "", 1)
    validate_rule(rule, schema, segment_exists)
    return rule


class _Decoder:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.nodes = 0

    def node(self, obj: Any, path: str, depth: int) -> Node:
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise RuleError(path, f"nested more than {MAX_DEPTH} levels deep")
        if self.nodes > 1000:
            raise RuleError(path, "more than 1000 nodes")
        if not isinstance(obj, dict):
            raise RuleError(path, "a rule node must be a JSON object")
        for key, build in (("all", All), ("any", AnyOf)):
            if key in obj:
                _only(obj, {key}, path)
                items = obj[key]
                if not isinstance(items, list):
                    raise RuleError(join(path, key), "must be a list of rule nodes")
                return build(tuple(self.node(item, join(path, f"{key}[{i}]"), depth + 1) for i, item in enumerate(items)))
        if "not" in obj:
            _only(obj, {"not"}, path)
            return Not(self.node(obj["not"], join(path, "not"), depth + 1))
        if "segment" in obj:
            _only(obj, {"segment"}, path)
            if not isinstance(obj["segment"], str):
                raise RuleError(join(path, "segment"), "must be a segment id string")
            return SegmentCondition(obj["segment"])
        if "property" in obj:
            return self.property(obj, path)
        if "event" in obj:
            return self.event(obj, path)
        raise RuleError(path, "expected one of all, any, not, property, event, segment")

    def property(self, obj: dict, path: str) -> PropertyCondition:
        _only(obj, {"property", "op", "value"}, path)
        name = obj["property"]
        if not isinstance(name, str):
            raise RuleError(join(path, "property"), "must be a property name")
        value_type = self.schema.property_type(name)
        if value_type is None:
            raise RuleError(join(path, "property"), f"unknown property {name!r}")
        op = _op(obj, path)
        return PropertyCondition(name, op, _value(value_type.kind, op, obj.get("value"), join(path, "value")))

    def event(self, obj: dict, path: str) -> EventCondition:
        _only(obj, {"event", "where", "window", *_MEASURES}, path)
        name = obj["event"]
        if not isinstance(name, str) or name not in self.schema.events:
            raise RuleError(join(path, "event"), f"unknown event type {name!r}")
        attributes = self.schema.events[name]
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
                raise RuleError(join(item_path, "attr"), f"{attr!r} is not an attribute of {name}")
            op = _op(item, item_path)
            where.append(AttributeCondition(attr, op, _value(attr_type.kind, op, item.get("value"), join(item_path, "value"))))  # type: ignore[arg-type]
        measures = [m for m in _MEASURES if m in obj]
        if len(measures) > 1:
            raise RuleError(join(path, measures[1]), "an event condition has exactly one measure")
        measure = self.measure(measures[0], obj[measures[0]], join(path, measures[0]), attributes) if measures else Count()
        window = _window(obj.get("window", "all_time"), join(path, "window"))
        return EventCondition(name, tuple(where), measure, window)

    def measure(self, kind: str, obj: Any, path: str, attributes: dict) -> Measure:
        if not isinstance(obj, dict):
            raise RuleError(path, "must be an object")
        op = _op(obj, path)
        value_path = join(path, "value")
        if kind == "count":
            _only(obj, {"op", "value"}, path)
            value = obj.get("value")
            if op == "between":
                value = tuple(value) if isinstance(value, list) else value
            return Count(op, value)
        if kind == "sum":
            _only(obj, {"attr", "op", "value"}, path)
            attr = obj.get("attr")
            if not isinstance(attr, str):
                raise RuleError(join(path, "attr"), "must be an attribute name")
            return Sum(attr, op, _value("number", op, obj.get("value"), value_path))  # type: ignore[arg-type]
        _only(obj, {"op", "value"}, path)
        return FirstLast(kind, op, _value("timestamp", op, obj.get("value"), value_path))  # type: ignore[arg-type]


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
    if op not in OPS_BY_KIND[kind] or op in ("exists", "not_exists"):
        # A wrong op is the error to report; exists takes no value (the validator says both).
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
    if op in ("in", "not_in", "has_any", "has_all", "has_none"):
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
    return Duration(unit, amount)


def _window(raw: Any, path: str) -> Window:
    if raw == "all_time":
        return ALL_TIME
    if not isinstance(raw, dict) or len(raw) != 1:
        raise RuleError(path, 'must be "all_time", {"last": ...}, {"since": D} or {"between": [D1, D2]}')
    key, value = next(iter(raw.items()))
    if key == "last":
        return Last(_duration(value, join(path, "last")))
    if key == "since":
        return Since(_date(value, join(path, "since")))
    if key == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(join(path, "between"), "must be [first day, last day]")
        return Between(_date(value[0], join(path, "between[0]")), _date(value[1], join(path, "between[1]")))
    raise RuleError(join(path, str(key)), "unknown window kind")


# --- encoding --------------------------------------------------------------------------------------
def rule_to_json(rule: Node) -> dict:
    """Canonical JSON: measure and window always explicit."""
    if isinstance(rule, All):
        return {"all": [rule_to_json(n) for n in rule.nodes]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_to_json(n) for n in rule.nodes]}
    if isinstance(rule, Not):
        return {"not": rule_to_json(rule.node)}
    if isinstance(rule, SegmentCondition):
        return {"segment": rule.segment}
    if isinstance(rule, PropertyCondition):
        return _condition_json({"property": rule.property}, rule.op, rule.value)
    assert isinstance(rule, EventCondition)
    out: dict[str, Any] = {"event": rule.event}
    if rule.where:
        out["where"] = [_condition_json({"attr": c.attr}, c.op, c.value) for c in rule.where]
    measure = rule.measure
    if isinstance(measure, Count):
        out["count"] = {"op": measure.op, "value": list(measure.value) if isinstance(measure.value, tuple) else measure.value}
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
    if isinstance(value, tuple):
        return [value_to_json(v) for v in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
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
    assert isinstance(window, Between)
    return {"between": [window.first_day.isoformat(), window.last_day.isoformat()]}

"""Schema and value types <-> plain msgpack data, exactly (a loaded schema compares equal).

A value type is [kind, scale, [enum values]]: all three fields, not the declaration form of
`ValueType.to_json`, which leaves out a scale that is not a number's and would not round-trip the
dataclass. Lists of pairs rather than maps keep the declaration order of properties and events.
"""

from __future__ import annotations

from typing import Any

from indexes.schema import ATTRIBUTE_KINDS, PROPERTY_KINDS, Schema, ValueType
from indexes.snapshot.errors import SnapshotError

_KINDS = frozenset(PROPERTY_KINDS) | frozenset(ATTRIBUTE_KINDS)


def value_type_to_plain(value_type: ValueType) -> list[Any]:
    return [value_type.kind, value_type.scale, list(value_type.enum_values)]


def value_type_from_plain(plain: Any) -> ValueType:
    try:
        kind, scale, values = plain
    except (TypeError, ValueError):
        raise SnapshotError(f"bad value type {plain!r}") from None
    if kind not in _KINDS or not isinstance(scale, int) or not all(isinstance(v, str) for v in values):
        raise SnapshotError(f"bad value type {plain!r}")
    return ValueType(kind, scale=scale, enum_values=tuple(values))


def schema_to_plain(schema: Schema) -> dict[str, Any]:
    return {
        "properties": [[name, value_type_to_plain(t)] for name, t in schema.properties.items()],
        "events": [
            [name, [[attr, value_type_to_plain(t)] for attr, t in attrs.items()]]
            for name, attrs in schema.events.items()
        ],
    }


def schema_from_plain(plain: Any) -> Schema:
    try:
        properties = {name: value_type_from_plain(t) for name, t in plain["properties"]}
        events = {name: {attr: value_type_from_plain(t) for attr, t in attrs} for name, attrs in plain["events"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"bad schema in manifest ({exc!r})") from None
    return Schema(properties=properties, events=events)

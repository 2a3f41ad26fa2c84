"""Bring shards whose schema lags behind back in line, with the declarations they miss.

Declarations go to every shard in two phases (Cluster.declare), one declare call at a time. If a shard
fails in the commit phase (crash, disk error), the others hold the declaration and it does not: its
schema is then a strict subset of theirs. Declarations only add (a property, an event type, attributes,
enum values at the end), so the missing part is expressible as declarations, derived here from the
fuller schema; re-declaring what a shard already has is a no-op (indexes/schema.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from indexes.schema import Schema, ValueType


class SchemaDivergedError(RuntimeError):
    """Two shards declare the same name with incompatible types: no declaration order explains it."""


def _declared_type(value_type: ValueType) -> dict[str, Any]:
    return value_type.to_json()


def _covers(full: ValueType, part: ValueType) -> bool:
    """`full` is `part`, or `part` widened by declarations (an enum with values appended)."""
    if full == part:
        return True
    return full.kind == part.kind == "enum" and full.enum_values[: len(part.enum_values)] == part.enum_values


def is_subset(part: Schema, full: Schema) -> bool:
    for name, value_type in part.properties.items():
        other = full.properties.get(name)
        if other is None or not _covers(other, value_type):
            return False
    for event, attrs in part.events.items():
        other_attrs = full.events.get(event)
        if other_attrs is None:
            return False
        for attr, value_type in attrs.items():
            other = other_attrs.get(attr)
            if other is None or not _covers(other, value_type):
                return False
    return True


def fullest(schemas: Sequence[Schema]) -> Schema:
    """The schema every other one is a subset of; SchemaDivergedError when there is none."""
    assert schemas
    best = max(schemas, key=_size)
    for schema in schemas:
        if not is_subset(schema, best):
            raise SchemaDivergedError("shard schemas diverged: declarations conflict between shards")
    return best


def missing_declarations(have: Schema, full: Schema) -> list[dict[str, Any]]:
    """Declaration bodies that turn `have` into `full` (`have` a subset of `full`)."""
    assert is_subset(have, full)
    bodies: list[dict[str, Any]] = []
    for name, value_type in full.properties.items():
        if have.properties.get(name) != value_type:
            bodies.append({"property": name, **_declared_type(value_type)})
    for event, attrs in full.events.items():
        own = have.events.get(event)
        changed = {attr: _declared_type(t) for attr, t in attrs.items() if own is None or own.get(attr) != t}
        if own is None or changed:
            bodies.append({"event": event, "attributes": changed})
    return bodies


def _size(schema: Schema) -> int:
    enum_values = sum(len(t.enum_values) for t in schema.properties.values())
    return len(schema.properties) + enum_values + sum(1 + len(attrs) for attrs in schema.events.values())

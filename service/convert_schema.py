"""segments.v1 declarations and schema <-> declaration bodies (docs/SEMANTICS.md) and indexes.schema.Schema.

    PropertyDeclaration{name, type: TypeSpec{type, scale, values}} <-> {"property": name, "type": .., "scale": .., "values": ..}
    EventDeclaration{name, attributes: {a: TypeSpec}}              <-> {"event": name, "attributes": {a: {"type": .., ...}}}

Errors the backend finds in a body name body paths (`declare.attributes.size.type`); `request_path`
turns them into request fields (`declarations[1].event.attributes.size.type`).
"""

from __future__ import annotations

from typing import Any

from indexes.schema import COMPUTED_PROPERTIES, Schema, ValueType
from proto.segments.v1 import schema_pb2
from service.convert_values import ConversionError


def type_spec_to_body(spec: schema_pb2.TypeSpec) -> dict[str, Any]:
    body: dict[str, Any] = {"type": spec.type}
    if spec.HasField("scale"):
        body["scale"] = spec.scale
    if spec.values:
        body["values"] = list(spec.values)
    return body


def declaration_to_body(declaration: schema_pb2.Declaration) -> dict[str, Any]:
    kind = declaration.WhichOneof("kind")
    if kind == "property":
        prop = declaration.property
        if not prop.HasField("type"):
            raise ConversionError("property.type", "required")
        return {"property": prop.name, **type_spec_to_body(prop.type)}
    if kind == "event":
        event = declaration.event
        return {"event": event.name, "attributes": {n: type_spec_to_body(s) for n, s in event.attributes.items()}}
    assert kind is None, kind
    raise ConversionError("", "no declaration kind set (one of property, event)")


def request_path(index: int, body_path: str) -> str:
    """A body path from a declaration error -> the request field it came from."""
    head = f"declarations[{index}]"
    rest = body_path.removeprefix("declare").lstrip(".")
    if not rest:
        return head
    first, _, tail = rest.partition(".")
    if first == "property":
        return f"{head}.property.name"
    if first in ("type", "scale", "values"):
        return f"{head}.property.type.{first}"
    if first == "event":
        return f"{head}.event.name"
    if first == "attributes":
        return f"{head}.event.attributes" + (f".{tail}" if tail else "")
    return f"{head}.{rest}"


# --- client ------------------------------------------------------------------------------------------
def type_spec_from_body(spec: Any, field: str) -> schema_pb2.TypeSpec:
    if isinstance(spec, str):
        return schema_pb2.TypeSpec(type=spec)
    if not isinstance(spec, dict):
        raise ConversionError(field, "a type is a name or an object with 'type'")
    out = schema_pb2.TypeSpec(type=str(spec.get("type", "")))
    if "scale" in spec:
        if isinstance(spec["scale"], bool) or not isinstance(spec["scale"], int) or spec["scale"] < 0:
            raise ConversionError(f"{field}.scale", "must be an integer >= 0")
        out.scale = spec["scale"]
    values = spec.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConversionError(f"{field}.values", "must be a list of strings")
    out.values.extend(values)
    unknown = set(spec) - {"type", "scale", "values"}
    if unknown:
        raise ConversionError(field, f"unknown keys {sorted(unknown)}")
    return out


def declaration_from_body(body: Any) -> schema_pb2.Declaration:
    if not isinstance(body, dict):
        raise ConversionError("", "a declaration is an object")
    if "property" in body:
        unknown = set(body) - {"property", "type", "scale", "values"}
        if unknown:
            raise ConversionError("", f"unknown keys {sorted(unknown)}")
        spec = type_spec_from_body({k: body[k] for k in ("type", "scale", "values") if k in body}, "type")
        return schema_pb2.Declaration(property=schema_pb2.PropertyDeclaration(name=str(body["property"]), type=spec))
    if "event" in body:
        unknown = set(body) - {"event", "attributes"}
        if unknown:
            raise ConversionError("", f"unknown keys {sorted(unknown)}")
        attributes = body.get("attributes", {})
        if not isinstance(attributes, dict):
            raise ConversionError("attributes", "must be an object of name -> type")
        return schema_pb2.Declaration(event=schema_pb2.EventDeclaration(
            name=str(body["event"]),
            attributes={str(n): type_spec_from_body(s, f"attributes.{n}") for n, s in attributes.items()},
        ))
    raise ConversionError("", "must name a 'property' or an 'event'")


# --- schema -> GetSchemaResponse -----------------------------------------------------------------------
def type_spec_pb(value_type: ValueType) -> schema_pb2.TypeSpec:
    out = schema_pb2.TypeSpec(type=value_type.kind, values=list(value_type.enum_values))
    if value_type.kind == "number":
        out.scale = value_type.scale
    return out


def schema_pb(schema: Schema, time_zone: str) -> schema_pb2.GetSchemaResponse:
    properties = [
        schema_pb2.PropertyInfo(name=name, type=type_spec_pb(t), computed=False) for name, t in schema.properties.items()
    ]
    properties += [
        schema_pb2.PropertyInfo(name=name, type=type_spec_pb(t), computed=True) for name, t in COMPUTED_PROPERTIES.items()
    ]
    properties.sort(key=lambda p: p.name)
    events = [
        schema_pb2.EventTypeInfo(name=name, attributes={a: type_spec_pb(t) for a, t in attrs.items()})
        for name, attrs in sorted(schema.events.items())
    ]
    return schema_pb2.GetSchemaResponse(properties=properties, event_types=events, time_zone=time_zone)

"""Workspace schema: the standard catalog (CATALOG.md) plus run-time declarations.

A schema answers "what type is this property / event attribute?" for record validation and rule
validation. Declarations are records in the log, so a schema is always rebuilt by replaying them;
`Schema.apply_declaration` is the only way to change one and it either applies whole or raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PROPERTY_KINDS = ("string", "enum", "number", "bool", "timestamp", "date", "set")
ATTRIBUTE_KINDS = ("string", "number", "bool", "timestamp", "list")
DEFAULT_SCALE = 2
MAX_SCALE = 9
MAX_ENUM_VALUES = 1024
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
# Declarations come from clients (SchemaService.Declare, declaration records): every declared name
# costs an index and a column on every shard, so their number is bounded (docs/LIMITS.md).
MAX_PROPERTIES = 1024
MAX_EVENT_TYPES = 1024
MAX_ATTRIBUTES_PER_EVENT = 256
# Words of the text rule grammar; a declared name may not be one of them, so every name parses.
RESERVED_WORDS = frozenset(
    {
        "and", "or", "not", "in", "exists", "count", "sum", "first", "last", "where", "all", "any",
        "all_time", "since", "between", "days", "hours", "in_segment", "true", "false",
        "contains", "starts_with", "ends_with", "has", "has_any", "has_all", "has_none",
        "before", "after", "on", "within_last", "more_than_ago",
    }
)


class SchemaError(ValueError):
    """A declaration that cannot be applied; `field` names the offending part."""

    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(f"{field_path}: {reason}")
        self.field = field_path
        self.reason = reason


@dataclass(frozen=True)
class ValueType:
    """Type of a property or an event attribute.

    kind: one of PROPERTY_KINDS / ATTRIBUTE_KINDS. scale: digits after the point for numbers.
    enum_values: allowed values for enums (ordered as declared).
    """

    kind: str
    scale: int = DEFAULT_SCALE
    enum_values: tuple[str, ...] = ()

    @property
    def is_string_like(self) -> bool:
        return self.kind in ("string", "enum")

    @property
    def is_time(self) -> bool:
        return self.kind in ("timestamp", "date")

    @property
    def is_multi(self) -> bool:
        """Set-valued: customer `set` properties and event `list` attributes."""
        return self.kind in ("set", "list")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        if self.kind == "number":
            out["scale"] = self.scale
        if self.kind == "enum":
            out["values"] = list(self.enum_values)
        return out


STRING = ValueType("string")
NUMBER = ValueType("number", scale=DEFAULT_SCALE)
BOOL = ValueType("bool")
TIMESTAMP = ValueType("timestamp")
DATE = ValueType("date")
SET = ValueType("set")
LIST = ValueType("list")


def enum(*values: str) -> ValueType:
    return ValueType("enum", enum_values=tuple(values))


CONSENT = enum("granted", "denied", "pending")

STANDARD_PROPERTIES: dict[str, ValueType] = {
    "email": STRING,
    "phone": STRING,
    "account_status": enum("has_account", "guest"),
    "account_state": enum("active", "passive"),
    "marketing_consent": CONSENT,
    "sms_consent": CONSENT,
    "consent_updated_at": TIMESTAMP,
    "tags": SET,
    "customer_groups": SET,
    "total_order_value": NUMBER,
    "b2b_status": enum("none", "pending", "approved"),
    "language": STRING,
    "country": STRING,
    "city": STRING,
    "account_activated_at": TIMESTAMP,
    "password_updated_at": TIMESTAMP,
    "birth_date": DATE,
    "created_at": TIMESTAMP,
}

# Kept by the engine from events; readable in rules, never writable by profile records.
COMPUTED_PROPERTIES: dict[str, ValueType] = {
    "order_count": ValueType("number", scale=0),
    "lifetime_value": NUMBER,
    "first_order_at": TIMESTAMP,
    "last_order_at": TIMESTAMP,
    "last_seen_at": TIMESTAMP,
}

# Properties whose string values are lower-cased on the way in (RECORDS.md).
LOWERCASED_PROPERTIES = frozenset({"email"})

_PRODUCT = {"product_id": STRING, "category": STRING, "brand": STRING}
_ORDER = {"order_id": STRING, "amount": NUMBER}

STANDARD_EVENTS: dict[str, dict[str, ValueType]] = {
    "product_viewed": {**_PRODUCT, "price": NUMBER, "device": STRING},
    "product_added_to_cart": {**_PRODUCT, "price": NUMBER, "quantity": NUMBER},
    "product_removed_from_cart": dict(_PRODUCT),
    "product_added_to_wishlist": {**_PRODUCT, "price": NUMBER},
    "product_reviewed": {"product_id": STRING, "rating": NUMBER},
    "order_created": {
        **_ORDER,
        "currency": STRING,
        "product_ids": LIST,
        "item_count": NUMBER,
        "coupon": STRING,
    },
    "order_delivered": dict(_ORDER),
    "order_refunded": dict(_ORDER),
    "order_cancelled": dict(_ORDER),
    "email_sent": {"campaign_id": STRING},
    "email_opened": {"campaign_id": STRING},
    "email_clicked": {"campaign_id": STRING, "url": STRING},
    "sms_clicked": {"campaign_id": STRING},
    "popup_form_filled": {"form_id": STRING},
    "subscribed": {"form_id": STRING, "channel": STRING},
    "session_started": {"device": STRING, "source": STRING},
    "page_viewed": {"url": STRING, "device": STRING},
    "category_viewed": {"category": STRING},
    "brand_viewed": {"brand": STRING},
    "search_performed": {"query": STRING},
    "checkout_step_viewed": {"step": STRING},
}


def _parse_type(spec: Any, path: str, allowed: tuple[str, ...]) -> ValueType:
    """Read a type from a declaration: "string" or {"type": "number", "scale": 0} etc."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise SchemaError(path, "type must be a string or an object with 'type'")
    kind = spec.get("type")
    if kind not in allowed:
        raise SchemaError(f"{path}.type", f"must be one of {', '.join(allowed)}")
    unknown = set(spec) - {"type", "scale", "values"}
    if unknown:
        raise SchemaError(path, f"unknown keys {sorted(unknown)}")
    scale = spec.get("scale", DEFAULT_SCALE)
    if kind == "number":
        if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= MAX_SCALE:
            raise SchemaError(f"{path}.scale", f"must be an integer 0..{MAX_SCALE}")
    elif "scale" in spec:
        raise SchemaError(f"{path}.scale", "only numbers have a scale")
    values: tuple[str, ...] = ()
    if kind == "enum":
        raw = spec.get("values")
        if not isinstance(raw, list) or not raw or len(raw) > MAX_ENUM_VALUES:
            raise SchemaError(f"{path}.values", f"must be a list of 1..{MAX_ENUM_VALUES} strings")
        # "surrogatepass" measures a lone surrogate instead of raising; the check below refuses it.
        if not all(isinstance(v, str) and 0 < len(v.encode("utf-8", "surrogatepass")) <= 1024 for v in raw):
            raise SchemaError(f"{path}.values", "every value must be a non-empty string of at most 1024 bytes")
        if not all(_encodable(v) for v in raw):
            raise SchemaError(f"{path}.values", "not valid Unicode text (a lone surrogate such as \\ud800)")
        if len(set(raw)) != len(raw):
            raise SchemaError(f"{path}.values", "values must be distinct")
        values = tuple(raw)
    elif "values" in spec:
        raise SchemaError(f"{path}.values", "only enums have values")
    return ValueType(kind, scale=scale if kind == "number" else DEFAULT_SCALE, enum_values=values)


def _check_name(name: Any, path: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SchemaError(path, "must match [a-z_][a-z0-9_]{0,63}")
    if name in RESERVED_WORDS:
        raise SchemaError(path, f"'{name}' is a reserved word of the rule language")
    return name


def _compatible(old: ValueType, new: ValueType) -> bool:
    """A re-declaration may repeat a type, or widen an enum by adding values at the end."""
    if old == new:
        return True
    return (
        old.kind == new.kind == "enum"
        and new.enum_values[: len(old.enum_values)] == old.enum_values
    )


@dataclass
class Schema:
    """Catalog + declarations of one workspace. Mutable only through apply_declaration."""

    properties: dict[str, ValueType] = field(default_factory=lambda: dict(STANDARD_PROPERTIES))
    events: dict[str, dict[str, ValueType]] = field(
        default_factory=lambda: {name: dict(attrs) for name, attrs in STANDARD_EVENTS.items()}
    )

    def property_type(self, name: str) -> ValueType | None:
        """Type of a stored or computed property, None when unknown."""
        return self.properties.get(name) or COMPUTED_PROPERTIES.get(name)

    def attribute_type(self, event: str, attr: str) -> ValueType | None:
        attrs = self.events.get(event)
        return None if attrs is None else attrs.get(attr)

    def check_declaration(self, body: Any, path: str = "declare") -> list[tuple[str, str, ValueType]]:
        """Validate a declaration body; return the changes as (kind, name, type) without applying.

        Body forms (the `declare` field of a declaration record, see docs/RECORDS_EXTENSIONS.md):
          {"property": NAME, "type": ...}
          {"event": NAME, "attributes": {ATTR: TYPE, ...}}   (new event type, or new attributes)
        """
        if not isinstance(body, dict):
            raise SchemaError(path, "must be an object")
        if "property" in body:
            unknown = set(body) - {"property", "type", "scale", "values"}
            if unknown:
                raise SchemaError(path, f"unknown keys {sorted(unknown)}")
            name = _check_name(body["property"], f"{path}.property")
            if name in COMPUTED_PROPERTIES:
                raise SchemaError(f"{path}.property", f"'{name}' is a computed property")
            spec = {k: body[k] for k in ("type", "scale", "values") if k in body}
            new = _parse_type(spec, path, PROPERTY_KINDS)
            old = self.properties.get(name)
            if old is not None and not _compatible(old, new):
                raise SchemaError(f"{path}.type", f"'{name}' is already declared as {old.to_json()}")
            if old is None and len(self.properties) >= MAX_PROPERTIES:
                raise SchemaError(f"{path}.property", f"{len(self.properties)} properties are declared; at most {MAX_PROPERTIES}")
            return [("property", name, new)]
        if "event" in body:
            unknown = set(body) - {"event", "attributes"}
            if unknown:
                raise SchemaError(path, f"unknown keys {sorted(unknown)}")
            event = _check_name(body["event"], f"{path}.event")
            attrs = body.get("attributes", {})
            if not isinstance(attrs, dict):
                raise SchemaError(f"{path}.attributes", "must be an object of name -> type")
            changes: list[tuple[str, str, ValueType]] = [("event", event, STRING)]
            if event not in self.events and len(self.events) >= MAX_EVENT_TYPES:
                raise SchemaError(f"{path}.event", f"{len(self.events)} event types are declared; at most {MAX_EVENT_TYPES}")
            existing = self.events.get(event, {})
            if len(set(existing) | set(attrs)) > MAX_ATTRIBUTES_PER_EVENT:
                raise SchemaError(f"{path}.attributes", f"more than {MAX_ATTRIBUTES_PER_EVENT} attributes for '{event}'")
            for attr_name, spec in attrs.items():
                attr_path = f"{path}.attributes.{attr_name}"
                _check_name(attr_name, attr_path)
                new = _parse_type(spec, attr_path, ATTRIBUTE_KINDS)
                old = existing.get(attr_name)
                if old is not None and not _compatible(old, new):
                    raise SchemaError(attr_path, f"already declared as {old.to_json()}")
                changes.append(("attribute", f"{event}.{attr_name}", new))
            return changes
        raise SchemaError(path, "must name a 'property' or an 'event'")

    def apply_declaration(self, body: Any, path: str = "declare") -> None:
        """Apply a declaration whole, or raise SchemaError and change nothing."""
        for kind, name, value_type in self.check_declaration(body, path):
            if kind == "property":
                self.properties[name] = value_type
            elif kind == "event":
                self.events.setdefault(name, {})
            else:
                event, attr = name.split(".", 1)
                self.events[event][attr] = value_type

    def copy(self) -> Schema:
        return Schema(
            properties=dict(self.properties),
            events={name: dict(attrs) for name, attrs in self.events.items()},
        )


def _encodable(text: str) -> bool:
    """Valid UTF-8 once encoded (found by the fuzzer: a lone surrogate in an enum value passed the
    declaration and then failed the log's encoding)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

"""Segment commands: validate a caller's command against the catalog and resolve it into the body the
log stores (a SegmentRecord), whose application can no longer fail.

Commands (the JSON-like form callers and the service use):

    {"op": "create", "id"?: ID, "name": str, "description"?: str, "rule": JSON | text,
     "tags"?: [str], "active"?: bool}
    {"op": "edit", "id": ID, and any of "name", "description", "rule", "tags", "active"}
    {"op": "rollback", "id": ID, "version": N}
    {"op": "delete", "id": ID}
    {"op": "attach_campaign", "id": ID, "campaign": str, "active"?: bool}
    {"op": "detach_campaign", "id": ID, "campaign": str}

Resolved bodies carry everything applying needs: create / edit / rollback hold the version number and
the whole new content (the rule as canonical JSON text), so `Catalog.apply` only copies. A create
without an id gets one generated from the catalog (`Catalog.generated_id`), which is part of the
resolved body: replay never generates anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

from indexes.rules import load_rule, rule_to_json
from indexes.rules.errors import RuleError, join
from indexes.rules.json_form import rule_from_json
from indexes.rules.model import Node, SegmentCondition
from indexes.rules.validate import model_children
from indexes.schema import Schema
from indexes.segments.catalog import (
    ATTACH,
    CREATE,
    DELETE,
    DETACH,
    EDIT,
    OPS,
    ROLLBACK,
    Catalog,
    SegmentContent,
)
from indexes.segments.errors import (
    SegmentConflictError,
    SegmentError,
    SegmentInUseError,
    SegmentLimitError,
    SegmentNotFoundError,
)
from indexes.segments.export_schedules import EXPORT_OPS, resolve_export_command
from indexes.segments.graph import MAX_GRAPH_STEPS, path_between

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
NAME_MAX_CHARS = 200
DESCRIPTION_MAX_CHARS = 4000
TAG_MAX_CHARS = 64
MAX_TAGS = 50
MAX_LIVE_SEGMENTS = 10_000  # per workspace; a create beyond it is SegmentLimitError (RESOURCE_EXHAUSTED)
CAMPAIGN_MAX_CHARS = 128
CONTENT_FIELDS = ("name", "description", "rule", "tags", "active")
_FIELDS = {
    CREATE: {"op", "id", *CONTENT_FIELDS},
    EDIT: {"op", "id", *CONTENT_FIELDS},
    ROLLBACK: {"op", "id", "version"},
    DELETE: {"op", "id"},
    ATTACH: {"op", "id", "campaign", "active"},
    DETACH: {"op", "id", "campaign"},
}


def canonical_rule_text(rule: Node) -> str:
    """The stored form of a rule: its canonical JSON (rule_to_json), keys sorted, no spaces."""
    return json.dumps(rule_to_json(rule), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def resolve_command(command: Any, catalog: Catalog, schema: Schema) -> dict:
    """The body to append for `command`, or SegmentError (and its kinds) / RuleError saying why not."""
    if not isinstance(command, dict):
        raise SegmentError("", "a segment command is an object with an 'op'")
    op = command.get("op")
    if op not in OPS:
        raise SegmentError("op", f"unknown op {op!r}; one of {', '.join(OPS)}")
    if op in EXPORT_OPS:
        return resolve_export_command(command, catalog, schema)
    for key in command:
        if key not in _FIELDS[op]:
            raise SegmentError(str(key), f"not a field of {op}")
    if op == CREATE:
        return _create(command, catalog, schema)
    segment = catalog.require(_id(command.get("id")))
    segment_id = segment.id
    if op == EDIT:
        changes = {key: command[key] for key in CONTENT_FIELDS if key in command}
        if not changes:
            raise SegmentError("", f"an edit names at least one of {', '.join(CONTENT_FIELDS)}")
        content = _content(changes, segment.current.content, segment_id, catalog, schema)
        return _version_body(EDIT, segment_id, len(segment.versions) + 1, content)
    if op == ROLLBACK:
        version = command.get("version")
        if type(version) is not int:
            raise SegmentError("version", "must be a whole number")
        if not 1 <= version <= len(segment.versions):
            raise SegmentNotFoundError("version", f"segment {segment_id!r} has versions 1..{len(segment.versions)}")
        old = segment.versions[version - 1].content
        # The old content must still hold today: its segments live, no cycle, its name free.
        content = _content({"rule": json.loads(old.rule), "name": old.name}, old, segment_id, catalog, schema)
        body = _version_body(ROLLBACK, segment_id, len(segment.versions) + 1, content)
        body["from_version"] = version
        return body
    if op == DELETE:
        campaigns, segments = catalog.users(segment_id)
        if campaigns or segments:
            raise SegmentInUseError(segment_id, campaigns, segments)
        return {"op": DELETE, "id": segment_id}
    campaign = _text(command.get("campaign"), "campaign", CAMPAIGN_MAX_CHARS, allow_empty=False)
    if op == ATTACH:
        active = command.get("active", True)
        if type(active) is not bool:
            raise SegmentError("active", "must be true or false")
        return {"op": ATTACH, "id": segment_id, "campaign": campaign, "active": active}
    assert op == DETACH
    if campaign not in segment.campaigns:
        raise SegmentNotFoundError("campaign", f"campaign {campaign!r} is not attached to segment {segment_id!r}")
    return {"op": DETACH, "id": segment_id, "campaign": campaign}


def _create(command: dict, catalog: Catalog, schema: Schema) -> dict:
    given = command.get("id")
    if given is None:
        segment_id = catalog.generated_id()
    else:
        segment_id = _id(given)
        if segment_id in catalog.segments:  # deleted ones too: ids are never reused
            raise SegmentConflictError("id", f"segment id {segment_id!r} is taken")
    for key in ("name", "rule"):
        if key not in command:
            raise SegmentError(key, "required")
    live = sum(1 for existing in catalog.segments if catalog.live(existing) is not None)
    if live >= MAX_LIVE_SEGMENTS:
        raise SegmentLimitError("", f"{live} live segments; at most {MAX_LIVE_SEGMENTS}: delete one first")
    blank = SegmentContent(name="", description="", rule="", tags=(), active=True)
    changes = {key: command[key] for key in CONTENT_FIELDS if key in command}
    content = _content(changes, blank, segment_id, catalog, schema)
    return _version_body(CREATE, segment_id, 1, content)


def _version_body(op: str, segment_id: str, version: int, content: SegmentContent) -> dict:
    return {"op": op, "id": segment_id, "version": version, "name": content.name,
            "description": content.description, "rule": content.rule, "tags": list(content.tags),
            "active": content.active}


def _content(changes: dict, base: SegmentContent, segment_id: str, catalog: Catalog, schema: Schema) -> SegmentContent:
    """`base` with `changes` applied, each validated; the rule against the schema and the graph."""
    name, description, rule, tags, active = base.name, base.description, base.rule, base.tags, base.active
    if "name" in changes:
        name = _text(changes["name"], "name", NAME_MAX_CHARS, allow_empty=False)
        owner = catalog.name_owner(name)
        if owner is not None and owner != segment_id:
            raise SegmentConflictError("name", f"segment {owner!r} is already named {name!r}")
    if "description" in changes:
        description = _text(changes["description"], "description", DESCRIPTION_MAX_CHARS, allow_empty=True)
    if "tags" in changes:
        tags = _tags(changes["tags"])
    if "active" in changes:
        if type(changes["active"]) is not bool:
            raise SegmentError("active", "must be true or false")
        active = changes["active"]
    if "rule" in changes:
        rule = canonical_rule_text(validate_segment_rule(changes["rule"], segment_id, catalog, schema))
    return SegmentContent(name, description, rule, tags, active)


def validate_segment_rule(rule: Any, segment_id: str | None, catalog: Catalog, schema: Schema) -> Node:
    """A rule for segment `segment_id` (None: not saved anywhere, e.g. a template check): valid for
    the schema, its segment nodes naming live segments, and no cycle through `segment_id`."""
    model = rule_from_json(rule, schema, catalog.is_live) if isinstance(rule, dict) else load_rule(
        rule, schema, catalog.is_live
    )
    if segment_id is None:
        return model
    for path, upstream in segment_nodes(model):
        cycle = path_between(upstream, segment_id, catalog.refs_of)
        if cycle is not None:
            loop = " -> ".join([segment_id, *cycle])
            raise RuleError(join(path, "segment"), f"segment {upstream!r} closes a cycle: {loop}")
    return model


def segment_nodes(rule: Node) -> list[tuple[str, str]]:
    """(path, segment id) of every segment node, in document order."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Node]] = [("", rule)]
    steps = 0
    while stack:
        steps += 1
        assert steps <= MAX_GRAPH_STEPS, "rule walk does not end"
        path, node = stack.pop()
        if isinstance(node, SegmentCondition):
            out.append((path, node.segment))
        stack.extend(reversed([(join(path, part), child) for part, child in model_children(node)]))  # type: ignore[misc]
    return out


def _id(value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise SegmentError("id", "must be 1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit")
    return value


def _text(value: Any, field: str, max_chars: int, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise SegmentError(field, "must be a string")
    if not allow_empty and not value.strip():
        raise SegmentError(field, "must not be empty")
    if len(value) > max_chars:
        raise SegmentError(field, f"longer than {max_chars} characters")
    return value


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise SegmentError("tags", "must be a list of strings")
    if len(value) > MAX_TAGS:
        raise SegmentError("tags", f"more than {MAX_TAGS} tags")
    for i, tag in enumerate(value):
        _text(tag, f"tags[{i}]", TAG_MAX_CHARS, allow_empty=False)
    return tuple(sorted(set(value)))

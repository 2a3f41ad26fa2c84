"""Saved segments between protobuf (segments.proto) and the backend's values (actors/api_segments.py).

Requests become the engine's command dicts (indexes/segments/commands.py), which the backend
validates; the only checks here are those of the wire form (a rule that is not JSON, a template and a
rule both given). Segment errors name engine fields ("id", "campaign"); `request_field` turns them
into the request's field names for google.rpc.BadRequest.
"""

from __future__ import annotations

import json
from typing import Any

from actors.api_segments import ClusterChange
from indexes.segments.templates import Template
from indexes.segments.views import SegmentView
from proto.segments.v1 import query_pb2, segments_pb2
from service.convert_rules import DecodedRule, rule_from_pb
from service.errors import InvalidArgument

REASONS = {
    "event": segments_pb2.CHANGE_REASON_EVENT,
    "profile": segments_pb2.CHANGE_REASON_PROFILE,
    "erasure": segments_pb2.CHANGE_REASON_ERASURE,
    "time": segments_pb2.CHANGE_REASON_TIME,
    "rule_edit": segments_pb2.CHANGE_REASON_RULE_EDIT,
    "activated": segments_pb2.CHANGE_REASON_ACTIVATED,
    "dependency": segments_pb2.CHANGE_REASON_DEPENDENCY,
}
REASON_NAMES = {number: name for name, number in REASONS.items()}
# Engine field names (SegmentError.field) -> request field names.
_FIELDS = {"id": "segment_id", "campaign": "campaign_id", "template": "template_id", "limit": "page_size"}


def request_field(engine_field: str) -> str:
    head, dot, rest = engine_field.partition(".")
    bracket = head.find("[")
    base, index = (head, "") if bracket < 0 else (head[:bracket], head[bracket:])
    return _FIELDS.get(base, base) + index + dot + rest


def json_rule_pb(rule: dict[str, Any]) -> query_pb2.Rule:
    return query_pb2.Rule(json=json.dumps(rule, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def segment_pb(view: SegmentView) -> segments_pb2.Segment:
    message = segments_pb2.Segment(
        segment_id=view.id, version=view.version, latest_version=view.latest_version, name=view.name,
        description=view.description, rule=json_rule_pb(view.rule), rule_text=view.rule_text, tags=list(view.tags),
        active=view.active, created_at_ms=view.created_at_ms, version_at_ms=view.version_at_ms,
        updated_at_ms=view.updated_at_ms, op=view.op, deleted=view.deleted,
        campaigns=[segments_pb2.CampaignRef(campaign_id=c, active=a) for c, a in view.campaigns],
    )
    if view.from_version is not None:
        message.from_version = view.from_version
    return message


def template_pb(template: Template, rule_text: str) -> segments_pb2.Template:
    return segments_pb2.Template(template_id=template.id, name=template.name, description=template.description,
                                 tags=list(template.tags), rule=json_rule_pb(template.rule), rule_text=rule_text)


def change_pb(change: ClusterChange) -> segments_pb2.SegmentChange:
    entry = change.entry
    message = segments_pb2.SegmentChange(
        segment_id=entry.segment_id, customer_id=entry.customer_id or "", entered=entry.entered, at_ms=entry.at_ms,
        reason=REASONS[entry.reason], event_id=entry.event_id or "", upstream_segment_id=entry.upstream or "",
        shard=change.shard, seq=entry.seq,
    )
    if entry.version is not None:
        message.version = entry.version
    return message


def decoded_rule(message: Any, field: str = "rule") -> DecodedRule | None:
    """The request's rule, or None when unset."""
    return rule_from_pb(message.rule, field) if message.HasField("rule") else None


def create_command(request: segments_pb2.CreateSegmentRequest, template: Template | None) -> tuple[dict, DecodedRule | None]:
    """The create command, and the rule as sent (for error paths; None when copied from the template)."""
    rule = decoded_rule(request)
    command: dict[str, Any] = {"op": "create"}
    if request.segment_id:
        command["id"] = request.segment_id
    if template is not None:
        if rule is not None:
            raise InvalidArgument([("rule", "leave it unset with template_id: the template's rule is copied")])
        command.update(name=request.name or template.name, description=request.description or template.description,
                       tags=list(request.tags) or list(template.tags), rule=template.rule)
    else:
        if rule is None:
            raise InvalidArgument([("rule", "required (or template_id)")])
        command.update(name=request.name, description=request.description, tags=list(request.tags), rule=rule.value)
    command["active"] = request.active if request.HasField("active") else True
    return command, rule


def edit_command(request: segments_pb2.EditSegmentRequest) -> tuple[dict, DecodedRule | None]:
    rule = decoded_rule(request)
    command: dict[str, Any] = {"op": "edit", "id": request.segment_id}
    for key in ("name", "description", "active"):
        if request.HasField(key):
            command[key] = getattr(request, key)
    if rule is not None:
        command["rule"] = rule.value
    if request.set_tags:
        command["tags"] = list(request.tags)
    elif request.tags:
        raise InvalidArgument([("set_tags", "tags given without set_tags: say set_tags to replace the tags")])
    return command, rule

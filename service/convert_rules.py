"""segments.v1.Rule -> what the backend takes (text, or the JSON form as a dict), and rule error paths.

Parsing and validation are the backend's (indexes.rules); here the JSON text is only decoded, so
that a JSON rule is never mistaken for the text form, and a rule's errors are named as fields of
the request: `rule.all[2].count.value` for a node path, `rule.text` / `rule.json` for the whole rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from indexes.rules.errors import RuleError, join
from indexes.rules.json_text import loads_rule_json
from proto.segments.v1 import query_pb2
from service.errors import InvalidArgument
from service.limits import MAX_RULE_BYTES
from service.page_token import rule_digest


@dataclass(frozen=True)
class DecodedRule:
    value: str | dict[str, Any]  # what the backend's `rule` parameter takes
    form: str  # "text" or "json"
    digest: bytes  # of the rule as sent (page tokens)


def rule_from_pb(rule: query_pb2.Rule, field: str = "rule") -> DecodedRule:
    form = rule.WhichOneof("form")
    if form is None:
        raise InvalidArgument([(field, "required: the rule's text or json")])
    content: str = getattr(rule, form)
    if len(content) > MAX_RULE_BYTES // 4 and len(content.encode("utf-8")) > MAX_RULE_BYTES:
        raise InvalidArgument([(f"{field}.{form}", f"longer than {MAX_RULE_BYTES} bytes")])
    if not content.strip():
        raise InvalidArgument([(f"{field}.{form}", "empty rule")])
    value: str | dict[str, Any] = content
    if form == "json":
        try:
            value = loads_rule_json(content)  # nesting depth checked before json.loads recurses
        except RuleError as exc:
            raise InvalidArgument([(f"{field}.json", exc.reason.partition("\n")[0])]) from None
        if not isinstance(value, dict):
            raise InvalidArgument([(f"{field}.json", "a rule is a JSON object")])
    return DecodedRule(value, form, rule_digest(form, content))


def rule_error(exc: RuleError, rule: DecodedRule, field: str = "rule") -> InvalidArgument:
    """A backend RuleError as a field violation: the node path under `rule`, or the rule's form."""
    path = join(field, exc.path) if exc.path else f"{field}.{rule.form}"
    return InvalidArgument([(path, exc.reason)], message=f"invalid rule: {path}: {exc.reason}")

"""Rule language: model, JSON form, text form, one validator (RULES.md, docs/RULE_GRAMMAR.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from indexes.rules.errors import RuleError, RuleSyntaxError
from indexes.rules.json_form import rule_from_json, rule_to_json
from indexes.rules.json_text import loads_rule_json
from indexes.rules.model import GROUP_TYPES, LEAF_TYPES, Node
from indexes.rules.text_form import format_rule, parse_rule
from indexes.rules.validate import validate_rule
from indexes.schema import Schema


def load_rule(
    rule: Node | dict | str | Any, schema: Schema, segment_exists: Callable[[str], bool] | None = None
) -> Node:
    """A model, a JSON dict, JSON text (starting with '{') or the text form -> validated model."""
    if isinstance(rule, (*GROUP_TYPES, *LEAF_TYPES)):
        validate_rule(rule, schema, segment_exists)
        return rule
    if isinstance(rule, dict):
        return rule_from_json(rule, schema, segment_exists)
    if isinstance(rule, str):
        if rule.lstrip().startswith("{"):
            return rule_from_json(loads_rule_json(rule), schema, segment_exists)
        return parse_rule(rule, schema, segment_exists)
    raise RuleError("", "a rule is a model, a JSON object, or text")


__all__ = [
    "RuleError",
    "RuleSyntaxError",
    "format_rule",
    "load_rule",
    "loads_rule_json",
    "parse_rule",
    "rule_from_json",
    "rule_to_json",
    "validate_rule",
]

"""Rule language: model, JSON form, text form, one validator (RULES.md, docs/RULE_GRAMMAR.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from indexes.rules.errors import RuleError, RuleSyntaxError
from indexes.rules.json_form import rule_from_json, rule_to_json
from indexes.rules.model import GROUP_TYPES, LEAF_TYPES, MAX_DEPTH, Node
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
            return rule_from_json(_loads(rule), schema, segment_exists)
        return parse_rule(rule, schema, segment_exists)
    raise RuleError("", "a rule is a model, a JSON object, or text")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleSyntaxError(exc.lineno, exc.colno, [f"valid JSON ({exc.msg})"]) from None
    except RecursionError:
        # json's C scanner gives up near 1000 levels; the rule limit is far below that anyway.
        raise RuleError("", f"nested more than {MAX_DEPTH} levels deep") from None


__all__ = [
    "RuleError",
    "RuleSyntaxError",
    "format_rule",
    "load_rule",
    "parse_rule",
    "rule_from_json",
    "rule_to_json",
    "validate_rule",
]

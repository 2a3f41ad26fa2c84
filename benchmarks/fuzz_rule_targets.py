"""Fuzz targets of the rule readers: the text form (raw and grammar tokens) and the JSON form (raw
JSON text and edited valid rules). A parsed rule must format and parse back to itself."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from benchmarks.fuzz_inputs import Choices, edit_tree, input_text, schema
from indexes.rules import RuleError, format_rule, loads_rule_json, parse_rule, rule_from_json, rule_to_json

KNOWN_SEGMENTS = frozenset({"vip", "lapsed-buyers"})


def _segment_exists(segment_id: str) -> bool:
    return segment_id in KNOWN_SEGMENTS


def _round_trip(rule: Any) -> None:
    text = format_rule(rule)
    assert parse_rule(text, schema(), _segment_exists) == rule, f"text round trip changed the rule: {text!r:.200}"
    assert rule_from_json(rule_to_json(rule), schema(), _segment_exists) == rule, "JSON round trip changed the rule"


def rule_text_value(text: str) -> None:
    """The text form, as Preview/Count/CreateSegment read it (rule.text)."""
    try:
        rule = parse_rule(text, schema(), _segment_exists)
    except RuleError:
        return
    _round_trip(rule)


def rule_text(data: bytes) -> None:
    rule_text_value(input_text(data))


def rule_json_value(value: Any) -> None:
    """A decoded JSON value as a rule (the JSON form of rule.json, or a CLI's rule file)."""
    if not isinstance(value, dict):
        return
    try:
        rule = rule_from_json(value, schema(), _segment_exists)
    except RuleError:
        return
    _round_trip(rule)


def rule_json(data: bytes) -> None:
    """JSON text as the service decodes rule.json (nesting checked first), then the JSON form."""
    try:
        value = loads_rule_json(input_text(data))
    except RuleError:
        return
    rule_json_value(value)


RULE_TEXTS = [
    'country = "TR" and count(order_created, last 30 days) >= 2',
    'not (tags has_any ("vip", "newsletter") or email ends_with "@x.com")',
    'sum(order_created.amount where currency = "EUR", since 2026-01-01) between 10.5 and 99',
    'first(product_viewed where category in ("shoes", "bags")) within_last 7 days',
    'last(order_created) more_than_ago 90 days and in_segment("vip")',
    'any(total_order_value > 1000, all(language = "tr", city starts_with "Ist"))',
    'count(product_viewed where price >= 5.5, between 2026-10-01 and 2026-10-31) = 0',
    'marketing_consent in ("granted") and not phone exists  # a comment',
]


RULE_TOKENS = ["(", ")", ",", "not", "and", "or", "all", "any", "count", "sum", "first", "last", "in_segment",
               "where", "since", "between", "days", "hours", "all_time", "=", "!=", ">=", "<", "in", "has_any",
               "contains", "within_last", "more_than_ago", "exists", "not_exists", "before", "after", "true", "false",
               "country", "tags", "email", "total_order_value", "order_created", "product_viewed", "amount",
               "category", ".", '"TR"', '"vip"', '"\\ud800"', '"\\u00e7"', "1", "0", "-5", "10.25",
               "99999999999999999999", "2026-01-31", "2026-02-30", "#c\n", "\n", "\t"]


def rule_tokens(data: bytes) -> None:
    """Grammar-shaped text: every byte picks a token of the rule language."""
    choices = Choices(data)
    tokens: list[str] = []
    while choices.left() and len(tokens) < 400:
        tokens.append(choices.pick(RULE_TOKENS))
    rule_text_value(" ".join(tokens))


RULE_KEYS = ["all", "any", "not", "property", "op", "value", "event", "where", "attr", "count", "sum", "first",
             "last", "window", "days", "hours", "since", "between", "segment", "x"]


@lru_cache(maxsize=1)
def _seed_rules_json() -> tuple[dict, ...]:
    from indexes.rules.text_form import parse_unvalidated

    return tuple(rule_to_json(parse_unvalidated(text)) for text in RULE_TEXTS)


def rule_json_shaped(data: bytes) -> None:
    """A valid rule's JSON form with up to four edits (rule keys, edge scalars), as a decoded rule.json."""
    choices = Choices(data)
    value: Any = choices.pick(_seed_rules_json())
    for _ in range(1 + choices.byte() % 4):
        value = edit_tree(value, choices, RULE_KEYS)
    rule_json_value(value)

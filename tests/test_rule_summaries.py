"""Plain-language rule summaries (indexes/rules/summary*.py): golden sentences in en / tr / de for
every node kind and every seed-suite rule, exact negation (checked on truth tables and on counts), and
no failure or nondeterminism on any valid rule.

Regenerate the goldens after a deliberate wording change, then read the diff:
    SUMMARY_GOLDEN_WRITE=1 .venv/bin/python -m pytest -q tests/test_rule_summaries.py
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.rules import load_rule
from indexes.rules.model import COUNT_OPS, All, AnyOf, Count, Node, Not
from indexes.rules.summary import (
    LANGUAGES,
    CountForm,
    Group,
    Phrase,
    Summary,
    count_form,
    normal_form,
    summarize,
)
from tests.paths import SEED_SUITE
from tests.strategies_rules import extended_schema, rules

GOLDEN = Path(__file__).parent / "golden" / "rule_summaries.json"

# One rule per node kind and op (text form, docs/RULE_GRAMMAR.md), negations and nesting included.
NODE_KIND_RULES = [
    'country = "TR"', 'country != "TR"', 'language in ("tr", "en", "de")', 'language not_in ("tr")',
    'city contains "ist"', 'phone starts_with "+90"', 'email ends_with "edu.com.tr"', "city exists",
    "city not_exists", "total_order_value > 100", "total_order_value >= 100.50", "total_order_value < 5",
    "total_order_value <= 5", "total_order_value between 10 and 20", 'account_state = "passive"',
    "newsletter = true", "newsletter = false", "consent_updated_at before 2026-01-01",
    "consent_updated_at after 2026-01-01", "birth_date on 1990-05-17",
    "created_at between 2026-01-01 and 2026-03-31", "created_at within_last 30 days",
    "created_at within_last 1 days", "created_at within_last 6 hours", "last_seen_at more_than_ago 90 days",
    'tags has "vip"', 'tags has_any ("vip", "gold")', 'tags has_all ("vip", "gold")',
    'tags has_none ("blacklist")', "tags exists", "tags not_exists",
    "count(order_created) >= 1", "count(order_created) = 0", "count(order_created) > 3",
    "count(order_created) < 3", "count(order_created) <= 1", "count(order_created) = 1",
    "count(order_created) != 2", "count(order_created) between 2 and 5", "count(order_created) between 0 and 4",
    "count(order_created, last 30 days) = 0", "count(product_viewed, last 1 days) >= 1",
    "count(page_viewed, last 12 hours) >= 2", "count(page_viewed, last 1 hours) >= 1",
    "count(order_created, since 2026-01-01) >= 1", "count(order_created, between 2026-01-01 and 2026-06-30) >= 2",
    'count(product_viewed where category in ("shoes", "bags"), last 2 days) > 3',
    'count(order_created where product_ids has_any ("p-1", "p-7") and amount >= 100) >= 1',
    "sum(order_created.amount, last 365 days) >= 1000", "sum(order_refunded.amount) between 10 and 50",
    "last(order_created) more_than_ago 90 days", "first(order_created) within_last 30 days",
    "last(email_opened, last 365 days) before 2026-06-01", "first(session_started) on 2026-02-14",
    "not country = \"TR\"", "not city contains \"ist\"", "not total_order_value between 10 and 20",
    "not tags has \"vip\"", "not tags has_any (\"vip\", \"gold\")", "not tags has_all (\"vip\", \"gold\")",
    "not tags exists", "not created_at within_last 30 days",
    "not count(order_created) >= 3", "not count(order_created) between 2 and 5",
    "not sum(order_created.amount, last 365 days) >= 1000", "not last(order_created) more_than_ago 90 days",
    'in_segment("seg_vip")', 'not in_segment("seg_blacklist")',
    'count(app_opened) >= 1 and count(ping, last 3 days) = 0',
    'not (country = "TR" and count(order_created) >= 1)',
    'not (country = "TR" or not tags has "vip")',
    '(country = "TR" or country = "DE") and (count(order_created) >= 2 or tags has "vip")',
    'country = "TR" and (city = "Istanbul" or (count(order_created) >= 1 and not in_segment("seg_vip")))',
    'count(product_added_to_wishlist) >= 1 and count(order_created, last 30 days) = 0 '
    'and marketing_consent = "granted"',
]


def _load(rule: object) -> Node:
    return load_rule(rule, extended_schema(), lambda _segment: True)


def _seed_rules() -> list[tuple[str, object]]:
    suite = json.loads(SEED_SUITE.read_text())
    return [(query["id"], query["rule"]) for query in suite["queries"]]


def _all_summaries() -> dict[str, dict[str, str]]:
    cases: list[tuple[str, object]] = [(text, text) for text in NODE_KIND_RULES] + _seed_rules()
    return {name: {lang: summarize(_load(rule), lang) for lang in LANGUAGES} for name, rule in cases}


def test_summaries_match_the_goldens() -> None:
    actual = _all_summaries()
    if os.environ.get("SUMMARY_GOLDEN_WRITE"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(actual) == set(expected)
    for name, by_language in expected.items():
        assert actual[name] == by_language, name


def test_the_issue_example_reads_as_asked() -> None:
    rule = _load('marketing_consent = "granted" and count(product_added_to_wishlist) >= 1 '
                 "and count(order_created, last 30 days) = 0")
    assert summarize(rule, "en") == (
        'Customers whose e-mail marketing consent is "granted", who added a product to their wishlist '
        "and who did not place any orders in the last 30 days."
    )


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="fr"):
        summarize(_load('country = "TR"'), "fr")


# --- exactness of the parts that decide meaning ------------------------------------------------
def _truth(rule: Node, values: dict[Node, bool]) -> bool:
    if isinstance(rule, All):
        return all(_truth(child, values) for child in rule.nodes)
    if isinstance(rule, AnyOf):
        return any(_truth(child, values) for child in rule.nodes)
    if isinstance(rule, Not):
        return not _truth(rule.node, values)
    return values[rule]


def _summary_truth(summary: Summary, values: dict[Node, bool]) -> bool:
    if isinstance(summary, Phrase):
        return values[summary.node] != summary.negated
    parts = (_summary_truth(part, values) for part in summary.parts)
    return all(parts) if summary.kind == "all" else any(parts)


def _leaves(rule: Node) -> list[Node]:
    if isinstance(rule, (All, AnyOf)):
        return [leaf for child in rule.nodes for leaf in _leaves(child)]
    if isinstance(rule, Not):
        return _leaves(rule.node)
    return [rule]


@settings(max_examples=300, deadline=None)
@given(rules(extended_schema(), allow_segments=True, max_leaves=8), st.randoms(use_true_random=False))
def test_normal_form_has_the_rule_truth_table(rule: Node, rng: random.Random) -> None:
    """Pushing `not` down and merging groups keeps the meaning, for every assignment of the leaves."""
    summary = normal_form(rule)
    leaves = list(dict.fromkeys(_leaves(rule)))
    assignments = [{leaf: rng.random() < 0.5 for leaf in leaves} for _ in range(16)]
    for values in assignments:
        assert _summary_truth(summary, values) == _truth(rule, values)
    _assert_no_single_part_groups(summary)


def _assert_no_single_part_groups(summary: Summary) -> None:
    if isinstance(summary, Group):
        assert len(summary.parts) >= 2
        for part in summary.parts:
            assert not (isinstance(part, Group) and part.kind == summary.kind), "same-kind groups merge"
            _assert_no_single_part_groups(part)


def _form_holds(form: CountForm, count: int) -> bool:
    kind, low, high = form.kind, form.low, form.high
    return {
        "some": count >= 1, "none": count == 0, "at_least": count >= low, "more_than": count > low,
        "at_most": count <= low, "fewer_than": count < low, "exactly": count == low,
        "not_exactly": count != low, "between": low <= count <= high, "outside": count < low or count > high,
        "anything": True, "impossible": False,
    }[kind]


def _op_holds(op: str, value: int | tuple[int, int], count: int) -> bool:
    if op == "between":
        assert isinstance(value, tuple)
        return value[0] <= count <= value[1]
    assert isinstance(value, int)
    return {"eq": count == value, "neq": count != value, "gt": count > value, "gte": count >= value,
            "lt": count < value, "lte": count <= value}[op]


@pytest.mark.parametrize("negated", [False, True])
@pytest.mark.parametrize("op", COUNT_OPS)
def test_count_wording_is_exact(op: str, negated: bool) -> None:
    """Every count comparison and its negation, as worded, holds for exactly the same counts."""
    values: list[int | tuple[int, int]] = (
        [(low, high) for low in range(0, 6) for high in range(0, 6)] if op == "between" else list(range(0, 6))
    )
    for value in values:
        form = count_form(Count(op, value), negated)
        for count in range(0, 12):
            assert _form_holds(form, count) == (_op_holds(op, value, count) != negated), (op, value, negated, form)


@settings(max_examples=200, deadline=None)
@given(rules(extended_schema(), allow_segments=True, max_leaves=6))
def test_every_valid_rule_has_a_summary_in_every_language(rule: Node) -> None:
    for lang in LANGUAGES:
        text = summarize(rule, lang)
        assert text == summarize(rule, lang)
        assert text.endswith(".") and "None" not in text and "  " not in text

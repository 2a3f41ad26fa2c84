"""Rule errors name the node path (RULES.md "Errors"); nothing is evaluated half-way."""

from __future__ import annotations

import pytest

from indexes.rules import RuleError, RuleSyntaxError, load_rule, parse_rule
from indexes.schema import Schema

SCHEMA = Schema()
WISH = {"event": "product_added_to_wishlist", "count": {"op": "gte", "value": 1}}


def _third(node: dict) -> dict:
    return {"all": [{"property": "country", "op": "eq", "value": "TR"}, WISH, node]}


CASES = [
    (_third({"property": "colour", "op": "eq", "value": "red"}), "all[2].property"),
    (_third({"event": "order_created", "count": {"op": "gte", "value": -1}}), "all[2].count.value"),
    (_third({"event": "order_created", "count": {"op": "gte", "value": 1.5}}), "all[2].count.value"),
    (_third({"event": "order_created", "count": {"op": "about", "value": 1}}), "all[2].count.op"),
    (_third({"event": "order_created", "window": {"last": {"days": 0}}}), "all[2].window.last.days"),
    (_third({"event": "order_created", "window": {"last": {"days": 3661}}}), "all[2].window.last.days"),
    (_third({"event": "order_created", "window": {"last": {"hours": 87841}}}), "all[2].window.last.hours"),
    (_third({"event": "order_created", "window": {"between": ["2026-02-01", "2026-01-01"]}}), "all[2].window.between"),
    (_third({"event": "order_made"}), "all[2].event"),
    (_third({"event": "order_created", "where": [{"attr": "colour", "op": "eq", "value": "x"}]}), "all[2].where[0].attr"),
    (_third({"event": "order_created", "where": [{"attr": "amount", "op": "contains", "value": "x"}]}), "all[2].where[0].op"),
    (_third({"event": "order_created", "where": [{"attr": "amount", "op": "gt", "value": "ten"}]}), "all[2].where[0].value"),
    (_third({"event": "order_created", "sum": {"attr": "currency", "op": "gt", "value": 1}}), "all[2].sum.attr"),
    (_third({"event": "order_created", "sum": {"attr": "amount", "op": "gt", "value": 1.001}}), "all[2].sum.value"),
    (_third({"event": "order_created", "count": {"op": "gte", "value": 1}, "sum": {"attr": "amount", "op": "gt", "value": 1}}), "all[2].sum"),
    (_third({"event": "order_created", "last": {"op": "within_last", "value": {"weeks": 2}}}), "all[2].last.value"),
    (_third({"property": "marketing_consent", "op": "eq", "value": "yes"}), "all[2].value"),
    (_third({"property": "marketing_consent", "op": "in", "value": ["granted", "maybe"]}), "all[2].value[1]"),
    (_third({"property": "total_order_value", "op": "contains", "value": "1"}), "all[2].op"),
    (_third({"property": "total_order_value", "op": "gt", "value": True}), "all[2].value"),
    (_third({"property": "total_order_value", "op": "between", "value": [5, 1]}), "all[2].value"),
    (_third({"property": "tags", "op": "has_any", "value": []}), "all[2].value"),
    (_third({"property": "birth_date", "op": "before", "value": "1990-13-01"}), "all[2].value"),
    (_third({"property": "country", "op": "exists", "value": "TR"}), "all[2].value"),
    (_third({"any": []}), "all[2].any"),
    ({"any": [WISH, {"segment": "seg_unknown"}]}, "any[1].segment"),
    ({"not": {"all": [WISH, {"property": "tags", "op": "has", "value": 3}]}}, "not.all[1].value"),
    ({"nothing": 1}, ""),
]


@pytest.mark.parametrize(("rule", "path"), CASES)
def test_error_names_the_node_path(rule: dict, path: str) -> None:
    with pytest.raises(RuleError) as caught:
        load_rule(rule, SCHEMA)
    assert caught.value.path == path, str(caught.value)


def test_depth_and_size_limits_are_clean_errors() -> None:
    deep: dict = WISH
    for _ in range(10_000):
        deep = {"not": deep}
    with pytest.raises(RuleError, match="64 levels"):
        load_rule(deep, SCHEMA)
    ok: dict = WISH
    for _ in range(63):
        ok = {"not": ok}
    load_rule(ok, SCHEMA)
    with pytest.raises(RuleError, match="1000 nodes"):
        load_rule({"any": [WISH] * 1001}, SCHEMA)
    with pytest.raises(RuleError, match="64 levels"):
        load_rule("not " * 70 + "country exists", SCHEMA)


def test_text_errors_give_line_column_and_expectation() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule('country = "TR"\n  and tags has "vip"\n  and count(order_created, last 30 dayz) = 0', SCHEMA)
    error = caught.value
    assert (error.line, error.column) == (3, 36)
    assert "'days'" in " ".join(error.expected)


def test_text_validation_uses_json_paths() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule('country = "TR" and count(order_created, last 0 days) = 1', SCHEMA)
    assert caught.value.path == "all[1].window.last.days"


def test_the_rules_md_examples_parse() -> None:
    first = parse_rule(
        'marketing_consent = "granted"\n  and count(product_added_to_wishlist) >= 1\n'
        "  and count(order_created, last 30 days) = 0", SCHEMA)
    assert first == load_rule({"all": [
        {"property": "marketing_consent", "op": "eq", "value": "granted"},
        {"event": "product_added_to_wishlist", "count": {"op": "gte", "value": 1}, "window": "all_time"},
        {"event": "order_created", "count": {"op": "eq", "value": 0}, "window": {"last": {"days": 30}}}]}, SCHEMA)
    parse_rule('count(product_viewed where category in ("shoes", "bags"), last 2 days) > 3\n'
               "  or sum(order_created.amount, last 365 days) >= 1000\n"
               "  or last(order_created) more_than_ago 90 days\n"
               '  or (tags has "vip" and not in_segment("seg_blacklist"))', SCHEMA, lambda _: True)

"""Text form of rules: grammar, formatter, round trips, syntax errors and validation paths."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.rules import RuleError, RuleSyntaxError, format_rule, parse_rule, rule_from_json
from indexes.rules.model import (
    ALL_TIME,
    All,
    AnyOf,
    AttributeCondition,
    Between,
    Count,
    Duration,
    EventCondition,
    FirstLast,
    Last,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Since,
    Sum,
)
from indexes.schema import Schema
from tests import paths
from tests.strategies_rules import extended_schema, rules

SEED_SUITE = paths.SEED_SUITE
SCHEMA = Schema()
EXTENDED = extended_schema()


def always(_: str) -> bool:
    return True


def parse(text: str, schema: Schema = EXTENDED) -> Node:
    return parse_rule(text, schema, always)


def p(name: str, op: str, value: Any = None) -> PropertyCondition:
    return PropertyCondition(name, op, value)


A, B, C, D = (p(name, "exists") for name in ("country", "city", "language", "phone"))


# --- round trips -----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(EXTENDED, allow_segments=True, string_values={}))
def test_text_round_trip_on_every_kind_of_rule(rule: Node) -> None:
    text = format_rule(rule)
    assert parse(text) == rule, text


@settings(max_examples=100, deadline=None)
@given(rule=rules(SCHEMA, max_leaves=4))
def test_text_round_trip_with_the_default_pools(rule: Node) -> None:
    assert parse_rule(format_rule(rule), SCHEMA) == rule


@settings(max_examples=200, deadline=None)
@given(value=st.text())
def test_any_string_round_trips(value: str) -> None:
    for rule in (p("country", "eq", value), Not(p("tags", "has_any", (value, "x"))), SegmentCondition(value or "s")):
        assert parse(format_rule(rule)) == rule


def test_seed_suite_round_trips_through_text() -> None:
    queries = json.loads(SEED_SUITE.read_text())["queries"]
    assert len(queries) == 20
    for query in queries:
        rule = rule_from_json(query["rule"], SCHEMA)
        assert parse_rule(format_rule(rule), SCHEMA) == rule, query["id"]


@pytest.mark.parametrize("rule", [
    All((A,)), AnyOf((A,)), All((All((A, B)),)), AnyOf((AnyOf((A,)),)),
    All((All((A, B)), C)), AnyOf((A, AnyOf((B, C)))), All((AnyOf((A, B)), AnyOf((C, D)))),
    Not(Not(A)), Not(All((A,))), Not(AnyOf((A, B))), All((Not(All((A, B))), Not(Not(C)))),
    AnyOf((All((A,)), All((B, C)))), All((A, B, C, D)), AnyOf((Not(A), B)),
    p("total_order_value", "between", (Decimal("-0.5"), Decimal("0"))), p("ratio", "eq", Decimal("-0.0001")),
    p("mood", "in", ('say "hi"', "back\\slash", "two\nlines")), p("newsletter", "eq", False),
    EventCondition("app_opened", (AttributeCondition("first_time", "eq", True),
                                  AttributeCondition("opened_at", "between", (dt.date(2026, 1, 1), dt.date(2026, 1, 1))),
                                  AttributeCondition("screens", "has_none", ("a",))),
                   FirstLast("last", "within_last", Duration("hours", 87840)), Since(dt.date(2026, 1, 1))),
    EventCondition("ping", (), Count("between", (0, 0)), Between(dt.date(2026, 1, 1), dt.date(2026, 12, 31))),
])
def test_structures_that_must_survive_formatting(rule: Node) -> None:
    assert parse(format_rule(rule)) == rule, format_rule(rule)


# --- grammar: precedence, groups, every op ------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("country exists and city exists and language exists", All((A, B, C))),
    ("country exists or city exists or language exists", AnyOf((A, B, C))),
    ("country exists or city exists and language exists", AnyOf((A, All((B, C))))),
    ("country exists and city exists or language exists", AnyOf((All((A, B)), C))),
    ("not country exists and city exists", All((Not(A), B))),
    ("not (country exists and city exists)", Not(All((A, B)))),
    ("(country exists and city exists) and language exists", All((All((A, B)), C))),
    ("country exists and (city exists and language exists)", All((A, All((B, C))))),
    ("(country exists)", A),
    ("((country exists))", A),
    ("all(country exists)", All((A,))),
    ("any(country exists)", AnyOf((A,))),
    ("all(country exists, city exists or language exists)", All((A, AnyOf((B, C))))),
    ("any(country exists and city exists)", AnyOf((All((A, B)),))),
    ("not not country exists", Not(Not(A))),
    ("not all(country exists)", Not(All((A,)))),
    ("in_segment(\"seg_a\") or not in_segment(\"seg_b\")", AnyOf((SegmentCondition("seg_a"), Not(SegmentCondition("seg_b"))))),
    ("country exists # a comment\n  and\tcity exists # another\n", All((A, B))),
])
def test_precedence_and_grouping(text: str, expected: Node) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "as_json"), [
    ('country = "TR"', {"property": "country", "op": "eq", "value": "TR"}),
    ('country != "TR"', {"property": "country", "op": "neq", "value": "TR"}),
    ('country in ("TR", "DE")', {"property": "country", "op": "in", "value": ["TR", "DE"]}),
    ('country not_in ("TR")', {"property": "country", "op": "not_in", "value": ["TR"]}),
    ('email contains "@"', {"property": "email", "op": "contains", "value": "@"}),
    ('email starts_with "a"', {"property": "email", "op": "starts_with", "value": "a"}),
    ('email ends_with "edu.com.tr"', {"property": "email", "op": "ends_with", "value": "edu.com.tr"}),
    ("country exists", {"property": "country", "op": "exists"}),
    ("country not_exists", {"property": "country", "op": "not_exists"}),
    ('marketing_consent in ("granted", "pending")', {"property": "marketing_consent", "op": "in", "value": ["granted", "pending"]}),
    ("total_order_value > 10", {"property": "total_order_value", "op": "gt", "value": 10}),
    ("total_order_value >= 10.5", {"property": "total_order_value", "op": "gte", "value": "10.5"}),
    ("total_order_value < -1", {"property": "total_order_value", "op": "lt", "value": -1}),
    ("total_order_value <= 0.01", {"property": "total_order_value", "op": "lte", "value": 0.01}),
    ("total_order_value = 0", {"property": "total_order_value", "op": "eq", "value": 0}),
    ("total_order_value != 3", {"property": "total_order_value", "op": "neq", "value": 3}),
    ("total_order_value between 10 and 20", {"property": "total_order_value", "op": "between", "value": [10, 20]}),
    ("newsletter = true", {"property": "newsletter", "op": "eq", "value": True}),
    ("newsletter = false", {"property": "newsletter", "op": "eq", "value": False}),
    ("created_at before 2026-01-01", {"property": "created_at", "op": "before", "value": "2026-01-01"}),
    ("created_at after 2026-01-01", {"property": "created_at", "op": "after", "value": "2026-01-01"}),
    ("birth_date on 2000-02-29", {"property": "birth_date", "op": "on", "value": "2000-02-29"}),
    ("created_at between 2026-01-01 and 2026-02-01",
     {"property": "created_at", "op": "between", "value": ["2026-01-01", "2026-02-01"]}),
    ("created_at within_last 60 days", {"property": "created_at", "op": "within_last", "value": {"days": 60}}),
    ("created_at more_than_ago 12 hours", {"property": "created_at", "op": "more_than_ago", "value": {"hours": 12}}),
    ('tags has "vip"', {"property": "tags", "op": "has", "value": "vip"}),
    ('tags has_any ("a", "b")', {"property": "tags", "op": "has_any", "value": ["a", "b"]}),
    ('tags has_all ("a", "b")', {"property": "tags", "op": "has_all", "value": ["a", "b"]}),
    ('tags has_none ("a")', {"property": "tags", "op": "has_none", "value": ["a"]}),
    ("count(order_created) >= 1", {"event": "order_created"}),
    ("count(order_created, all_time) = 0", {"event": "order_created", "count": {"op": "eq", "value": 0}}),
    ("count(order_created, last 30 days) != 2",
     {"event": "order_created", "count": {"op": "neq", "value": 2}, "window": {"last": {"days": 30}}}),
    ("count(order_created, last 5 hours) < 2",
     {"event": "order_created", "count": {"op": "lt", "value": 2}, "window": {"last": {"hours": 5}}}),
    ("count(order_created, since 2026-01-01) <= 2",
     {"event": "order_created", "count": {"op": "lte", "value": 2}, "window": {"since": "2026-01-01"}}),
    ("count(order_created, between 2026-01-01 and 2026-03-31) between 2 and 5",
     {"event": "order_created", "count": {"op": "between", "value": [2, 5]}, "window": {"between": ["2026-01-01", "2026-03-31"]}}),
    ('count(order_created where product_ids has "p1" and amount > 5 and coupon not_exists) > 3',
     {"event": "order_created", "count": {"op": "gt", "value": 3}, "where": [
         {"attr": "product_ids", "op": "has", "value": "p1"}, {"attr": "amount", "op": "gt", "value": 5},
         {"attr": "coupon", "op": "not_exists"}]}),
    ("sum(order_created.amount) >= 1000", {"event": "order_created", "sum": {"attr": "amount", "op": "gte", "value": 1000}}),
    ('sum(order_created.amount where currency = "EUR", last 365 days) between -5 and 99.99',
     {"event": "order_created", "sum": {"attr": "amount", "op": "between", "value": [-5, "99.99"]},
      "where": [{"attr": "currency", "op": "eq", "value": "EUR"}], "window": {"last": {"days": 365}}}),
    ("first(order_created) within_last 30 days", {"event": "order_created", "first": {"op": "within_last", "value": {"days": 30}}}),
    ("last(order_created) more_than_ago 90 days", {"event": "order_created", "last": {"op": "more_than_ago", "value": {"days": 90}}}),
    ("last(order_created, last 7 days) before 2026-01-01",
     {"event": "order_created", "last": {"op": "before", "value": "2026-01-01"}, "window": {"last": {"days": 7}}}),
    ("first(app_opened where first_time = true) on 2026-01-01",
     {"event": "app_opened", "first": {"op": "on", "value": "2026-01-01"}, "where": [{"attr": "first_time", "op": "eq", "value": True}]}),
    ("first(order_created) after 2026-01-01", {"event": "order_created", "first": {"op": "after", "value": "2026-01-01"}}),
    ("first(order_created) between 2026-01-01 and 2026-01-02",
     {"event": "order_created", "first": {"op": "between", "value": ["2026-01-01", "2026-01-02"]}}),
    ('in_segment("seg_a")', {"segment": "seg_a"}),
])
def test_every_op_means_its_json_twin(text: str, as_json: dict) -> None:
    assert parse(text) == rule_from_json(as_json, EXTENDED, always)


def test_values_are_model_values() -> None:
    assert parse("total_order_value = 10") == p("total_order_value", "eq", Decimal(10))
    assert parse("count(ping) = 10") == EventCondition("ping", (), Count("eq", 10))
    assert isinstance(parse("count(ping) = 10").measure.value, int)  # type: ignore[union-attr]
    assert parse("sum(order_created.amount) > 5") == EventCondition("order_created", (), Sum("amount", "gt", Decimal(5)))
    assert parse('country = "\\u00e7\\"\\n"') == p("country", "eq", 'ç"\n')
    assert parse('country = "日本 😀"') == p("country", "eq", "日本 😀")
    assert parse("count(ping, last 3 days) >= 1") == EventCondition("ping", (), Count(), Last(Duration("days", 3)))
    assert parse("count(ping) >= 1") == EventCondition("ping", (), Count(), ALL_TIME)


def test_rules_md_examples() -> None:
    first = parse_rule('marketing_consent = "granted"\n  and count(product_added_to_wishlist) >= 1\n'
                       "  and count(order_created, last 30 days) = 0", SCHEMA)
    assert first == All((
        p("marketing_consent", "eq", "granted"),
        EventCondition("product_added_to_wishlist", (), Count("gte", 1), ALL_TIME),
        EventCondition("order_created", (), Count("eq", 0), Last(Duration("days", 30))),
    ))
    second = parse_rule('count(product_viewed where category in ("shoes", "bags"), last 2 days) > 3\n'
                        "  or sum(order_created.amount, last 365 days) >= 1000\n"
                        "  or last(order_created) more_than_ago 90 days\n"
                        '  or (tags has "vip" and not in_segment("seg_blacklist"))', SCHEMA, lambda _: True)
    assert second == AnyOf((
        EventCondition("product_viewed", (AttributeCondition("category", "in", ("shoes", "bags")),),
                       Count("gt", 3), Last(Duration("days", 2))),
        EventCondition("order_created", (), Sum("amount", "gte", Decimal(1000)), Last(Duration("days", 365))),
        EventCondition("order_created", (), FirstLast("last", "more_than_ago", Duration("days", 90))),
        All((p("tags", "has", "vip"), Not(SegmentCondition("seg_blacklist")))),
    ))


def test_formatter_output_reads_like_the_contract() -> None:
    rule = parse_rule('marketing_consent = "granted" and count(order_created, all_time) = 0 and '
                      "(country exists or not city exists)", SCHEMA)
    assert format_rule(rule) == ('marketing_consent = "granted"\n  and count(order_created) = 0\n'
                                 "  and (country exists or not city exists)")
    assert format_rule(p("country", "eq", 'a"b\\c\nd')) == 'country = "a\\"b\\\\c\\nd"'


# --- syntax errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "line", "column", "expected_part"), [
    ('country = "TR"\n  and tags has "vip"\n  and count(order_created, last 30 dayz) = 0', 3, 36, "'days'"),
    ('country = "TR" and\n  count(order_created) >', 2, 25, "a whole number"),
    ("country", 1, 8, "a comparison (=, !=, >, >=, <, <=)"),
    ("country = ", 1, 11, "a string in double quotes"),
    ("country = 'TR'", 1, 11, "a string in double quotes"),
    ("country exists and", 1, 19, "a name"),
    ("all()", 1, 5, "'not'"),
    ("(country exists", 1, 16, "')'"),
    ("country exists)", 1, 15, "the end of the rule"),
    ("country exists AND city exists", 1, 16, "'and'"),
    ("count(order_created) >= 1.5", 1, 25, "a whole number"),
    ("count(order_created, last 30) = 0", 1, 29, "'days'"),
    ("count(order_created, last week) = 0", 1, 27, "a whole number"),
    ("count(order_created) exists", 1, 22, "a comparison (=, !=, >, >=, <, <=)"),
    ("sum(order_created) > 5", 1, 18, "'.'"),
    ("first(order_created) > 5", 1, 22, "'before'"),
    ("country in ()", 1, 13, "a string in double quotes"),
    ("birth_date before 2026-02-30", 1, 19, "a valid date YYYY-MM-DD"),
    ('country = "a\\qb"', 1, 13, "a valid JSON string"),
    ("", 1, 1, "'count'"),
    ("# only a comment", 1, 17, "a name"),
    ("Country exists", 1, 1, "a name"),
])
def test_syntax_errors_name_line_column_and_expectation(text: str, line: int, column: int, expected_part: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert any(expected_part in wanted for wanted in error.expected), error.expected
    assert f"line {line}, column {column}: expected" in str(error)
    assert error.path == ""
    assert error.snippet.endswith("^")


def test_syntax_error_snippet_points_at_the_column() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse('country = "TR"\n  and count(order_created, last 30 dayz) = 0')
    line = "  and count(order_created, last 30 dayz) = 0"
    assert caught.value.snippet == line + "\n" + " " * line.index("dayz") + "^"
    assert caught.value.found == "'dayz'"


# --- validation after parsing: JSON paths ----------------------------------------------------------
@pytest.mark.parametrize(("text", "path"), [
    ('country = "TR" and colour = "red"', "all[1].property"),
    ('country = "TR" and count(order_created, last 0 days) = 1', "all[1].window.last.days"),
    ("count(order_created, last 3661 days) = 1", "window.last.days"),
    ("count(order_created, last 87841 hours) = 1", "window.last.hours"),
    ("count(order_created, between 2026-02-01 and 2026-01-01) = 1", "window.between"),
    ("not (country exists or count(order_made) > 1)", "not.any[1].event"),
    ("count(order_created where colour = \"x\") > 1", "where[0].attr"),
    ("count(order_created where amount = \"x\") > 1", "where[0].value"),
    ("count(order_created where amount contains \"x\") > 1", "where[0].op"),
    ("sum(order_created.currency) > 1", "sum.attr"),
    ("sum(order_created.amount) > 1.001", "sum.value"),
    ("count(order_created) between 3 and 1", "count.value"),
    ('marketing_consent = "yes"', "value"),
    ('marketing_consent in ("granted", "maybe")', "value[1]"),
    ('total_order_value contains "1"', "op"),
    ('total_order_value = "1"', "value"),
    ("total_order_value = 1.001", "value"),
    ("total_order_value between 5 and 1", "value"),
    ("country = 5", "value"),
    ("country = true", "value"),
    ("newsletter != true", "op"),
    ("birth_date = 2000-01-01", "op"),
    ("birth_date between 1 and 2", "value[0]"),
    ("created_at within_last 0 days", "value.days"),
    ('tags = "vip"', "op"),
    ("tags has_any (1)", "value[0]"),
    ('country exists or in_segment("nope")', "any[1].segment"),
])
def test_validation_errors_from_text_use_json_paths(text: str, path: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(text, EXTENDED, lambda s: s != "nope")
    assert not isinstance(caught.value, RuleSyntaxError)
    assert caught.value.path == path, str(caught.value)


def test_segments_without_a_resolver_are_unknown() -> None:
    with pytest.raises(RuleError, match="unknown segment id") as caught:
        parse_rule('in_segment("seg_a")', SCHEMA)
    assert caught.value.path == "segment"


def test_deep_and_large_text_rules_are_clean_errors() -> None:
    with pytest.raises(RuleError, match="64 levels") as caught:
        parse("not " * 10_000 + "country exists")
    assert caught.value.path == ".".join(["not"] * 64)
    with pytest.raises(RuleError, match="64 levels"):
        parse("all(" * 10_000 + "country exists" + ")" * 10_000)
    assert parse("(" * 10_000 + "country exists" + ")" * 10_000) == A  # parentheses alone add no nodes
    assert parse("not " * 63 + "country exists") is not None
    with pytest.raises(RuleError, match="1000 nodes") as caught:
        parse(" or ".join(["country exists"] * 1000))
    assert caught.value.path == ""

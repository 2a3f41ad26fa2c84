"""JSON form of rules: decoding, normalisation, canonical encoding, and errors with node paths."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from indexes.rules import RuleError, RuleSyntaxError, load_rule, rule_from_json, rule_to_json, validate_rule
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


def load(rule: Any, schema: Schema = SCHEMA) -> Node:
    return rule_from_json(rule, schema, always)


# --- round trips -----------------------------------------------------------------------------------
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(EXTENDED, allow_segments=True, string_values={}))
def test_json_round_trip_on_every_kind_of_rule(rule: Node) -> None:
    validate_rule(rule, EXTENDED, always)
    encoded = rule_to_json(rule)
    assert rule_from_json(encoded, EXTENDED, always) == rule
    # The canonical form is plain JSON, and stable through text.
    text = json.dumps(encoded, ensure_ascii=False)
    assert rule_from_json(json.loads(text), EXTENDED, always) == rule
    assert rule_to_json(rule_from_json(json.loads(text), EXTENDED, always)) == encoded


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(SCHEMA, max_leaves=4))
def test_round_trip_with_the_default_pools(rule: Node) -> None:
    assert load(rule_to_json(rule)) == rule


def test_seed_suite_loads_and_round_trips() -> None:
    queries = json.loads(SEED_SUITE.read_text())["queries"]
    assert len(queries) == 20
    for query in queries:
        rule = rule_from_json(query["rule"], SCHEMA)
        assert rule_from_json(rule_to_json(rule), SCHEMA) == rule, query["id"]


# --- decoding and normalisation ----------------------------------------------------------------------
def test_rules_md_example_decodes_to_the_model() -> None:
    rule = load({"all": [
        {"property": "marketing_consent", "op": "eq", "value": "granted"},
        {"event": "product_added_to_wishlist", "count": {"op": "gte", "value": 1}, "window": "all_time"},
        {"event": "order_created", "count": {"op": "eq", "value": 0}, "window": {"last": {"days": 30}}}]})
    assert rule == All((
        PropertyCondition("marketing_consent", "eq", "granted"),
        EventCondition("product_added_to_wishlist", (), Count("gte", 1), ALL_TIME),
        EventCondition("order_created", (), Count("eq", 0), Last(Duration("days", 30))),
    ))


def test_event_example_with_where_decodes() -> None:
    rule = load({"event": "product_viewed", "where": [{"attr": "category", "op": "in", "value": ["shoes", "bags"]}],
                 "count": {"op": "gt", "value": 3}, "window": {"last": {"days": 2}}})
    assert rule == EventCondition("product_viewed", (AttributeCondition("category", "in", ("shoes", "bags")),),
                                  Count("gt", 3), Last(Duration("days", 2)))


@pytest.mark.parametrize(("json_value", "expected"), [
    (10, Decimal("10")), (10.5, Decimal("10.5")), ("10.50", Decimal("10.5")), ("-3", Decimal(-3)), ("0.01", Decimal("0.01")),
])
def test_numbers_accept_json_numbers_and_decimal_strings(json_value: Any, expected: Decimal) -> None:
    rule = load({"property": "total_order_value", "op": "gte", "value": json_value})
    assert isinstance(rule, PropertyCondition) and rule.value == expected and isinstance(rule.value, Decimal)


def test_values_are_normalised() -> None:
    between = load({"property": "total_order_value", "op": "between", "value": [1, "2.5"]})
    assert between == PropertyCondition("total_order_value", "between", (Decimal(1), Decimal("2.5")))
    days = load({"property": "birth_date", "op": "between", "value": ["1990-01-01", "1999-12-31"]})
    assert days == PropertyCondition("birth_date", "between", (dt.date(1990, 1, 1), dt.date(1999, 12, 31)))
    assert load({"property": "created_at", "op": "within_last", "value": {"hours": 12}}).value == Duration("hours", 12)  # type: ignore[union-attr]
    assert load({"property": "tags", "op": "has_all", "value": ["a", "b"]}).value == ("a", "b")  # type: ignore[union-attr]
    assert load({"property": "country", "op": "exists", "value": None}) == PropertyCondition("country", "exists")
    assert load({"property": "order_count", "op": "gte", "value": 2}) == PropertyCondition("order_count", "gte", Decimal(2))
    event = load({"event": "order_created"})
    assert event == EventCondition("order_created", (), Count("gte", 1), ALL_TIME)
    assert load({"event": "order_created", "where": []}) == event
    counted = load({"event": "order_created", "count": {"op": "between", "value": [1, 3]},
                    "window": {"between": ["2026-01-01", "2026-01-31"]}})
    assert counted == EventCondition("order_created", (), Count("between", (1, 3)),
                                     Between(dt.date(2026, 1, 1), dt.date(2026, 1, 31)))
    summed = load({"event": "order_created", "sum": {"attr": "amount", "op": "gt", "value": "99.99"},
                   "window": {"since": "2026-01-01"}})
    assert summed == EventCondition("order_created", (), Sum("amount", "gt", Decimal("99.99")), Since(dt.date(2026, 1, 1)))
    first = load({"event": "order_created", "first": {"op": "on", "value": "2026-05-01"}})
    assert first == EventCondition("order_created", (), FirstLast("first", "on", dt.date(2026, 5, 1)))
    assert load({"not": {"segment": "seg_a"}}) == Not(SegmentCondition("seg_a"))
    assert load({"any": [{"segment": "seg_a"}]}) == AnyOf((SegmentCondition("seg_a"),))


def test_canonical_json() -> None:
    rule = load({"all": [
        {"event": "order_created"},
        {"property": "total_order_value", "op": "between", "value": ["0.10", 5]},
        {"property": "ratio", "op": "eq", "value": "0.1235"},
        {"property": "birth_date", "op": "on", "value": "2000-02-29"},
        {"property": "country", "op": "not_exists"},
    ]}, EXTENDED)
    assert rule_to_json(rule) == {"all": [
        {"event": "order_created", "count": {"op": "gte", "value": 1}, "window": "all_time"},
        {"property": "total_order_value", "op": "between", "value": [0.1, 5]},
        {"property": "ratio", "op": "eq", "value": 0.1235},
        {"property": "birth_date", "op": "on", "value": "2000-02-29"},
        {"property": "country", "op": "not_exists"},
    ]}
    assert isinstance(rule_to_json(rule)["all"][1]["value"][1], int)


def test_decimals_that_floats_cannot_hold_are_strings() -> None:
    rule = PropertyCondition("total_order_value", "eq", Decimal("92233720368547758.07"))
    encoded = rule_to_json(rule)
    assert encoded["value"] == "92233720368547758.07"
    assert load(encoded) == rule


# --- errors: the node path of RULES.md "Errors" ----------------------------------------------------
WISH = {"event": "product_added_to_wishlist", "count": {"op": "gte", "value": 1}}


def _third(node: dict) -> dict:
    return {"all": [{"property": "country", "op": "eq", "value": "TR"}, WISH, node]}


def _order(**parts: Any) -> dict:
    return _third({"event": "order_created", **parts})


ERROR_CASES: list[tuple[str, Any, str]] = [
    ("unknown property", _third({"property": "colour", "op": "eq", "value": "red"}), "all[2].property"),
    ("unknown event", _third({"event": "order_made"}), "all[2].event"),
    ("unknown attribute", _order(where=[{"attr": "colour", "op": "eq", "value": "x"}]), "all[2].where[0].attr"),
    ("unknown attribute, 2nd", _order(where=[{"attr": "amount", "op": "exists"}, {"attr": "x", "op": "exists"}]),
     "all[2].where[1].attr"),
    ("op not fitting a number", _third({"property": "total_order_value", "op": "contains", "value": "1"}), "all[2].op"),
    ("op not fitting a string", _third({"property": "country", "op": "gt", "value": "a"}), "all[2].op"),
    ("op not fitting a set", _third({"property": "tags", "op": "eq", "value": "a"}), "all[2].op"),
    ("op not fitting a time", _third({"property": "birth_date", "op": "eq", "value": "2000-01-01"}), "all[2].op"),
    ("op not fitting a bool", _third({"property": "newsletter", "op": "neq", "value": True}), "all[2].op"),
    ("unknown op", _third({"property": "country", "op": "like", "value": "a"}), "all[2].op"),
    ("missing op", _third({"property": "country", "value": "a"}), "all[2].op"),
    ("op not fitting an attribute", _order(where=[{"attr": "amount", "op": "contains", "value": "x"}]), "all[2].where[0].op"),
    ("list attribute op", _order(where=[{"attr": "product_ids", "op": "eq", "value": "p1"}]), "all[2].where[0].op"),
    ("wrong attribute value type", _order(where=[{"attr": "amount", "op": "gt", "value": "ten"}]), "all[2].where[0].value"),
    ("string given a number", _third({"property": "country", "op": "eq", "value": 5}), "all[2].value"),
    ("number given a bool", _third({"property": "total_order_value", "op": "gt", "value": True}), "all[2].value"),
    ("bool given a string", _third({"property": "newsletter", "op": "eq", "value": "yes"}), "all[2].value"),
    ("set has given a list", _third({"property": "tags", "op": "has", "value": ["a"]}), "all[2].value"),
    ("list item not a string", _third({"property": "language", "op": "in", "value": ["tr", 3]}), "all[2].value[1]"),
    ("date malformed", _third({"property": "birth_date", "op": "before", "value": "1990-13-01"}), "all[2].value"),
    ("date as timestamp", _third({"property": "birth_date", "op": "after", "value": "1990-01-01T00:00:00Z"}), "all[2].value"),
    ("between date malformed", _third({"property": "birth_date", "op": "between", "value": ["1990-01-01", "x"]}),
     "all[2].value[1]"),
    ("enum value not declared", _third({"property": "marketing_consent", "op": "eq", "value": "yes"}), "all[2].value"),
    ("enum neq not declared", _third({"property": "b2b_status", "op": "neq", "value": "maybe"}), "all[2].value"),
    ("enum list value not declared", _third({"property": "marketing_consent", "op": "in", "value": ["granted", "maybe"]}),
     "all[2].value[1]"),
    ("too many fractional digits", _third({"property": "total_order_value", "op": "gt", "value": 1.001}), "all[2].value"),
    ("scale 0 fraction", _third({"property": "order_count", "op": "gt", "value": "1.5"}), "all[2].value"),
    ("number too large", _third({"property": "total_order_value", "op": "gt", "value": 10**20}), "all[2].value"),
    ("between lo > hi", _third({"property": "total_order_value", "op": "between", "value": [5, 1]}), "all[2].value"),
    ("between one value", _third({"property": "total_order_value", "op": "between", "value": [5]}), "all[2].value"),
    ("between dates reversed", _third({"property": "birth_date", "op": "between", "value": ["2000-01-02", "2000-01-01"]}),
     "all[2].value"),
    ("empty list", _third({"property": "tags", "op": "has_any", "value": []}), "all[2].value"),
    ("empty in", _third({"property": "country", "op": "in", "value": []}), "all[2].value"),
    ("exists with a value", _third({"property": "country", "op": "exists", "value": "TR"}), "all[2].value"),
    ("within_last 0 days", _third({"property": "created_at", "op": "within_last", "value": {"days": 0}}), "all[2].value.days"),
    ("more_than_ago weeks", _third({"property": "created_at", "op": "more_than_ago", "value": {"weeks": 2}}), "all[2].value"),
    ("within_last hours too many", _third({"property": "created_at", "op": "within_last", "value": {"hours": 87841}}),
     "all[2].value.hours"),
    ("count value negative", _order(count={"op": "gte", "value": -1}), "all[2].count.value"),
    ("count value fractional", _order(count={"op": "gte", "value": 1.5}), "all[2].count.value"),
    ("count value string", _order(count={"op": "gte", "value": "1"}), "all[2].count.value"),
    ("count value bool", _order(count={"op": "eq", "value": True}), "all[2].count.value"),
    ("count op unknown", _order(count={"op": "about", "value": 1}), "all[2].count.op"),
    ("count op of a string", _order(count={"op": "contains", "value": 1}), "all[2].count.op"),
    ("count between reversed", _order(count={"op": "between", "value": [3, 1]}), "all[2].count.value"),
    ("count between bad bound", _order(count={"op": "between", "value": [1, -3]}), "all[2].count.value[1]"),
    ("count unknown key", _order(count={"op": "eq", "value": 1, "attr": "amount"}), "all[2].count.attr"),
    ("window 0 days", _order(window={"last": {"days": 0}}), "all[2].window.last.days"),
    ("window 3661 days", _order(window={"last": {"days": 3661}}), "all[2].window.last.days"),
    ("window 87841 hours", _order(window={"last": {"hours": 87841}}), "all[2].window.last.hours"),
    ("window 0 hours", _order(window={"last": {"hours": 0}}), "all[2].window.last.hours"),
    ("window fractional days", _order(window={"last": {"days": 1.5}}), "all[2].window.last.days"),
    ("window weeks", _order(window={"last": {"weeks": 1}}), "all[2].window.last"),
    ("window between reversed", _order(window={"between": ["2026-02-01", "2026-01-01"]}), "all[2].window.between"),
    ("window between bad day", _order(window={"between": ["2026-02-01", "2026-02-30"]}), "all[2].window.between[1]"),
    ("window since malformed", _order(window={"since": "yesterday"}), "all[2].window.since"),
    ("window unknown kind", _order(window={"until": "2026-01-01"}), "all[2].window.until"),
    ("window wrong string", _order(window="forever"), "all[2].window"),
    ("two measures", _order(count={"op": "gte", "value": 1}, sum={"attr": "amount", "op": "gt", "value": 1}), "all[2].sum"),
    ("sum over a string attribute", _order(sum={"attr": "currency", "op": "gt", "value": 1}), "all[2].sum.attr"),
    ("sum over an unknown attribute", _order(sum={"attr": "total", "op": "gt", "value": 1}), "all[2].sum.attr"),
    ("sum scale", _order(sum={"attr": "amount", "op": "gt", "value": 1.001}), "all[2].sum.value"),
    ("sum exists", _order(sum={"attr": "amount", "op": "exists"}), "all[2].sum.op"),
    ("sum missing attr", _order(sum={"op": "gt", "value": 1}), "all[2].sum.attr"),
    ("first op of a number", _order(first={"op": "gt", "value": 1}), "all[2].first.op"),
    ("first exists", _order(first={"op": "exists"}), "all[2].first.op"),
    ("last bad duration", _order(last={"op": "within_last", "value": {"weeks": 2}}), "all[2].last.value"),
    ("last 0 days", _order(last={"op": "more_than_ago", "value": {"days": 0}}), "all[2].last.value.days"),
    ("measure not an object", _order(count=3), "all[2].count"),
    ("where not a list", _order(where={"attr": "amount"}), "all[2].where"),
    ("unknown event key", _order(filter=[]), "all[2].filter"),
    ("unknown property key", _third({"property": "country", "op": "eq", "value": "TR", "negate": True}), "all[2].negate"),
    ("empty group", _third({"any": []}), "all[2].any"),
    ("group not a list", _third({"all": {"property": "country", "op": "exists"}}), "all[2].all"),
    ("group with extra key", _third({"all": [WISH], "any": [WISH]}), "all[2].any"),
    ("node not an object", _third(["country"]), "all[2]"),
    ("unknown node", {"nothing": 1}, ""),
    ("not a JSON object", "country", ""),
    ("deep path", {"any": [WISH, {"all": [WISH, {"not": {"property": "tags", "op": "has", "value": 3}}]}]},
     "any[1].all[1].not.value"),
    ("where value deep", {"any": [{"not": {"event": "order_created", "where": [
        {"attr": "amount", "op": "exists"}, {"attr": "amount", "op": "gt", "value": "x"}]}}]}, "any[0].not.where[1].value"),
]


@pytest.mark.parametrize(("rule", "path"), [(rule, path) for _, rule, path in ERROR_CASES],
                         ids=[name for name, _, _ in ERROR_CASES])
def test_error_names_the_node_path(rule: Any, path: str) -> None:
    with pytest.raises(RuleError) as caught:
        rule_from_json(rule, EXTENDED)
    assert caught.value.path == path, str(caught.value)
    assert str(caught.value) == f"{path or '(root)'}: {caught.value.reason}"


def test_segments_need_a_resolver_that_knows_them() -> None:
    rule = {"any": [WISH, {"segment": "seg_x"}]}
    for exists in (None, lambda s: s != "seg_x"):
        with pytest.raises(RuleError, match="unknown segment id") as caught:
            rule_from_json(rule, SCHEMA, exists)
        assert caught.value.path == "any[1].segment"
    assert rule_from_json(rule, SCHEMA, lambda s: s == "seg_x") == AnyOf((load(WISH), SegmentCondition("seg_x")))
    with pytest.raises(RuleError) as caught:
        rule_from_json({"segment": 5}, SCHEMA, always)
    assert caught.value.path == "segment"


def test_computed_properties_are_valid_names() -> None:
    for name, op, value in [("order_count", "eq", 0), ("lifetime_value", "gte", "10.25"),
                            ("last_order_at", "within_last", {"days": 3}), ("last_seen_at", "exists", None)]:
        load({"property": name, "op": op, "value": value})


# --- size limits -----------------------------------------------------------------------------------
def _nested(levels: int) -> dict:
    node: dict = {"property": "country", "op": "exists"}
    for _ in range(levels - 1):
        node = {"not": node}
    return node


def test_depth_limit_is_64_levels() -> None:
    assert isinstance(load(_nested(64)), Not)
    with pytest.raises(RuleError, match="64 levels") as caught:
        load(_nested(65))
    assert caught.value.path == ".".join(["not"] * 64)
    with pytest.raises(RuleError, match="64 levels") as caught:
        load({"any": [WISH, {"all": [_nested(63)]}]})
    assert caught.value.path == "any[1].all[0]" + ".not" * 62


def test_ten_thousand_levels_are_a_clean_error() -> None:
    with pytest.raises(RuleError, match="64 levels"):
        load(_nested(10_000))
    deep_text = '{"not": ' * 10_000 + '{"property": "country", "op": "exists"}' + "}" * 10_000
    with pytest.raises(RuleError, match="64 levels"):
        load_rule(deep_text, SCHEMA)
    deep_groups = '{"all": [' * 10_000 + '{"property": "country", "op": "exists"}' + "]}" * 10_000
    with pytest.raises(RuleError, match="64 levels"):
        load_rule(deep_groups, SCHEMA)


def test_node_limit_is_1000() -> None:
    leaf = {"property": "country", "op": "exists"}
    assert len(load({"any": [leaf] * 999}).nodes) == 999  # type: ignore[union-attr]
    with pytest.raises(RuleError, match="1000 nodes") as caught:
        load({"any": [leaf] * 1000})
    assert caught.value.path == ""
    with pytest.raises(RuleError, match="1000 nodes"):
        validate_rule(AnyOf((PropertyCondition("country", "exists"),) * 1000), SCHEMA)


# --- the model validator and load_rule ----------------------------------------------------------------
@pytest.mark.parametrize(("model", "path"), [
    (All((PropertyCondition("country", "exists"), PropertyCondition("colour", "exists"))), "all[1].property"),
    (Not(EventCondition("order_created", (), Count("gte", -1))), "not.count.value"),
    (EventCondition("order_created", (), Count("gte", 1), Last(Duration("days", 3661))), "window.last.days"),
    (EventCondition("order_created", (AttributeCondition("amount", "gt", 5),)), "where[0].value"),
    (PropertyCondition("total_order_value", "gt", 5.5), "value"),
    (PropertyCondition("birth_date", "before", dt.datetime(2000, 1, 1)), "value"),
    (EventCondition("order_created", (), FirstLast("middle", "on", dt.date(2026, 1, 1))), ""),
    (All(()), "all"),
    (AnyOf((All(()),)), "any[0].all"),
])
def test_validate_rule_on_models_uses_the_same_paths(model: Node, path: str) -> None:
    with pytest.raises(RuleError) as caught:
        validate_rule(model, SCHEMA)
    assert caught.value.path == path, str(caught.value)


def test_load_rule_accepts_every_form() -> None:
    model = EventCondition("order_created", (), Count("eq", 0), Last(Duration("days", 30)))
    as_json = {"event": "order_created", "count": {"op": "eq", "value": 0}, "window": {"last": {"days": 30}}}
    assert load_rule(model, SCHEMA) is model
    assert load_rule(as_json, SCHEMA) == model
    assert load_rule("  " + json.dumps(as_json), SCHEMA) == model
    assert load_rule("count(order_created, last 30 days) = 0", SCHEMA) == model
    with pytest.raises(RuleSyntaxError) as caught:
        load_rule('{"event": "order_created",\n "count": }', SCHEMA)
    assert caught.value.line == 2
    with pytest.raises(RuleError):
        load_rule(42, SCHEMA)
    with pytest.raises(RuleError) as caught:
        load_rule(EventCondition("order_created", (), Count("eq", 0), Last(Duration("days", 0))), SCHEMA)
    assert caught.value.path == "window.last.days"

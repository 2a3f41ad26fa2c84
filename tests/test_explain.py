"""Explain (indexes/explain.py): every node's truth value equals the naive reference for that customer,
the root equals membership, and each leaf's shown values imply its truth value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.explain import ExplainNode, UnknownCustomerError, explain_customer, render_explanation
from indexes.plan.filters import compare_values
from indexes.records import validate_batch
from indexes.rules import parse_rule
from indexes.rules.model import Count, EventCondition, Sum, iter_nodes
from indexes.schema import Schema
from tests.reference import ReferenceEvaluator
from tests.strategies_records import ZONES, as_of_ms, record_batches
from tests.strategies_rules import rules

SCHEMA = Schema()


def _nodes(node: ExplainNode) -> list[ExplainNode]:
    return [node] + [n for child in node.children for n in _nodes(child)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tz=st.sampled_from(ZONES), batches=record_batches(), rule=rules(SCHEMA, max_leaves=6), as_of=as_of_ms(),
       picks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4))
def test_explanations_equal_the_reference(tz: str, batches: list[list[dict]], rule: object, as_of: int,
                                          picks: list[int]) -> None:
    engine = Engine(tz=tz)
    reference = ReferenceEvaluator(tz=tz)
    for batch in batches:
        engine.ingest(batch)
        reference.apply(validate_batch(batch, SCHEMA).records)
    customers = sorted(reference.customer_ids())
    if not customers:
        return
    members = set(engine.members(rule, as_of))
    sub_rules = list(iter_nodes(rule))  # pre-order, as the explanation lists its nodes
    expected_members = {id(node): reference.members(node, as_of) for node in sub_rules}
    for pick in picks:
        customer = customers[pick % len(customers)]
        explanation = explain_customer(engine, rule, customer, as_of)
        assert explanation.node.holds == (customer in members)
        nodes = _nodes(explanation.node)
        assert len(nodes) == len(sub_rules)
        for shown, node in zip(nodes, sub_rules, strict=True):
            assert shown.holds == (customer in expected_members[id(node)]), (shown.path, shown.rule)
            _check_leaf_values(shown, node)


def _check_leaf_values(shown: ExplainNode, node: object) -> None:
    """A count or sum shown beside a node must satisfy the node exactly when the node holds."""
    if not isinstance(node, EventCondition) or shown.facts.get("value") is None:
        return
    measure = node.measure
    if isinstance(measure, Count):
        value = shown.facts["value"]
        assert isinstance(value, int) and value == shown.facts["matching_events"]
        assert bool(compare_values(_one(value), measure.op, measure.value)[0]) == shown.holds
    elif isinstance(measure, Sum):
        total = Decimal(shown.facts["value"])
        target = measure.value
        holds = (target[0] <= total <= target[1]) if measure.op == "between" else bool(
            compare_values(_one_decimal(total), measure.op, target)[0])  # type: ignore[arg-type]
        assert holds == shown.holds


def _one(value: int):  # noqa: ANN202 - a one-element numpy array
    import numpy as np

    return np.array([value], dtype=np.int64)


def _one_decimal(value: Decimal):  # noqa: ANN202
    import numpy as np

    return np.array([value], dtype=object)


def test_explanation_of_a_lapsed_customer_reads_well() -> None:
    engine = Engine(tz="Europe/Istanbul")
    day = 86_400_000
    now = 1_790_000_000_000
    engine.ingest([
        {"customer_id": "c-1", "ts": now - 200 * day, "properties": {"country": "TR", "marketing_consent": "granted"}},
        {"event_id": "e-1", "customer_id": "c-1", "type": "order_created", "ts": now - 120 * day,
         "attrs": {"amount": "350.50"}},
        {"event_id": "e-2", "customer_id": "c-1", "type": "order_created", "ts": now - 100 * day,
         "attrs": {"amount": "200"}},
    ])
    rule = parse_rule('country = "TR" and sum(order_created.amount, last 365 days) >= 500 '
                      "and last(order_created) more_than_ago 90 days and city exists", SCHEMA)
    explanation = explain_customer(engine, rule, "c-1", now)
    assert not explanation.node.holds
    country, total, last, city = explanation.node.children
    assert country.holds and country.facts == {"property": "country", "value": "TR"}
    assert total.holds and total.facts["value"] == "550.50" and total.facts["matching_events"] == 2
    assert last.holds and last.facts["value"].startswith("2026-")
    assert not city.holds and city.facts == {"property": "city", "value": None}
    text = render_explanation(explanation)
    assert "c-1: OUT" in text and "sum = 550.50" in text and "city = not set" in text


def test_unknown_customer_is_refused() -> None:
    engine = Engine()
    engine.ingest([{"customer_id": "c-1", "ts": 0, "properties": {"country": "TR"}}])
    with pytest.raises(UnknownCustomerError):
        explain_customer(engine, 'country = "TR"', "c-404", 1)


def test_cli_explains_from_a_file(tmp_path, capsys) -> None:  # noqa: ANN001
    import json

    from indexes.cli import main

    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"customer_id": "c-1", "ts": "2026-01-01T00:00:00Z", "properties": {"country": "TR"}},
        {"event_id": "e-1", "customer_id": "c-1", "type": "order_created", "ts": "2026-03-01T10:00:00Z",
         "attrs": {"amount": 12.5}},
    ]) + "\n")
    code = main(["explain", "--input", str(path), "--customer", "c-1", "--as-of", "2026-04-01T00:00:00Z", "--json",
                 'country = "TR" and count(order_created, last 7 days) >= 1'])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["member"] is False
    country, orders = out["tree"]["children"]
    assert country["holds"] and country["facts"]["value"] == "TR"
    assert not orders["holds"] and orders["facts"]["value"] == 0 and orders["path"] == "all[1]"
    assert main(["explain", "--input", str(path), "--customer", "nobody", 'country = "TR"']) != 0

"""The 20 seed-suite queries over the real datasets of ../shared/data: engine == reference.

Two reference times each: after the data (the usual case) and in the middle of it, where events
after as_of exist and every all-time index must step aside for an exact scan.
"""

from __future__ import annotations

import json

import pytest

from indexes.engine import Engine
from indexes.jsonl import iter_jsonl
from indexes.records import validate_batch
from indexes.rules import rule_from_json
from indexes.schema import Schema
from indexes.values import parse_timestamp_ms
from tests import paths
from tests.reference import ReferenceEvaluator

SHARED = paths.SHARED
SUITE = json.loads((SHARED / "bench" / "seed_suite.json").read_text())
# Placeholders -> ids present in the data: two popular stock codes of Online Retail.
MAPPING = {"PRODUCT_A": "85123A", "PRODUCT_B": "22423", "CATEGORY_A": "none", "FORM_A": "none"}
DATASETS = {
    "online_retail.jsonl.gz": ["2011-12-10T00:00:00Z", "2011-06-15T13:30:00Z"],
    "cdnow.jsonl.gz": ["1998-07-01T00:00:00Z", "1997-03-31T23:59:59.999Z"],
}


def _rules() -> list[tuple[str, dict]]:
    text = json.dumps(SUITE["queries"])
    for placeholder, value in MAPPING.items():
        text = text.replace(placeholder, value)
    return [(q["id"], q["rule"]) for q in json.loads(text)]


@pytest.fixture(scope="module", params=list(DATASETS))
def loaded(request: pytest.FixtureRequest) -> tuple[str, Engine, ReferenceEvaluator]:
    path = SHARED / "data" / request.param
    raws = [obj for _, obj in iter_jsonl(str(path))]
    engine = Engine()
    engine.ingest(raws)
    reference = ReferenceEvaluator()
    reference.apply(validate_batch(raws, Schema()).records)
    return request.param, engine, reference


def test_seed_suite_matches_reference(loaded: tuple[str, Engine, ReferenceEvaluator]) -> None:
    name, engine, reference = loaded
    for as_of_text in DATASETS[name]:
        as_of = parse_timestamp_ms(as_of_text)
        for query_id, rule_json in _rules():
            rule = rule_from_json(rule_json, engine.schema)
            assert set(engine.members(rule, as_of)) == reference.members(rule, as_of), (name, as_of_text, query_id)


def test_loader_figures_from_the_data_readme(loaded: tuple[str, Engine, ReferenceEvaluator]) -> None:
    name, engine, _ = loaded
    if name != "online_retail.jsonl.gz":
        return
    as_of = parse_timestamp_ms("2011-12-10T00:00:00Z")
    assert engine.count("count(order_created) >= 1", as_of) == 4339
    assert engine.customer_count() == 4372

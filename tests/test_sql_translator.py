"""The benchmark's SQL peer agrees with the engine on generated data (so benchmark runs can demand
identical counts), for every seed-suite query and its negation, at two reference times."""

from __future__ import annotations

import pytest

from benchmarks.duckdb_runner import DuckDbRunner
from benchmarks.generator import DAY_MS, generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from tests import paths

SUITE = paths.SEED_SUITE


@pytest.fixture(scope="module")
def loaded() -> tuple[object, Engine, DuckDbRunner]:
    data = generate_columns(3_000, 60_000, seed=11)
    engine = Engine()
    for batch in iter_records(data, 20_000):
        engine.ingest(batch)
    return data, engine, DuckDbRunner(data)


def test_seed_suite_counts_agree(loaded: tuple) -> None:
    data, engine, duck = loaded
    for as_of in (data.as_of_ms, data.as_of_ms - 200 * DAY_MS):
        for query_id, rule in load_seed_suite(SUITE, placeholders(data)):
            for variant in (rule, {"not": rule}):
                plan = engine.compile(variant)
                assert engine.count(plan, as_of) == duck.count(plan, as_of), (query_id, as_of, duck.sql(plan, as_of))


def test_every_property_op_agrees(loaded: tuple) -> None:
    data, engine, duck = loaded
    rules = [
        'email ends_with "edu.com.tr"', 'email contains "user1"', 'email starts_with "user2"',
        'country in ("TR", "DE")', 'country not_in ("TR")', 'language != "tr"', "city not_exists",
        'tags has_all ("vip", "newsletter")', 'tags has_none ("vip")', "tags exists",
        "total_order_value between 100 and 500.5", "consent_updated_at within_last 400 hours",
        "consent_updated_at before 2025-06-01", "birth_date on 1990-05-17", "birth_date after 1999-12-31",
        "last_seen_at more_than_ago 30 days", "lifetime_value <= 0", "first_order_at between 2025-01-01 and 2025-12-31",
        'count(order_created where product_ids has_all ("p-1", "p-2")) >= 1',
        "sum(order_created.amount where currency = \"EUR\", since 2026-01-01) > 300",
        "first(product_viewed where device != \"mobile\", last 48 hours) after 2026-11-19",
        "count(email_opened, between 2026-10-01 and 2026-10-31) between 1 and 3",
    ]
    for text in rules:
        plan = engine.compile(text)
        assert engine.count(plan, data.as_of_ms) == duck.count(plan, data.as_of_ms), text

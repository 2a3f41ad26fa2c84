"""CSV export and customer profiles (indexes/export.py, indexes/profiles.py) against the reference's
records: the export lists exactly the members in Members order, leaves out (and counts) those missing a
mandatory column, and every value equals the one the records imply."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.export import write_csv
from indexes.profiles import customer_profile
from indexes.records import validate_batch
from indexes.schema import Schema
from tests.reference import ReferenceEvaluator
from tests.strategies_records import ZONES, as_of_ms, record_batches
from tests.strategies_rules import rules

SCHEMA = Schema()
COLUMNS = ["customer_id", "country", "tags", "order_count", "lifetime_value"]


def _amount(event) -> int:  # noqa: ANN001
    value = event.attrs.get("amount")
    return 0 if value is None else int(value)


def _money(scaled: int) -> str:
    return f"{Decimal(scaled).scaleb(-2):f}" if scaled else "0.00"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tz=st.sampled_from(ZONES), batches=record_batches(), rule=rules(SCHEMA, max_leaves=3), as_of=as_of_ms(),
       mandatory=st.sampled_from([(), ("country",)]), block_rows=st.sampled_from([1, 3, 10_000]))
def test_export_equals_members_and_the_records(tz: str, batches: list[list[dict]], rule: object, as_of: int,
                                               mandatory: tuple[str, ...], block_rows: int) -> None:
    engine = Engine(tz=tz)
    reference = ReferenceEvaluator(tz=tz)
    for batch in batches:
        engine.ingest(batch)
        reference.apply(validate_batch(batch, SCHEMA).records)
    members = engine.evaluate(rule, as_of)
    out = io.StringIO()
    result = write_csv(engine.shard, members, COLUMNS, out, as_of_ms=as_of, mandatory=mandatory, block_rows=block_rows)
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == COLUMNS and result.rows == len(rows)
    listed = engine.members(rule, as_of)  # the Members order
    expected_ids = [c for c in listed if not mandatory or _property(reference, c, "country") is not None]
    assert [row[0] for row in rows] == expected_ids
    assert result.left_out == len(listed) - len(expected_ids) and result.members == len(listed)
    for customer_id, country, tags, order_count, lifetime_value in rows:
        assert country == (_property(reference, customer_id, "country") or "")
        held_tags = _property(reference, customer_id, "tags")
        assert tags == ("|".join(sorted(held_tags)) if held_tags else "")
        events = [e for e in reference.customers[customer_id].events if e.ts_ms <= as_of]
        orders = [e for e in events if e.type == "order_created"]
        assert int(order_count) == len(orders)
        net = sum(map(_amount, orders)) - sum(_amount(e) for e in events if e.type == "order_refunded")
        assert Decimal(lifetime_value) == Decimal(net).scaleb(-2)


def _property(reference: ReferenceEvaluator, customer_id: str, name: str) -> object:
    held = reference.customers[customer_id].properties.get(name)
    return None if held is None or held[1] in (None, ()) else held[1]


def test_profile_of_one_customer() -> None:
    engine = Engine(tz="Europe/Berlin")
    engine.ingest([
        {"customer_id": "c-1", "ts": "2026-01-01T00:00:00Z",
         "properties": {"country": "DE", "tags": ["vip", "b"], "total_order_value": "10.5",
                        "birth_date": "1990-05-17"}},
        {"event_id": "e-1", "customer_id": "c-1", "type": "order_created", "ts": "2026-03-01T10:00:00Z",
         "attrs": {"amount": 12.5, "product_ids": ["p-2", "p-1"], "coupon": "X"}},
        {"event_id": "e-2", "customer_id": "c-1", "type": "product_viewed", "ts": "2026-03-02T10:00:00Z",
         "attrs": {"product_id": "p-9", "price": 3}},
        {"event_id": "e-3", "customer_id": "c-2", "type": "product_viewed", "ts": "2026-03-02T10:00:00Z"},
        {"event_id": "e-4", "customer_id": "c-1", "type": "page_viewed", "ts": "2026-05-02T10:00:00Z"},
    ])
    as_of = 1_775_000_000_000  # 2026-03-31
    profile = customer_profile(engine.shard, "c-1", as_of, recent=5)
    assert profile is not None
    assert profile.properties == {"country": "DE", "tags": "b|vip", "total_order_value": "10.50",
                                  "birth_date": "1990-05-17"}
    assert profile.computed["order_count"] == "1" and profile.computed["lifetime_value"] == "12.50"
    assert profile.computed["last_seen_at"] == "2026-03-02T11:00:00.000+01:00"
    assert [(event, ts) for event, ts, _ in profile.recent_events] == [
        ("product_viewed", "2026-03-02T11:00:00.000+01:00"), ("order_created", "2026-03-01T11:00:00.000+01:00")]
    assert profile.recent_events[1][2] == {"amount": "12.50", "product_ids": ["p-1", "p-2"], "coupon": "X"}
    assert customer_profile(engine.shard, "nobody", as_of) is None

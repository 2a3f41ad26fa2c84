"""Time candidates: every customer whose answer changes between t0 and t1 is a candidate, and the
candidates are few (the customers of the swept ranges, not everyone)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.rules.model import (
    AttributeCondition,
    Count,
    Duration,
    EventCondition,
    Last,
    PropertyCondition,
)
from indexes.schema import Schema
from indexes.segments.footprint import footprint
from indexes.segments.time_candidates import time_candidates
from tests.strategies_records import BASE_MS, HOUR_MS, ZONES, as_of_ms, record_batches
from tests.strategies_rules import extended_schema, rules

SCHEMA = Schema()
STEPS_MS = [1, 59 * 60_000, HOUR_MS, 5 * HOUR_MS, 24 * HOUR_MS, 49 * HOUR_MS + 1, 9 * 24 * HOUR_MS]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tz=st.sampled_from(ZONES), batches=record_batches(), rule_list=st.lists(rules(SCHEMA, max_leaves=3), min_size=1,
       max_size=3), t0=as_of_ms(), step=st.sampled_from(STEPS_MS))
def test_candidates_cover_every_change_of_a_full_evaluation(tz: str, batches: list[list[dict]], rule_list: list,
                                                            t0: int, step: int) -> None:
    engine = Engine(tz=tz)
    for batch in batches:
        engine.ingest(batch, now_ms=t0)
    for rule in rule_list:
        plan = engine.compile(rule)
        changed = engine.evaluate(plan, t0) ^ engine.evaluate(plan, t0 + step)
        candidates = time_candidates(footprint(plan).time, engine.shard, t0, t0 + step, {})
        assert changed <= candidates, f"{rule} from {t0} by {step}: {changed - candidates} not candidates"


@settings(max_examples=30, deadline=None)
@given(tz=st.sampled_from(ZONES), opened=st.lists(st.integers(-60, 60), min_size=1, max_size=12),
       op=st.sampled_from(["within_last", "more_than_ago"]), hours=st.sampled_from([1, 2, 7, 30]),
       t0=as_of_ms(), step=st.sampled_from(STEPS_MS))
def test_timestamp_attributes_in_where_are_covered_by_a_row_scan(tz: str, opened: list[int], op: str, hours: int,
                                                                 t0: int, step: int) -> None:
    engine = Engine(tz=tz, schema=extended_schema())
    engine.ingest([{"event_id": f"a{i}", "customer_id": f"c{i % 4}", "type": "app_opened", "ts": BASE_MS,
                    "attrs": {"opened_at": BASE_MS + offset * HOUR_MS}} for i, offset in enumerate(opened)], now_ms=t0)
    rule = EventCondition("app_opened", (AttributeCondition("opened_at", op, Duration("hours", hours)),), Count("gte", 1))
    plan = engine.compile(rule)
    changed = engine.evaluate(plan, t0) ^ engine.evaluate(plan, t0 + step)
    assert changed <= time_candidates(footprint(plan).time, engine.shard, t0, t0 + step, {})


@settings(max_examples=60, deadline=None)
@given(tz=st.sampled_from(ZONES), offsets_h=st.lists(st.integers(-80, 80), min_size=1, max_size=8),
       prop=st.sampled_from(["consent_updated_at", "birth_date"]), op=st.sampled_from(["within_last", "more_than_ago"]),
       duration=st.one_of(st.builds(Duration, st.just("hours"), st.sampled_from([1, 3, 30])),
                          st.builds(Duration, st.just("days"), st.sampled_from([1, 2, 4]))),
       t0=as_of_ms(), step=st.sampled_from(STEPS_MS))
def test_time_properties_dated_before_and_after_the_clock_are_covered(
        tz: str, offsets_h: list[int], prop: str, op: str, duration: Duration, t0: int, step: int) -> None:
    engine = Engine(tz=tz)
    records = []
    for i, offset in enumerate(offsets_h):
        value_ms = t0 + offset * HOUR_MS
        value = value_ms if prop == "consent_updated_at" else dt.datetime.fromtimestamp(
            value_ms / 1000, dt.UTC).date().isoformat()
        records.append({"customer_id": f"c{i}", "ts": BASE_MS, "properties": {prop: value}})
    engine.ingest(records, now_ms=t0)
    plan = engine.compile(PropertyCondition(prop, op, duration))
    changed = engine.evaluate(plan, t0) ^ engine.evaluate(plan, t0 + step)
    assert changed <= time_candidates(footprint(plan).time, engine.shard, t0, t0 + step, {})


def test_a_day_boundary_makes_candidates_of_that_day_only() -> None:
    engine = Engine(tz="Europe/Istanbul")
    start = int(dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp() * 1000)
    day_ms = 24 * HOUR_MS
    engine.ingest([{"event_id": f"o{i}", "customer_id": f"c{i}", "type": "order_created",
                    "ts": start + (i % 10) * day_ms + 3 * HOUR_MS} for i in range(200)], now_ms=start + 10 * day_ms)
    rule = EventCondition("order_created", (), Count("gte", 1), Last(Duration("days", 3)))
    plan = engine.compile(rule)
    t0 = start + 9 * day_ms + 12 * HOUR_MS  # day 9 noon: the window holds days 7, 8, 9
    t1 = t0 + day_ms  # day 10 noon: day 7 leaves
    candidates = time_candidates(footprint(plan).time, engine.shard, t0, t1, {})
    changed = engine.evaluate(plan, t0) ^ engine.evaluate(plan, t1)
    assert changed <= candidates and len(candidates) == 20 and len(changed) == 20  # day 7's customers
    assert not time_candidates(footprint(plan).time, engine.shard, t0, t0 + HOUR_MS, {})  # no boundary crossed

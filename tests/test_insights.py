"""Insights (indexes/insights.py) equal a naive count over the reference evaluator's records: orders,
revenue, buyers, lifetime-value buckets, property breakdowns and the window's top values, for random
data, rules, zones and as_of (late events included, so both the BSI and the rows paths are taken);
partials of two shards merge to the partial of one."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.insights import (
    BREAKDOWN_PROPERTIES,
    FULL_BREAKDOWNS,
    MAX_TOP,
    NOT_SET,
    WINDOW_TOPS,
    InsightsPartial,
    InsightsRequest,
    engine_insights,
    finish_insights,
    merge_partials,
    shard_insights,
    uncertain_tops,
    value_counts,
    with_exact_counts,
)
from indexes.plan.time_bounds import window_bounds
from indexes.records import validate_batch
from indexes.rules.model import Duration, Last
from indexes.schema import Schema
from tests.reference import ReferenceEvaluator
from tests.strategies_records import ZONES, as_of_ms, record_batches
from tests.strategies_rules import rules

SCHEMA = Schema()


def _amount(event) -> int:  # noqa: ANN001 - a reference EventRecord
    value = event.attrs.get("amount")
    return 0 if value is None else int(value)


def _expected(reference: ReferenceEvaluator, members: set[str], as_of: int, request: InsightsRequest,
              bounds: tuple[int | None, int]) -> InsightsPartial:
    """The partial a single shard must produce, counted one customer and one event at a time."""
    out = InsightsPartial(members=len(members), base=len(reference.customers))
    orders, revenue, buyers = [0, 0], [0, 0], [0, 0]
    buckets = [[0, 0] for _ in range(len(request.ltv_edges) + 1)]
    breakdowns: dict[str, Counter] = {name: Counter() for name in BREAKDOWN_PROPERTIES}
    tops: dict[str, Counter] = {name: Counter() for name, _, _ in WINDOW_TOPS}
    start, end = bounds
    for cid, customer in reference.customers.items():
        sides = (0, 1) if cid in members else (1,)
        mine = [e for e in customer.events if e.ts_ms <= as_of]
        placed = [e for e in mine if e.type == "order_created"]
        net = sum(_amount(e) for e in placed) - sum(_amount(e) for e in mine if e.type == "order_refunded")
        bucket = sum(1 for edge in request.ltv_edges if net >= edge)
        for side in sides:
            orders[side] += len(placed)
            revenue[side] += sum(_amount(e) for e in placed)
            buyers[side] += bool(placed)
            buckets[bucket][side] += 1
        for name in BREAKDOWN_PROPERTIES:
            held = customer.properties.get(name)
            value = None if held is None else held[1]
            keys = [NOT_SET] if value in (None, ()) else (sorted(value) if isinstance(value, tuple) else [value])
            for key in keys:
                for side in sides:
                    breakdowns[name][(key, side)] += 1
        for name, event_type, attr in WINDOW_TOPS:
            for event in customer.events:
                if event.type != event_type or event.ts_ms > end or (start is not None and event.ts_ms < start):
                    continue
                value = event.attrs.get(attr)
                for key in ([] if value is None else (list(value) if isinstance(value, tuple) else [value])):
                    for side in sides:
                        tops[name][(key, side)] += 1
    out.orders, out.revenue, out.buyers = tuple(orders), tuple(revenue), tuple(buyers)  # type: ignore[assignment]
    out.ltv_buckets = [tuple(b) for b in buckets]  # type: ignore[misc]
    for target, counted in ((out.breakdowns, breakdowns), (out.window_tops, tops)):
        for name, counter in counted.items():
            values = {key for key, _ in counter}
            if values:
                target[name] = {key: (counter[(key, 0)], counter[(key, 1)]) for key in values}
    return out


def _normal(partial: InsightsPartial) -> InsightsPartial:
    """What a partial lists when its top lists are long enough for every value: values held in the
    segment, plus every held value of the full breakdowns and (not set)."""
    for maps in (partial.breakdowns, partial.window_tops):
        for name in list(maps):
            full = name in FULL_BREAKDOWNS
            maps[name] = {k: v for k, v in maps[name].items() if v[0] > 0 or (v[1] > 0 and (full or k == NOT_SET))}
            if not maps[name]:
                del maps[name]
    partial.omitted = {}
    return partial


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tz=st.sampled_from(ZONES), batches=record_batches(), rule=rules(SCHEMA, max_leaves=4), as_of=as_of_ms(),
       window_days=st.sampled_from([1, 7, 30, 400]),
       edges=st.lists(st.integers(min_value=-5_000, max_value=100_000), max_size=4, unique=True).map(sorted))
def test_insights_equal_a_naive_count(tz: str, batches: list[list[dict]], rule: object, as_of: int,
                                      window_days: int, edges: list[int]) -> None:
    engine = Engine(tz=tz)
    reference = ReferenceEvaluator(tz=tz)
    for batch in batches:
        engine.ingest(batch)
        reference.apply(validate_batch(batch, SCHEMA).records)
    shard = engine.shard
    members = engine.evaluate(rule, as_of)
    request = InsightsRequest(window_days=window_days, ltv_edges=tuple(edges), top=MAX_TOP)
    got = shard_insights(shard, members, as_of, request)
    assert not any(got.omitted.values())  # top lists longer than the data: nothing left out
    got = _normal(got)
    bounds = window_bounds(shard.calendar, as_of, Last(Duration("days", window_days)))
    expected = _normal(_expected(reference, reference.members(rule, as_of), as_of, request, bounds))
    assert got == expected
    report = finish_insights([got], request, top=3)
    assert report.members == len(members) and report.revenue[1] == Decimal(expected.revenue[1]) / 100


def test_partials_of_two_shards_merge_to_one() -> None:
    day = 86_400_000
    now = 1_790_000_000_000
    records = [
        {"customer_id": f"c-{i}", "ts": now - 10 * day,
         "properties": {"country": ["TR", "DE", "NL"][i % 3], "tags": ["vip"] if i % 4 == 0 else [],
                        "marketing_consent": "granted" if i % 2 else "denied"}}
        for i in range(40)
    ] + [
        {"event_id": f"o-{i}", "customer_id": f"c-{i % 40}", "type": "order_created", "ts": now - (i % 50) * day,
         "attrs": {"amount": f"{10 + i}.50", "product_ids": [f"p-{i % 7}", f"p-{i % 5}"]}}
        for i in range(120)
    ]
    whole = Engine()
    whole.ingest(records)
    shards = [Engine(), Engine()]  # customers split by parity, as placement splits them by hash
    for record in records:
        shards[int(record["customer_id"].split("-")[1]) % 2].ingest([record])
    rule = 'country = "TR"'
    request = InsightsRequest(window_days=30, ltv_edges=(5_000, 20_000), top=MAX_TOP)
    single = shard_insights(whole.shard, whole.evaluate(rule, now), now, request)
    parts = [shard_insights(e.shard, e.evaluate(rule, now), now, request) for e in shards]
    assert _normal(parts[0].merge(parts[1])) == _normal(single)
    # Short top lists: the shards leave values out, the second round makes the merged tops exact.
    short = InsightsRequest(window_days=30, ltv_edges=(5_000, 20_000), top=1)
    parts = [shard_insights(e.shard, e.evaluate(rule, now), now, short) for e in shards]
    wanted = uncertain_tops(parts, short.top)
    assert "bought_products" in wanted, "7 products: one per shard is not enough"
    exact = [value_counts(e.shard, e.evaluate(rule, now), now, short, wanted) for e in shards]
    merged = with_exact_counts(merge_partials(parts), exact)
    alone = finish_insights([shard_insights(whole.shard, whole.evaluate(rule, now), now, short)], short, top=1)
    assert finish_insights([merged], short, top=1).window_tops == alone.window_tops
    report = engine_insights(whole.shard, whole.evaluate(rule, now), now, top=2)
    assert report.members == 14 and report.base == 40
    (country,) = report.breakdowns["country"]  # the top list holds values present in the segment only
    assert (country.value, country.segment, country.base) == ("TR", 14, 14)
    assert sum(r.segment for r in report.breakdowns["marketing_consent"]) == 14
    assert sum(b[0] for b in report.ltv_buckets) == 14 and sum(b[1] for b in report.ltv_buckets) == 40

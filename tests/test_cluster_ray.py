"""The sharded engine on Ray (actors.cluster.Cluster) against the embedded engine over the same records:
exact counts and member lists, paging, all-or-nothing ingest across shards, partial-mode indexes,
duplicates across restarts, declarations, overload, restart and layout refusal.

Ray and clusters are slow to start, so the runtime and the clusters are module-scoped, and tests on
the shared `small` cluster use customer ids of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import ray

from actors.api import OverloadedError, RecordStatus
from actors.cluster import Cluster
from actors.layout import ClusterLayoutError
from actors.placement import shard_of
from actors.ray_runtime import ensure_ray
from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from indexes.log import LogLockedError
from indexes.records import RecordBatchError
from indexes.rules import format_rule
from tests import paths

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
FAR_MS = 10**13
GEN_SHARDS = 3
EXTRA_RULES = [
    'country = "TR" and count(product_viewed, last 30 days) >= 2',
    'not tags has "vip" or language in ("de", "nl")',
    "order_count >= 3 or lifetime_value > 500",
    'count(session_started where device = "mobile", last 90 days) >= 1 and not count(order_created) >= 1',
    "birth_date between 1980-01-01 and 1995-12-31",
]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    ensure_ray()  # the session's runtime: clusters join it and leave it running for the next module
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


@pytest.fixture(scope="module")
def generated(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Engine, Cluster]]:
    data = generate_columns(3000, 60_000, seed=11)
    engine = Engine(tz="UTC")
    cluster = run(Cluster.start(tmp_path_factory.mktemp("generated"), shards=GEN_SHARDS, sync="never"))
    for batch in iter_records(data, 5000):
        engine.ingest(batch)
        outcome = run(cluster.ingest(batch))
        assert outcome.accepted == len(batch) and outcome.statuses == [RecordStatus.ACCEPTED] * len(batch)
    yield data, engine, cluster
    run(cluster.close())


@pytest.fixture(scope="module")
def small(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = run(Cluster.start(tmp_path_factory.mktemp("small"), shards=2, sync="never"))
    yield cluster
    run(cluster.close())


def all_members(run: Run, cluster: Cluster, rule: Any, as_of_ms: int, page_size: int) -> list[str]:
    members: list[str] = []
    after: str | None = None
    total = None
    for _ in range(100_000):  # bounded: a page advances by page_size
        page = run(cluster.members_page(rule, as_of_ms, after, page_size))
        assert total is None or page.total_count == total
        total = page.total_count
        assert page.customer_ids == sorted(page.customer_ids) and all(after is None or c > after for c in page.customer_ids)
        members.extend(page.customer_ids)
        if not page.has_more:
            break
        assert len(page.customer_ids) == page_size
        after = page.customer_ids[-1]
    assert total == len(members)
    return members


def customers_on(shard: int, shards: int, prefix: str, count: int = 1) -> list[str]:
    found = [f"{prefix}{i}" for i in range(10_000) if shard_of(f"{prefix}{i}", shards) == shard]
    assert len(found) >= count
    return found[:count]


def event(event_id: str, customer: str, event_type: str = "page_viewed", ts: int = 1000) -> dict:
    return {"event_id": event_id, "customer_id": customer, "type": event_type, "ts": ts}


def events_per_shard(run: Run, cluster: Cluster) -> list[int]:
    return [s.events for s in run(cluster.stats()).shards]


# --- exact answers ----------------------------------------------------------------------------------
def test_seed_suite_and_rules_equal_the_embedded_engine(run: Run, generated: tuple[Any, Engine, Cluster]) -> None:
    data, engine, cluster = generated
    rules = [rule for _, rule in load_seed_suite(paths.SEED_SUITE, placeholders(data))] + EXTRA_RULES
    assert run(cluster.stats()).customers == engine.customer_count() == 3000
    nonempty = 0
    for rule in rules:
        for as_of_ms in (data.as_of_ms, data.as_of_ms - 200 * 86_400_000):
            expected = engine.members(rule, as_of_ms)
            assert run(cluster.count(rule, as_of_ms)).count == len(expected), rule
            assert all_members(run, cluster, rule, as_of_ms, 1000) == expected, rule
            nonempty += bool(expected)
    assert nonempty >= len(rules)  # the rules select someone at least at one instant
    rule = rules[1]
    preview = run(cluster.preview(rule, data.as_of_ms, 5))
    assert preview.sample_customer_ids == engine.members(rule, data.as_of_ms)[:5]
    assert preview.count == engine.count(rule, data.as_of_ms)
    assert preview.rule_text == format_rule(engine.load_rule(rule)) and preview.as_of_ms == data.as_of_ms


def test_paging_returns_every_member_exactly_once(run: Run, generated: tuple[Any, Engine, Cluster]) -> None:
    data, engine, cluster = generated
    rule = {"event": "order_created", "count": {"op": "eq", "value": 0}, "window": "all_time"}
    expected = engine.members(rule, data.as_of_ms)
    assert len(expected) > 500
    members = all_members(run, cluster, rule, data.as_of_ms, 37)
    assert members == expected and len(set(members)) == len(members)
    after: str | None = None
    for position in range(40):  # one-id pages walk the list one by one
        page = run(cluster.members_page(rule, data.as_of_ms, after, 1))
        assert page.customer_ids == [expected[position]] and page.has_more
        after = page.customer_ids[0]
    # Single-id pages from a cursor in the middle, and a cursor between ids.
    middle = expected[len(expected) // 2]
    page = run(cluster.members_page(rule, data.as_of_ms, middle, 1))
    assert page.customer_ids == [expected[len(expected) // 2 + 1]] and page.has_more
    page = run(cluster.members_page(rule, data.as_of_ms, middle + "\x00", 3))
    assert page.customer_ids == expected[len(expected) // 2 + 1 : len(expected) // 2 + 4]
    last = run(cluster.members_page(rule, data.as_of_ms, expected[-2], 5))
    assert last.customer_ids == [expected[-1]] and not last.has_more
    empty = run(cluster.members_page(rule, data.as_of_ms, expected[-1], 5))
    assert empty.customer_ids == [] and not empty.has_more and empty.total_count == len(expected)


# --- ingest across shards -----------------------------------------------------------------------------
def test_a_bad_record_on_one_shard_stores_nothing_on_any(run: Run, small: Cluster) -> None:
    (a,) = customers_on(0, 2, "aon-")
    (b,) = customers_on(1, 2, "aon-")
    before = events_per_shard(run, small)
    batch = [event("aon-1", a), event("aon-2", a), {"customer_id": a, "ts": 5, "properties": {"country": "TR"}},
             event("aon-3", b), event("aon-4", b, event_type="no_such_type"), {"declare": {"property": "x", "type": "string"}}]
    with pytest.raises(RecordBatchError) as caught:
        run(small.ingest(batch))
    assert [(e.index, e.field) for e in caught.value.errors] == [(4, "type"), (5, "declare")]
    assert caught.value.errors[1].reason == "declarations go through SchemaService.Declare"
    assert events_per_shard(run, small) == before
    assert run(small.count('country = "TR" and count(page_viewed) >= 1', FAR_MS)).count == 0
    for shard in range(2):  # every prepared sub-batch was released
        assert ray.get(small.shard_actor(shard).prepared_count.remote()) == 0
    outcome = run(small.ingest(batch[:4]))
    assert outcome.accepted == 4 and outcome.statuses == [RecordStatus.ACCEPTED] * 4
    assert [e - b for e, b in zip(events_per_shard(run, small), before, strict=True)] == [2, 1]


def test_partial_mode_maps_indexes_back_to_the_batch(run: Run, small: Cluster) -> None:
    a, a2 = customers_on(0, 2, "pm-", 2)
    b, b2 = customers_on(1, 2, "pm-", 2)
    run(small.ingest([event("pm-old", b2)]))
    batch = [
        event("pm-1", a),  # 0 accepted
        event("pm-2", b, event_type="nope"),  # 1 rejected on shard 1
        event("pm-3", b),  # 2 accepted
        event("pm-1", a),  # 3 duplicate within the batch
        {"declare": {"property": "y", "type": "string"}},  # 4 rejected at the router
        {"type": "page_viewed", "event_id": "pm-5", "ts": 1},  # 5 no customer: rejected at the router
        event("pm-old", b2),  # 6 duplicate of an earlier batch
        {"customer_id": a2, "ts": 1, "properties": {"country": 7}},  # 7 rejected on shard 0
        {"forget_customer": a2, "ts": 2},  # 8 accepted
    ]
    outcome = run(small.ingest(batch, partial=True))
    A, D, R = RecordStatus.ACCEPTED, RecordStatus.DUPLICATE, RecordStatus.REJECTED
    assert outcome.statuses == [A, R, A, D, R, R, D, R, A]
    assert [(e.index, e.field) for e in outcome.errors] == [(1, "type"), (4, "declare"), (5, "customer_id"),
                                                            (7, "properties.country")]
    assert (outcome.accepted, outcome.duplicates, outcome.rejected) == (3, 2, 4)


def test_declare_then_ingest_with_the_new_property(run: Run, small: Cluster) -> None:
    declared = run(small.declare([
        {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver"]},
        {"event": "return_requested", "attributes": {"reason": "string", "amount": "number"}},
    ], 1234))
    assert declared == 2
    schema = run(small.schema())
    assert "loyalty_tier" in schema.properties and "return_requested" in schema.events
    customers = customers_on(0, 2, "dc-", 2) + customers_on(1, 2, "dc-", 2)
    batch = [{"customer_id": c, "ts": 10, "properties": {"loyalty_tier": "gold" if i % 2 else "silver"}}
             for i, c in enumerate(customers)]
    batch += [{"event_id": f"dc-r{i}", "customer_id": c, "type": "return_requested", "ts": 20,
               "attrs": {"reason": "size", "amount": 12.5}} for i, c in enumerate(customers[:3])]
    assert run(small.ingest(batch)).accepted == len(batch)
    rule = 'loyalty_tier = "gold" and sum(return_requested.amount) >= 12.5'
    assert run(small.count(rule, FAR_MS)).count == 1
    # A conflicting declaration is refused on every shard, before any shard stores anything.
    with pytest.raises(RecordBatchError) as caught:
        run(small.declare([{"property": "score", "type": "number"}, {"property": "loyalty_tier", "type": "string"}], None))
    assert [e.index for e in caught.value.errors] == [1]
    assert "score" not in run(small.schema()).properties
    for shard in range(2):
        assert ray.get(small.shard_actor(shard).schema.remote()) == run(small.schema())


def test_compaction_and_snapshots_per_shard(run: Run, small: Cluster) -> None:
    (gone,) = customers_on(1, 2, "cp-")
    run(small.ingest([event(f"cp-{i}", gone) for i in range(5)]))
    run(small.ingest([{"forget_customer": gone, "ts": 9}]))
    reports = run(small.compact())
    assert [r.shard for r in reports] == [0, 1]
    assert reports[1].records_after < reports[1].records_before
    assert small.serving()
    snapshots = run(small.snapshot())
    assert [s.shard for s in snapshots] == [0, 1] and all(s.path.startswith(f"shard-000{s.shard}/") for s in snapshots)
    # Ids of compacted events stay seen: re-sending them is acknowledged as duplicates.
    again = run(small.ingest([event(f"cp-{i}", gone) for i in range(5)]))
    assert again.statuses == [RecordStatus.DUPLICATE] * 5
    stats = run(small.stats())
    assert [s.state for s in stats.shards] == ["SERVING", "SERVING"] and stats.shards[1].snapshot_age_ms is not None


# --- bounds -------------------------------------------------------------------------------------------
def test_overloaded_when_the_inflight_bound_is_hit(run: Run, tmp_path: Path) -> None:
    cluster = run(Cluster.start(tmp_path, shards=2, sync="never", max_inflight_calls_per_shard=2))
    try:
        async def burst() -> list[Any]:
            calls = [cluster.count("count(page_viewed) >= 1", FAR_MS) for _ in range(6)]
            calls += [cluster.ingest([event(f"ov-{i}", f"c{i}")]) for i in range(4)]
            return await asyncio.gather(*calls, return_exceptions=True)

        answers = run(burst())
        overloaded = [a for a in answers if isinstance(a, OverloadedError)]
        assert overloaded and len(overloaded) < len(answers)
        assert all(isinstance(a, OverloadedError) or not isinstance(a, BaseException) for a in answers)
        # Slots are given back: the next calls go through.
        assert run(cluster.count("count(page_viewed) >= 1", FAR_MS)).count >= 0
        assert run(cluster.ingest([event("ov-x", "cx")])).accepted == 1
    finally:
        run(cluster.close())


# --- restart ------------------------------------------------------------------------------------------
def test_restart_keeps_state_duplicates_stay_duplicates_and_shards_are_fixed(run: Run, tmp_path: Path) -> None:
    batch = [event(f"rs-{i}", f"rs-c{i % 17}", ts=1000 + i) for i in range(200)]
    batch += [{"customer_id": f"rs-c{i}", "ts": 5, "properties": {"country": "DE"}} for i in range(5)]
    cluster = run(Cluster.start(tmp_path, shards=3, tz="Europe/Istanbul", sync="always"))
    try:
        assert run(cluster.ingest(batch)).accepted == len(batch)
        with pytest.raises(LogLockedError):
            run(Cluster.start(tmp_path))  # one cluster per data directory
        run(cluster.declare([{"property": "segment_note", "type": "string"}], None))
    finally:
        run(cluster.close())
    with pytest.raises(ClusterLayoutError, match="created with 3 shards"):
        run(Cluster.start(tmp_path, shards=2))
    reopened = run(Cluster.start(tmp_path, sync="always"))
    try:
        assert reopened.shards == 3 and run(reopened.stats()).time_zone == "Europe/Istanbul"
        assert "segment_note" in run(reopened.schema()).properties
        again = run(reopened.ingest(batch[:200]))
        assert again.statuses == [RecordStatus.DUPLICATE] * 200 and again.accepted == 0
        assert run(reopened.count('country = "DE" and count(page_viewed) >= 11', FAR_MS)).count == 5
        assert run(reopened.stats()).events == 200
    finally:
        run(reopened.close())

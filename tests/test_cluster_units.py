"""The parts of the sharded engine (actors/) that need no Ray: placement, layout, prepared-batch
registry, member pages, schema sync, and a shard service run in-process."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.api import OverloadedError, ShardUnavailableError
from actors.layout import CLUSTER_FILE, ClusterLayoutError, open_layout
from actors.member_pages import SortedMembersCache, merge_pages, page_after
from actors.placement import DECLARATION_REASON, route_batch, shard_of
from actors.prepared import PreparedRegistry
from actors.schema_sync import SchemaDivergedError, fullest, missing_declarations
from actors.shard_service import SERVING, ShardService
from indexes.durable import DurableEngine
from indexes.durable.engine import PreparedBatchError
from indexes.plan.compile import compile_rule
from indexes.rules import load_rule
from indexes.schema import Schema

FAR_MS = 10**13


def event(event_id: str, customer: str, ts: int = 1000) -> dict:
    return {"event_id": event_id, "customer_id": customer, "type": "page_viewed", "ts": ts}


# --- placement ------------------------------------------------------------------------------------
def test_placement_is_a_fixed_function_of_the_id() -> None:
    # Pinned values: a change of hash or encoding would move customers between shards of stored data.
    assert (shard_of("c-42", 4), shard_of("c-43", 4), shard_of("customer-1", 7), shard_of("ü-ÿ", 5)) == (0, 3, 3, 2)
    assert shard_of("c-42", 1) == 0
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"c{i}", 4)] += 1
    assert min(counts) > 850, counts  # about 1000 each


def test_route_batch_keeps_every_index_once_in_order() -> None:
    raws = [
        event("e1", "a"),
        {"customer_id": "b", "ts": 1, "properties": {}},
        {"forget_customer": "a", "ts": 2},
        {"declare": {"property": "x", "type": "string"}},
        {"customer_id": 7, "type": "page_viewed"},  # names no customer (not a string)
        "not an object",
        {"type": "page_viewed"},  # an event without customer
        event("e2", "a"),
    ]
    routed = route_batch(raws, 3)
    assert routed.declarations == [3] and routed.unroutable == [4, 5, 6]
    a = shard_of("a", 3)
    assert routed.indexes[a][:1] == [0] and 2 in routed.indexes[a] and routed.indexes[a][-1] == 7
    assert sorted(i for idx in routed.indexes for i in idx) == [0, 1, 2, 7]
    for shard in range(3):
        assert routed.raws[shard] == [raws[i] for i in routed.indexes[shard]]
        assert routed.indexes[shard] == sorted(routed.indexes[shard])
    assert DECLARATION_REASON == "declarations go through SchemaService.Declare"


# --- layout ---------------------------------------------------------------------------------------
def test_layout_is_fixed_at_creation(tmp_path: Path) -> None:
    layout = open_layout(tmp_path, shards=3, tz="Europe/Istanbul")
    written = json.loads((tmp_path / CLUSTER_FILE).read_text())
    assert written["shards"] == 3 and written["hash"] == "xxh3_64" and written["tz"] == "Europe/Istanbul"
    assert "created_at_ms" in written
    assert [layout.shard_path(i) for i in range(3)] == ["shard-0000", "shard-0001", "shard-0002"]
    assert all((tmp_path / f"shard-000{i}" / "workspace.json").is_file() for i in range(3))
    assert open_layout(tmp_path).shards == 3  # omitted: the stored count
    assert open_layout(tmp_path, shards=3) == layout
    with pytest.raises(ClusterLayoutError, match="created with 3 shards.*--shards 4"):
        open_layout(tmp_path, shards=4)
    with pytest.raises(ClusterLayoutError, match="time zone"):
        open_layout(tmp_path, tz="UTC")
    (tmp_path / "shard-0001" / "workspace.json").unlink()
    with pytest.raises(ClusterLayoutError, match="shard-0001 is missing"):
        open_layout(tmp_path)


def test_layout_refuses_single_engine_dirs_and_orphaned_shards(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path / "single", sync="never") as engine:
        engine.ingest([event("e1", "a")])
    with pytest.raises(ClusterLayoutError, match="single-engine"):
        open_layout(tmp_path / "single", shards=2)
    # Shard data without cluster.json: creating again could change the shard count under it.
    open_layout(tmp_path / "c", shards=2)
    with DurableEngine.open(tmp_path / "c" / "shard-0000", sync="never") as engine:
        engine.ingest([event("e1", "a")])
    (tmp_path / "c" / CLUSTER_FILE).unlink()
    with pytest.raises(ClusterLayoutError, match="holds shard data"):
        open_layout(tmp_path / "c", shards=2)
    with pytest.raises(ClusterLayoutError, match="unknown time zone"):
        open_layout(tmp_path / "d", tz="Mars/Olympus")
    assert not (tmp_path / "d" / CLUSTER_FILE).exists()


# --- prepared batches -----------------------------------------------------------------------------
def test_prepared_registry_bounds_and_expires(tmp_path: Path) -> None:
    now = [0.0]
    registry = PreparedRegistry(max_batches=2, ttl_ms=1000, clock=lambda: now[0])
    with DurableEngine.open(tmp_path, sync="never") as engine:
        first = registry.add(engine.prepare([event("e1", "a")]), engine.release)
        registry.add(engine.prepare([event("e2", "b")]), engine.release)
        third = engine.prepare([event("e3", "c")])
        with pytest.raises(OverloadedError):
            registry.add(third, engine.release)
        assert third.state == "released"  # refused batches hold nothing
        now[0] = 0.5
        assert registry.expire() == 0
        prepared = registry.take(first)
        with pytest.raises(PreparedBatchError):
            registry.take(first)
        engine.commit(prepared)
        now[0] = 1.1
        assert registry.expire() == 1 and len(registry) == 0 and registry.expired_total == 1
        assert engine.prepared_count == 0
        # e2 expired: nothing of it stored, and its id is free again.
        assert engine.ingest([event("e2", "b")]).accepted == 1


# --- member pages ---------------------------------------------------------------------------------
def test_merged_pages_walk_every_member_once_in_order() -> None:
    rng = random.Random(5)
    members = sorted({f"c{rng.randrange(10**6)}" for _ in range(3000)} | {"ä", "z", "Z", "\U0001f600", "é"})
    shards = 4
    per_shard = [sorted(m for m in members if shard_of(m, shards) == s) for s in range(shards)]
    for page_size in (1, 7, 1000, 10_000):
        seen: list[str] = []
        after: str | None = None
        for _ in range(len(members) + 1):
            pages = [page_after(lst, after, page_size) for lst in per_shard]
            page, has_more = merge_pages(pages, page_size)
            assert sum(p.count for p in pages) == len(members)
            seen.extend(page)
            if not has_more:
                break
            assert len(page) == page_size
            after = page[-1]
        assert seen == members


@given(st.lists(st.text(min_size=1, max_size=6), max_size=40))
@settings(max_examples=200, deadline=None)
def test_str_order_is_utf8_byte_order(ids: list[str]) -> None:
    valid = [s for s in ids if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s)]  # protobuf strings
    assert sorted(valid) == sorted(valid, key=lambda s: s.encode("utf-8"))


def test_member_list_cache_is_bounded() -> None:
    cache = SortedMembersCache(entries=2, max_ids=10)
    cache.put(("a", 1, 1), ["x"] * 4)
    cache.put(("b", 1, 1), ["y"] * 4)
    assert cache.get(("a", 1, 1)) is not None  # a is now the most recent
    cache.put(("c", 1, 1), ["z"] * 4)  # evicts b (entries) ...
    assert cache.get(("b", 1, 1)) is None and cache.get(("a", 1, 1)) is not None
    cache.put(("d", 1, 1), ["w"] * 9)  # ... and ids: only d fits
    assert cache.get(("a", 1, 1)) is None and cache.get(("c", 1, 1)) is None and cache.get(("d", 1, 1))
    cache.put(("e", 1, 1), ["v"] * 11)  # larger than the budget: not cached
    assert cache.get(("e", 1, 1)) is None and cache.get(("d", 1, 1))


# --- schema sync ----------------------------------------------------------------------------------
def test_missing_declarations_rebuild_the_fuller_schema() -> None:
    bodies = [
        {"property": "tier", "type": "enum", "values": ["gold", "silver"]},
        {"property": "score", "type": "number", "scale": 0},
        {"event": "return_requested", "attributes": {"reason": "string", "amount": {"type": "number", "scale": 3}}},
        {"event": "order_created", "attributes": {"channel": "string"}},
    ]
    lagging = Schema()
    lagging.apply_declaration(bodies[0])
    full = lagging.copy()
    full.apply_declaration({"property": "tier", "type": "enum", "values": ["gold", "silver", "bronze"]})
    for body in bodies[1:]:
        full.apply_declaration(body)
    assert fullest([lagging, full, Schema()]) is full
    repaired = lagging.copy()
    for body in missing_declarations(lagging, full):
        repaired.apply_declaration(body)
    assert repaired == full
    assert missing_declarations(full, full) == []
    other = Schema()
    other.apply_declaration({"property": "tier", "type": "string"})
    with pytest.raises(SchemaDivergedError):
        fullest([full, other])


# --- shard service, in process --------------------------------------------------------------------
def wait_serving(service: ShardService, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while service.state()[0] != SERVING:
        assert time.monotonic() < deadline, service.state()
        time.sleep(0.01)


def test_shard_service_two_phase_pages_and_compaction(tmp_path: Path) -> None:
    open_layout(tmp_path, shards=1)
    service = ShardService(0, str(tmp_path), "shard-0000", sync="never")
    wait_serving(service)
    schema = service.schema()
    plan = compile_rule(load_rule("count(page_viewed) >= 1", schema), schema)
    reply = service.prepare([event(f"e{i}", f"c{i:03d}") for i in range(30)], False)
    assert reply.token is not None and not reply.refused and service.prepared_count() == 1
    assert service.count(plan, FAR_MS) == 0
    result = service.commit(reply.token, None)
    assert result.accepted == 30 and service.prepared_count() == 0
    with pytest.raises(ShardUnavailableError, match="nothing stored on it, retry"):
        service.commit(reply.token, None)  # a token is taken once (then unknown, as after a restart)
    # All duplicates: nothing to commit, answered in prepare.
    again = service.prepare([event("e1", "c001")], False)
    assert again.token is None and again.result is not None and again.result.duplicate_indexes == [0]
    refused = service.prepare([event("e99", "c1"), {"event_id": "x"}], False)
    assert refused.refused and refused.token is None and [e.index for e in refused.errors] == [1]

    page = service.members_page(plan, "d", FAR_MS, None, 10)
    assert page.customer_ids == [f"c{i:03d}" for i in range(10)] and page.has_more and page.count == 30
    page = service.members_page(plan, "d", FAR_MS, "c025", 10)
    assert page.customer_ids == [f"c{i:03d}" for i in range(26, 30)] and not page.has_more
    assert service._members.hits >= 1  # the second page came from the cached sorted list

    token = service.prepare([event("e100", "c100")], False).token
    assert token is not None
    erase = service.prepare([{"forget_customer": "c001", "ts": 5}], False).token
    assert erase is not None
    service.commit(erase, None)
    info = service.compact()  # releases the prepared batch, closes, compacts, reopens
    assert service.state()[0] == SERVING and service.prepared_count() == 0
    assert info.records_after < info.records_before
    with pytest.raises(ShardUnavailableError):
        service.commit(token, None)
    assert service.count(plan, FAR_MS) == 29
    service.close()
    with pytest.raises(ShardUnavailableError):
        service.count(plan, FAR_MS)

"""The shard's exact count cache (actors/count_cache.py), in process: a hit only for the same plan, the
same instant and the same log position; every write makes earlier answers unreachable; off by default."""

from __future__ import annotations

import time
from pathlib import Path

from actors.count_cache import CountCache
from actors.layout import open_layout
from actors.shard_service import SERVING, ShardService
from indexes.plan.compile import compile_rule
from indexes.rules import load_rule

FAR_MS = 10**13


def event(event_id: str, customer: str, ts: int = 1000) -> dict:
    return {"event_id": event_id, "customer_id": customer, "type": "page_viewed", "ts": ts}


def open_service(tmp_path: Path, entries: int) -> ShardService:
    open_layout(tmp_path, shards=1)
    service = ShardService(0, str(tmp_path), "shard-0000", sync="never", count_cache_entries=entries)
    deadline = time.monotonic() + 30
    while service.state()[0] != SERVING:
        assert time.monotonic() < deadline, service.state()
        time.sleep(0.01)
    return service


def ingest(service: ShardService, records: list[dict]) -> None:
    reply = service.prepare(records, False)
    if reply.token is not None:
        service.commit(reply.token, None)


def test_cached_counts_equal_fresh_ones_across_writes(tmp_path: Path) -> None:
    service = open_service(tmp_path, entries=16)
    cache = service._counts
    assert cache is not None
    schema = service.schema()
    one = compile_rule(load_rule("count(page_viewed) >= 1", schema), schema)
    two = compile_rule(load_rule("count(page_viewed) >= 2", schema), schema)
    ingest(service, [event(f"e{i}", f"c{i % 5}") for i in range(8)])

    assert service.count_many([(one, FAR_MS), (two, FAR_MS)]) == [5, 3]
    assert service.count_many([(one, FAR_MS), (two, FAR_MS), (one, 500)]) == [5, 3, 0]
    assert (cache.hits, cache.misses) == (2, 3)  # the same plan at another instant is another count

    ingest(service, [event("e-new", "c-new")])  # the log moved: earlier answers are unreachable
    assert service.count_many([(one, FAR_MS)]) == [6]
    ingest(service, [{"forget_customer": "c0", "ts": 2000}])
    assert service.count_many([(one, FAR_MS), (two, FAR_MS)]) == [5, 2] == [service.count(one, FAR_MS),
                                                                           service.count(two, FAR_MS)]
    service.close()


def test_the_cache_is_off_by_default_and_bounded(tmp_path: Path) -> None:
    service = open_service(tmp_path, entries=0)
    assert service._counts is None
    service.close()
    cache = CountCache(2)
    for n in range(3):
        cache.put(("plan", n, 0), n)
    assert cache.get(("plan", 0, 0)) is None and cache.get(("plan", 2, 0)) == 2
    cache.disable()
    cache.put(("plan", 5, 0), 5)
    assert cache.get(("plan", 5, 0)) is None and cache.get(("plan", 2, 0)) is None

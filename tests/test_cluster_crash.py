"""Kill shard actors while ingest runs: Ray restarts them, they recover from snapshot + log, and every
acknowledged event is present exactly once, with answers equal to the embedded engine's.

Producers retry a batch until it is acknowledged (as a client does on UNAVAILABLE), so every batch is
acknowledged in the end; a batch whose commit failed on the killed shard may be stored on the other
one already, and its retry must store each record exactly once (event ids deduplicate, profiles are
last-writer-wins)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import ray

from actors.api import OverloadedError, RecordStatus, ShardUnavailableError
from actors.cluster import Cluster
from actors.ray_runtime import ensure_ray
from benchmarks.numbered_batches import numbered_batch
from indexes.engine import Engine

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
FAR_MS = 10**13
CUSTOMERS = 10
BATCHES = 120
PRODUCERS = 2
RETRY_DEADLINE_S = 60
RULES = [
    "count(page_viewed) >= 30",
    "sum(order_created.amount) >= 100 and count(order_created) >= 10",
    'country = "DE" or count(page_viewed, last 1 days) >= 1',
    "order_count between 5 and 40",
]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    ensure_ray()
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


def batch(n: int) -> list[dict]:
    """One event per customer (ids b{n}-{i}) and one profile write."""
    return numbered_batch(n, CUSTOMERS, event_prefix="b", customer_prefix="k")


def test_killing_shards_under_load_keeps_every_acknowledged_event_exactly_once(run: Run, tmp_path: Path) -> None:
    cluster = run(Cluster.start(tmp_path, shards=2, sync="always"))
    acknowledged: list[int] = []
    retries = [0]
    serving_seen: list[bool] = []

    async def produce(first: int) -> None:
        for n in range(first, BATCHES, PRODUCERS):
            deadline = time.monotonic() + RETRY_DEADLINE_S
            while True:  # bounded by the deadline
                try:
                    outcome = await cluster.ingest(batch(n))
                except (ShardUnavailableError, OverloadedError):
                    retries[0] += 1
                    assert time.monotonic() < deadline, f"batch {n} not acknowledged in {RETRY_DEADLINE_S} s"
                    await asyncio.sleep(0.02)
                    continue
                assert set(outcome.statuses) <= {RecordStatus.ACCEPTED, RecordStatus.DUPLICATE}
                acknowledged.append(n)
                break

    async def watch(stop: asyncio.Event) -> None:
        while not stop.is_set():
            serving_seen.append(cluster.serving())
            await asyncio.sleep(0.01)

    async def acknowledged_at_least(count: int) -> None:
        deadline = time.monotonic() + RETRY_DEADLINE_S
        while len(acknowledged) < count:  # bounded by the deadline
            assert time.monotonic() < deadline, f"{len(acknowledged)} batches acknowledged, waiting for {count}"
            await asyncio.sleep(0.002)

    async def scenario() -> None:
        stop = asyncio.Event()
        watcher = asyncio.get_running_loop().create_task(watch(stop))
        producers = [asyncio.get_running_loop().create_task(produce(k)) for k in range(PRODUCERS)]
        # Kills tied to progress, so each lands while batches are in flight: every batch needs both
        # shards, so 50 acknowledged means shard 1 is back before shard 0 is killed.
        await acknowledged_at_least(20)
        ray.kill(cluster.shard_actor(1), no_restart=False)
        await acknowledged_at_least(50)
        with contextlib.suppress(ShardUnavailableError):  # a probe may not have seen shard 1 back yet
            await cluster.snapshot()  # so that shard 0's restart starts from a snapshot
        await acknowledged_at_least(70)
        ray.kill(cluster.shard_actor(0), no_restart=False)
        await asyncio.gather(*producers)
        await cluster.wait_serving(60_000)
        stop.set()
        await watcher

    try:
        run(scenario())
        assert sorted(acknowledged) == list(range(BATCHES))
        assert retries[0] > 0 and False in serving_seen and cluster.serving()
        stats = run(cluster.stats())
        # Exactly once: one event row and one remembered id per acknowledged event, none twice.
        assert stats.events == BATCHES * CUSTOMERS
        assert sum(s.event_ids for s in stats.shards) == BATCHES * CUSTOMERS
        reference = Engine(tz="UTC")
        for n in range(BATCHES):
            reference.ingest(batch(n))
        as_of_ms = 1_000_000 + BATCHES * 1000
        for rule in RULES:
            expected = reference.members(rule, as_of_ms)
            assert run(cluster.count(rule, as_of_ms)).count == len(expected), rule
            page = run(cluster.members_page(rule, as_of_ms, None, 100))
            assert page.customer_ids == expected and not page.has_more, rule
        for shard in range(2):  # nothing left prepared: committed, released, or lost with the process
            assert ray.get(cluster.shard_actor(shard).prepared_count.remote()) == 0
        # Every id is remembered: the whole history again is all duplicates.
        again = run(cluster.ingest([r for n in range(0, BATCHES, 10) for r in batch(n) if "event_id" in r]))
        assert again.accepted == 0 and again.duplicates == len(range(0, BATCHES, 10)) * CUSTOMERS
    finally:
        run(cluster.close())

"""Shards spread over a 3-node Ray cluster (ray.cluster_utils.Cluster on this machine); a node holding
shards is removed while ingest runs; its shards come back on the nodes left, from snapshot + log in
the shared data directory, and every acknowledged event is present exactly once.

Every node advertises the custom resource `segments_shard` (2 units) and the Cluster backend starts
with `placement=spread, shard_resource=segments_shard`. Shards on the head (the router's node) are
called over their Unix socket, those on the workers through Ray (actors/remote_channel.py): both
transports are exercised, and after the removal the moved shards are reached through whichever
transport their new node needs.

Producers ingest without pause from before the removal until after the shards are back, and retry a
batch until it is acknowledged (as a client does on UNAVAILABLE), so all batches are acknowledged; a batch whose commit failed on a lost shard may already be stored on the
others, and its retry must store each record exactly once. Answers are compared with the embedded
engine and the reference evaluator (tests/reference.py) fed every batch once.

The nodes detect a dead peer quickly here (GCS health checks every 500 ms, 5 misses): Ray's defaults
(3 s x 5) would make the test wait ~15 s for the removal to be noticed.

Also here, without Ray: the placement options and their refusals, and a data directory's flock taken
over at once when its holder was killed (what a restarted shard relies on)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import ray
from ray.cluster_utils import Cluster as RayTestCluster

from actors.api import OverloadedError, RecordStatus, ShardUnavailableError
from actors.cluster import Cluster
from actors.placement_nodes import (
    DEFAULT_SHARD_RESOURCE,
    LOCAL,
    SPREAD,
    PlacementError,
    ShardPlacement,
    actor_options,
    check_room,
)
from actors.shard_client import RAY_CALLS, UNIX_SOCKET
from benchmarks.numbered_batches import numbered_batch
from indexes.engine import Engine
from indexes.log import LogLockedError
from indexes.log.fsio import DirLock
from indexes.records import validate_batch
from tests.reference import ReferenceEvaluator

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
pytestmark = pytest.mark.timeout(240)

SHARDS = 4
SHARD_UNITS_PER_NODE = 2  # 3 nodes x 2 = 6 slots for 4 shards; 4 left after one node goes
NODE_OBJECT_STORE_BYTES = 80 * 1024 * 1024
SHARD_MEMORY_BYTES = 64 << 20  # Ray's memory resource, reserved per shard actor
CUSTOMERS = 12
PRODUCERS = 2
REMOVE_AFTER_BATCHES = 25
AFTER_RECOVERY_BATCHES = 20  # acknowledged after the moved shards are back: ingest resumed on them
RETRY_DEADLINE_S = 90
HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                 "health_check_timeout_ms": 500, "health_check_failure_threshold": 5}
NODE_ID = "ab" * 28  # a well-formed Ray node id (56 hex digits)
RULES = [
    "count(page_viewed) >= 20",
    "sum(order_created.amount) >= 50 and count(order_created) >= 5",
    'country = "DE" or count(page_viewed, last 1 days) >= 1',
    "order_count between 3 and 40",
]


def batch(n: int) -> list[dict]:
    """One event per customer (ids m{n}-{i}) and one profile write."""
    return numbered_batch(n, CUSTOMERS, event_prefix="m", customer_prefix="c")


@pytest.fixture(scope="module")
def ray_nodes() -> Iterator[RayTestCluster]:
    """A head and two workers on this machine; the test process is the driver, on the head."""
    if ray.is_initialized():
        ray.shutdown()  # another module's local runtime: this module needs a driver on the test cluster
    node_args = {"num_cpus": 1, "object_store_memory": NODE_OBJECT_STORE_BYTES,
                 "resources": {DEFAULT_SHARD_RESOURCE: SHARD_UNITS_PER_NODE}}
    nodes = RayTestCluster(initialize_head=True, head_node_args={**node_args, "_system_config": HEALTH_CHECKS})
    for _ in range(2):
        nodes.add_node(**node_args)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, logging_level="ERROR", log_to_driver=False)
    try:
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


def actor_nodes(cluster: Cluster) -> list[str]:
    """The node each shard actor runs on, asked of the actors themselves."""
    return [ray.get(cluster.shard_actor(s).location.remote(), timeout=30)[0] for s in range(SHARDS)]


def test_spread_shards_survive_losing_a_node_under_load(ray_nodes: RayTestCluster, run: Run, tmp_path: Path) -> None:
    head_id = ray_nodes.head_node.node_id
    placement = ShardPlacement(SPREAD, DEFAULT_SHARD_RESOURCE, SHARD_MEMORY_BYTES)
    cluster = run(Cluster.start(tmp_path, shards=SHARDS, sync="always", placement=placement))
    try:
        before = actor_nodes(cluster)
        assert len(set(before)) >= 2, f"shards not spread: {before}"
        # Each shard is reached the way its node requires: the socket on the router's node, Ray elsewhere.
        assert [loc for loc, _ in cluster.shard_locations()] == before
        for node_id, transport in cluster.shard_locations():
            assert transport == (UNIX_SOCKET if node_id == head_id else RAY_CALLS)
        workers = {w.node_id: w for w in ray_nodes.worker_nodes}
        victim_id = max((n for n in before if n in workers), key=before.count)  # a worker with shards
        moved = [s for s, node in enumerate(before) if node == victim_id]

        acknowledged: list[int] = []
        next_batch = [0]
        stop = asyncio.Event()

        async def produce() -> None:
            # Until stopped: each batch retried until acknowledged, as a client does on UNAVAILABLE.
            while not stop.is_set():
                n = next_batch[0]
                next_batch[0] += 1
                deadline = time.monotonic() + RETRY_DEADLINE_S
                while True:  # bounded by the deadline
                    try:
                        outcome = await cluster.ingest(batch(n))
                    except (ShardUnavailableError, OverloadedError):
                        assert time.monotonic() < deadline, f"batch {n} not acknowledged in {RETRY_DEADLINE_S} s"
                        await asyncio.sleep(0.05)
                        continue
                    assert set(outcome.statuses) <= {RecordStatus.ACCEPTED, RecordStatus.DUPLICATE}
                    acknowledged.append(n)
                    break

        async def until(condition: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + RETRY_DEADLINE_S
            while not condition():  # bounded by the deadline
                assert time.monotonic() < deadline, f"not {what} after {RETRY_DEADLINE_S} s"
                await asyncio.sleep(0.01)

        def moved_back() -> bool:
            # The router is connected to a new incarnation of every moved shard, on another node.
            locations = cluster.shard_locations()
            return cluster.serving() and all(locations[s][0] not in (None, victim_id) for s in moved)

        async def scenario() -> int:
            producers = [asyncio.get_running_loop().create_task(produce()) for _ in range(PRODUCERS)]
            try:
                await until(lambda: len(acknowledged) >= REMOVE_AFTER_BATCHES, "enough batches acknowledged")
                await cluster.snapshot()  # the moved shards restart from a snapshot plus the log after it
                # Killed without a graceful stop, in a thread: the router's loop keeps serving meanwhile.
                await asyncio.to_thread(ray_nodes.remove_node, workers[victim_id], False)
                await until(moved_back, "the moved shards back on other nodes")
                recovered_at = len(acknowledged)
                await until(lambda: len(acknowledged) >= recovered_at + AFTER_RECOVERY_BATCHES, "ingest resumed")
            finally:
                stop.set()
                await asyncio.gather(*producers)
            return recovered_at

        recovered_at = run(scenario())
        batches = len(acknowledged)
        assert sorted(acknowledged) == list(range(batches))  # every batch sent was acknowledged, once
        assert recovered_at >= REMOVE_AFTER_BATCHES and batches >= recovered_at + AFTER_RECOVERY_BATCHES

        after = actor_nodes(cluster)
        assert victim_id not in after and all(after[s] != victim_id for s in moved)
        assert [after[s] for s in range(SHARDS) if s not in moved] == [before[s] for s in range(SHARDS) if s not in moved]
        assert [loc for loc, _ in cluster.shard_locations()] == after
        for node_id, transport in cluster.shard_locations():
            assert transport == (UNIX_SOCKET if node_id == head_id else RAY_CALLS)

        stats = run(cluster.stats())
        assert stats.events == batches * CUSTOMERS  # exactly once: one row per acknowledged event
        assert sum(s.event_ids for s in stats.shards) == batches * CUSTOMERS
        engine = Engine(tz="UTC")  # the embedded engine and the naive reference, fed every batch once
        reference = ReferenceEvaluator(tz="UTC")
        for n in range(batches):
            engine.ingest(batch(n))
            reference.apply(validate_batch(batch(n), reference.schema).records)
        as_of_ms = 1_000_000 + batches * 1000
        for rule in RULES:
            expected = engine.members(rule, as_of_ms)
            assert set(expected) == reference.members(engine.load_rule(rule), as_of_ms), rule
            assert run(cluster.count(rule, as_of_ms)).count == len(expected), rule
            page = run(cluster.members_page(rule, as_of_ms, None, 100))
            assert page.customer_ids == expected and not page.has_more, rule
        # Every id is remembered on the moved shards too: a replay of the history is all duplicates.
        again = run(cluster.ingest([r for n in range(0, batches, 9) for r in batch(n) if "event_id" in r]))
        assert again.accepted == 0 and again.duplicates == len(range(0, batches, 9)) * CUSTOMERS
    finally:
        run(cluster.close())


def test_placement_options_and_refusals() -> None:
    local = actor_options(ShardPlacement(), NODE_ID)["scheduling_strategy"]
    assert (local.node_id, local.soft) == (NODE_ID, False)
    assert actor_options(ShardPlacement(SPREAD), NODE_ID) == {"scheduling_strategy": "SPREAD"}
    assert actor_options(ShardPlacement(SPREAD, "segments_shard"), NODE_ID) == {
        "scheduling_strategy": "SPREAD", "resources": {"segments_shard": 1}}
    with pytest.raises(PlacementError, match="--placement must be one of local, spread"):
        ShardPlacement("everywhere")
    with pytest.raises(PlacementError, match="--shard-resource applies to --placement spread only"):
        ShardPlacement(LOCAL, "segments_shard")
    with pytest.raises(PlacementError, match="--shard-resource must be a letter"):
        ShardPlacement(SPREAD, "no spaces")
    with pytest.raises(PlacementError, match="advertise 3 units for 4 shards"):
        check_room(ShardPlacement(SPREAD, "segments_shard"), 4, {"segments_shard": 3.0, "CPU": 8.0})
    check_room(ShardPlacement(SPREAD, "segments_shard"), 4, {"segments_shard": 4.0})
    assert actor_options(ShardPlacement(SPREAD, None, 2 << 30), NODE_ID) == {
        "scheduling_strategy": "SPREAD", "memory": 2 << 30}
    assert actor_options(ShardPlacement(LOCAL, None, 1 << 30), NODE_ID)["memory"] == 1 << 30
    with pytest.raises(PlacementError, match="--shard-memory-mib must be 64..4194304"):
        ShardPlacement(SPREAD, None, 1 << 20)
    with pytest.raises(PlacementError, match="--shard-memory-mib 1024: the Ray cluster's nodes offer 3072 MiB of memory for 4 shards"):
        check_room(ShardPlacement(SPREAD, None, 1 << 30), 4, {"memory": float(3 << 30)})
    check_room(ShardPlacement(SPREAD, None, 1 << 30), 4, {"memory": float(4 << 30)})


def test_serve_refuses_a_bad_placement_before_starting_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--shard-resource", "segments_shard"]) == 2
    assert "--shard-resource applies to --placement spread only" in capsys.readouterr().err
    assert main(["serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--shard-memory-mib", "1"]) == 2
    assert "--shard-memory-mib must be 64.." in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_start_refuses_a_resource_the_cluster_lacks(ray_nodes: RayTestCluster, run: Run, tmp_path: Path) -> None:
    with pytest.raises(PlacementError, match="--shard-resource gpu_shard: the Ray cluster's nodes advertise 0 units"):
        run(Cluster.start(tmp_path, shards=2, placement=ShardPlacement(SPREAD, "gpu_shard")))
    with DirLock(tmp_path):  # released: nothing of the failed start is left holding the directory
        pass


def test_a_killed_holders_lock_is_taken_over_at_once(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from indexes.log.fsio import DirLock; "
         f"DirLock(Path({str(tmp_path)!r})).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LogLockedError):
            DirLock(tmp_path).acquire()
        holder.kill()  # SIGKILL: no cleanup runs; the kernel drops the flock with the process
        holder.wait(timeout=10)
        with DirLock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_restarted_shard_waits_for_its_predecessors_lock_then_serves(tmp_path: Path) -> None:
    """What a shard restarted on another machine sees while the dead one's NFS lease runs: RECOVERING
    with the reason, then SERVING once the lock is free (spread placement waits up to 180 s)."""
    from actors.layout import open_layout
    from actors.placement_nodes import SPREAD_OPEN_LOCK_WAIT_MS, shard_service_options
    from actors.shard_service import RECOVERING, SERVING, ShardService
    from indexes.durable.engine import LOG_DIR

    assert shard_service_options(ShardPlacement(SPREAD)) == {"open_lock_wait_ms": SPREAD_OPEN_LOCK_WAIT_MS}
    assert shard_service_options(ShardPlacement()) == {}
    layout = open_layout(tmp_path, 1, "UTC")
    (layout.shard_dir(0) / LOG_DIR).mkdir()
    predecessor = DirLock(layout.shard_dir(0) / LOG_DIR)
    predecessor.acquire()
    service = ShardService(0, str(tmp_path), layout.shard_path(0), sync="never", open_lock_wait_ms=SPREAD_OPEN_LOCK_WAIT_MS)
    try:
        deadline = time.monotonic() + 10
        while "waiting for the lock" not in (service.state()[1] or ""):  # bounded by the deadline
            assert time.monotonic() < deadline, service.state()
            time.sleep(0.05)
        assert service.state()[0] == RECOVERING
        predecessor.release()
        while service.state()[0] != SERVING:  # bounded by the deadline
            assert time.monotonic() < deadline + 10, service.state()
            time.sleep(0.05)
    finally:
        predecessor.release()
        service.close()


def test_a_resharded_directory_is_served_spread(ray_nodes: RayTestCluster, run: Run, tmp_path: Path) -> None:
    """`segments reshard` 2 -> 3 (no Ray), then the spread cluster serves the new generation's shards."""
    from actors.layout import open_layout
    from actors.placement import route_batch
    from indexes.durable import DurableEngine
    from service.cli import main

    records = [{"event_id": f"r{i}", "customer_id": f"k{i % 40}", "type": "page_viewed", "ts": 1_000_000 + i}
               for i in range(400)]
    layout = open_layout(tmp_path, 2, "UTC")
    routed = route_batch(records, 2)
    for shard in routed.targets():
        with DurableEngine.open(layout.shard_dir(shard), sync="never", create=False) as engine:
            engine.ingest(routed.raws[shard])
    assert main(["reshard", "--data-dir", str(tmp_path), "--shards", "3", "--quiet"]) == 0

    async def served() -> tuple[int, list[str], int, int]:
        cluster = await Cluster.start(tmp_path, sync="never", placement=ShardPlacement(SPREAD, DEFAULT_SHARD_RESOURCE))
        try:
            count = (await cluster.count("count(page_viewed) >= 10", 10**13)).count
            again = await cluster.ingest(records[::50])
            return cluster.shards, [c.path for c in (await cluster.stats()).shards], count, again.duplicates
        finally:
            await cluster.close()

    shards, paths, count, duplicates = run(served())
    assert (shards, count, duplicates) == (3, 40, len(records[::50]))
    assert paths == [f"gen-0001/shard-000{s}" for s in range(3)]

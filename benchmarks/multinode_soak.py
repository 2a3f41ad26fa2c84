"""Soak: shards spread over a Ray cluster on this machine, worker nodes killed and replaced under ingest.

    python -m benchmarks.multinode_soak [--rounds 3] [--shards 4] [--fast-health-checks]

The long variant of tests/test_multinode.py. A head and two workers (ray.cluster_utils, 1 CPU and 2
`segments_shard` units each), the Cluster backend with placement spread. Two producers ingest batches
of unique events without pause, each retried until acknowledged. Each round, once 20 more batches are
acknowledged, a worker holding shards is killed (no graceful stop); once every shard serves again a
fresh worker is added. Per
round it prints: the shards moved, how long until the router saw every shard SERVING again, and the
longest gap between two acknowledgements. At the end: every acknowledged event exactly once, and
counts equal the embedded engine fed every batch once. Ray's default health checks (3 s x 5) unless
--fast-health-checks (500 ms x 5), so the recovery time shown is what a default cluster gives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster as RayTestCluster

from actors.api import OverloadedError, ShardUnavailableError
from actors.cluster import Cluster
from actors.placement_nodes import DEFAULT_SHARD_RESOURCE, SPREAD, ShardPlacement
from benchmarks.numbered_batches import numbered_batch
from indexes.engine import Engine

CUSTOMERS = 16
BATCHES_PER_ROUND = 20
RETRY_DEADLINE_S = 180
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024, "resources": {DEFAULT_SHARD_RESOURCE: 2}}
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 500, "health_check_failure_threshold": 5}
RULES = ["count(page_viewed) >= 20", "sum(order_created.amount) >= 50", "order_count between 3 and 40"]


def batch(n: int) -> list[dict]:
    return numbered_batch(n, CUSTOMERS, event_prefix="s", customer_prefix="c", profile=False)


async def soak(nodes: RayTestCluster, data_dir: Path, shards: int, rounds: int) -> dict:
    cluster = await Cluster.start(data_dir, shards=shards, sync="always",
                                  placement=ShardPlacement(SPREAD, DEFAULT_SHARD_RESOURCE))
    acknowledged: list[tuple[int, float]] = []
    retries = [0]
    stop = asyncio.Event()
    next_batch = [0]

    async def produce() -> None:
        while not stop.is_set():
            n = next_batch[0]
            next_batch[0] += 1
            deadline = time.monotonic() + RETRY_DEADLINE_S
            while True:  # bounded by the deadline
                try:
                    await cluster.ingest(batch(n))
                    acknowledged.append((n, time.monotonic()))
                    break
                except (ShardUnavailableError, OverloadedError):
                    retries[0] += 1
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)

    async def acknowledged_at_least(count: int) -> None:
        deadline = time.monotonic() + RETRY_DEADLINE_S
        while len(acknowledged) < count:  # bounded by the deadline
            assert time.monotonic() < deadline, "ingest stalled"
            await asyncio.sleep(0.02)

    producers = [asyncio.get_running_loop().create_task(produce()) for _ in range(2)]
    report: list[dict] = []
    try:
        for round_number in range(rounds):
            await acknowledged_at_least(len(acknowledged) + BATCHES_PER_ROUND)
            where = [ray.get(cluster.shard_actor(s).location.remote(), timeout=60)[0] for s in range(shards)]
            workers = {w.node_id: w for w in nodes.worker_nodes}
            victim = max((n for n in where if n in workers), key=where.count, default=None)
            if victim is None:
                report.append({"round": round_number, "skipped": "no worker holds a shard"})
                continue
            moved = [s for s, n in enumerate(where) if n == victim]
            acked_before = len(acknowledged)
            removed_at = time.monotonic()
            await asyncio.to_thread(nodes.remove_node, workers[victim], False)
            saw_down = False
            deadline = time.monotonic() + RETRY_DEADLINE_S
            while not (saw_down and cluster.serving()):  # bounded by the deadline
                assert time.monotonic() < deadline, "the shards did not come back"
                saw_down = saw_down or not cluster.serving()
                await asyncio.sleep(0.05)
            recovered_s = time.monotonic() - removed_at
            await acknowledged_at_least(acked_before + 5)
            times = [t for _, t in acknowledged[acked_before - 1:]]
            gap_s = max(b - a for a, b in zip(times, times[1:], strict=False))
            report.append({"round": round_number, "moved_shards": moved, "all_serving_after_s": round(recovered_s, 2),
                           "longest_ack_gap_s": round(gap_s, 2)})
            print(json.dumps(report[-1]), flush=True)
            # A fresh worker for the next round. Ray starts a node from the main thread only, so this
            # blocks the loop (and the producers) for the second or two it takes: after the figures.
            nodes.add_node(**NODE_ARGS)
    finally:
        stop.set()
        await asyncio.gather(*producers, return_exceptions=True)
    try:
        await cluster.wait_serving(RETRY_DEADLINE_S * 1000)
        numbers = sorted(n for n, _ in acknowledged)
        assert numbers == list(range(len(numbers))), "an acknowledged batch is missing or repeated"
        stats = await cluster.stats()
        assert stats.events == len(numbers) * CUSTOMERS, f"{stats.events} event rows for {len(numbers)} batches"
        reference = Engine(tz="UTC")
        for n in numbers:
            reference.ingest(batch(n))
        as_of_ms = 1_000_000 + len(numbers) * 1000
        for rule in RULES:
            assert (await cluster.count(rule, as_of_ms)).count == reference.count(rule, as_of_ms), rule
        return {"rounds": report, "batches": len(numbers), "events": stats.events, "retries": retries[0],
                "exact": True}
    finally:
        await cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--fast-health-checks", action="store_true")
    args = parser.parse_args()
    head_args = {**NODE_ARGS, **({"_system_config": FAST_HEALTH_CHECKS} if args.fast_health_checks else {})}
    nodes = RayTestCluster(initialize_head=True, head_node_args=head_args)
    for _ in range(2):
        nodes.add_node(**NODE_ARGS)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, logging_level="ERROR", log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="multinode-soak-") as data_dir:
            print(json.dumps(asyncio.run(soak(nodes, Path(data_dir), args.shards, args.rounds)), indent=1))
    finally:
        ray.shutdown()
        nodes.shutdown()


if __name__ == "__main__":
    main()

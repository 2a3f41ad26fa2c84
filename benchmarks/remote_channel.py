"""What a shard on another node costs per call: the Unix socket against Ray actor calls.

    python -m benchmarks.remote_channel [--customers 2000] [--events 20000] [--calls 400]

A 2-node Ray cluster on this machine (ray.cluster_utils: a head and one worker, each advertising one
unit of `segments_shard`), the Cluster backend with placement spread: one shard on the head (the
router's node: Unix socket) and one on the worker (Ray calls, actors/remote_channel.py). Each shard
answers the same calls: a trivial one (`stats`) and a count of a small rule, `--calls` times in turn,
one at a time; per transport p50 / p99 in ms of the round trip as the router sees it. Both nodes are
on this machine, so the figures are the transports' own costs without a network hop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster as RayTestCluster

from actors.cluster import Cluster
from actors.placement_nodes import DEFAULT_SHARD_RESOURCE, SPREAD, ShardPlacement
from benchmarks.generator import generate_columns, iter_records

NODE_OBJECT_STORE_BYTES = 80 * 1024 * 1024
RULE = "order_count >= 2 and count(page_viewed, last 30 days) >= 1"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(data_dir: Path, customers: int, events: int, calls: int) -> dict[str, dict[str, float]]:
    cluster = await Cluster.start(data_dir, shards=2, sync="never", placement=ShardPlacement(SPREAD, DEFAULT_SHARD_RESOURCE))
    try:
        data = generate_columns(customers, events, seed=3)
        for batch in iter_records(data, 5000):
            await cluster.ingest(batch)
        query = cluster.compile(RULE)
        transports = [transport for _, transport in cluster.shard_locations()]
        assert sorted(transports) == ["ray", "unix"], f"shards not on both nodes: {cluster.shard_locations()}"
        timings: dict[str, dict[str, list[float]]] = {t: {"stats": [], "count": []} for t in transports}
        clients = cluster._clients  # the router's per-shard handles: one transport each
        for _ in range(calls):
            for client, transport in zip(clients, transports, strict=True):
                for name, args in (("stats", ()), ("count", (query.plan, data.as_of_ms))):
                    started = time.perf_counter()
                    await client.call(name, *args)
                    timings[transport][name].append((time.perf_counter() - started) * 1000)
        return {f"{transport} {name}": {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(percentile(v, 0.99), 3)}
                for transport, by_name in timings.items() for name, v in by_name.items()}
    finally:
        await cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    node_args = {"num_cpus": 1, "object_store_memory": NODE_OBJECT_STORE_BYTES, "resources": {DEFAULT_SHARD_RESOURCE: 1}}
    nodes = RayTestCluster(initialize_head=True, head_node_args=node_args)
    nodes.add_node(**node_args)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, logging_level="ERROR", log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="remote-channel-") as data_dir:
            figures = asyncio.run(measure(Path(data_dir), args.customers, args.events, args.calls))
        print(json.dumps(figures, indent=1))
    finally:
        ray.shutdown()
        nodes.shutdown()


if __name__ == "__main__":
    main()

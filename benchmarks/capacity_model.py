"""The capacity model: measured figures in, customers per shard, shards per node, nodes and latency out.

    python -m benchmarks.capacity_model            # the tables of docs/CAPACITY.md and the pod sizes
    python -m benchmarks.capacity_model --json     # the same as JSON

One source for three readers: docs/CAPACITY.md quotes its tables, deploy/kuberay/raycluster.yaml and
deploy/ray-cluster.yaml carry its pod and node sizes, and tests/test_deploy_files.py checks that the
manifests equal what `pod_sizes()` computes. Every input is read from a committed benchmark result
(benchmarks/results/*.json), named in `INPUTS` with the command that produced it; the policy
(targets, node shape, headroom) is the constants below. Where the model goes beyond what was measured
on this 2-core machine, `assumptions()` says so.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
GIB = 2**30

INPUTS = {
    "capacity_curve.json": "python -m benchmarks.capacity --points 100000x20,200000x20,100000x5 --repeats 30 "
                           "--idle-shard --json benchmarks/results/capacity_curve.json",
    "capacity_router.json": "python -m benchmarks.capacity --skip-curve --router-shards 1,2,4 --router-counts 400 "
                            "--json benchmarks/results/capacity_router.json",
    "engine_1m_20m.json": "python -m benchmarks.engine --customers 1000000 --events 20000000 --repeats 50 "
                          "--json benchmarks/results/engine_1m_20m.json",
    "snapshot_1m_20m.json": "python -m benchmarks.snapshot --customers 1000000 --events 20000000 "
                            "--json benchmarks/results/snapshot_1m_20m.json",
    "replay_parallel_1m_20m.json": "python -m benchmarks.replay_parallel --customers 1000000 --events 20000000 "
                                   "--shards 2 --json benchmarks/results/replay_parallel_1m_20m.json",
    "grpc_service_1m.json": "python -m benchmarks.grpc_service --customers 1000000 --events 20000000 --shards 2",
    "saved_segments_1m.json": "python -m benchmarks.saved_segments --customers 1000000 --events 20000000 "
                              "--shards 2 --segments 100 ...",
    "durable_1m_20m_p2.json": "python -m benchmarks.durable_ingest --customers 1000000 --events 20000000 "
                              "--producers 2 --batch 1000 --tail 200000",
}

# --- policy -------------------------------------------------------------------------------------
EVENTS_PER_CUSTOMER = 20  # the reference profile every benchmark above used
SHARD_SIZE_STEP = 250_000  # customers per shard are chosen in these steps
MAX_CUSTOMERS_PER_SHARD = 4_000_000
TARGET_WORST_QUERY_P50_MS = 5.0  # issue 5: every seed-suite query p50 <= 5 ms, here per shard in process
TARGET_RESTART_S = 60.0  # snapshot load + replay of a full snapshot interval's tail
SNAPSHOT_INTERVAL_RECORDS = 2_000_000  # `segments snapshot` (or the operator's cron) at least this often per shard
MEMORY_HEADROOM = 1.3  # a snapshot write, compaction and heap fragmentation on top of the steady RSS
WORKER_POD_CPUS = 8  # the KubeRay worker pod / launcher worker node
WORKER_RESERVED_CPUS = 1  # raylet, object store, log fsyncs: one core not given to shards
WORKER_RESERVED_BYTES = 2 * GIB  # raylet, object store (128 MiB), page cache for the logs' tails
HEAD_POD_CPUS = 4  # the router (one asyncio process, one core busy) + GCS + raylet + metrics
HEAD_POD_MEMORY_GIB = 8
NETWORK_RTT_MS = 0.5  # router <-> shard on another node: assumed, one machine here cannot measure it
# A shard on another node is called through Ray instead of a Unix socket: count p50 1.21 ms against 0.26 ms
# (docs/SCALING.md, `python -m benchmarks.remote_channel`, both nodes on this machine; no JSON kept).
RAY_CALL_EXTRA_MS = 1.21 - 0.26
TARGET_CUSTOMERS = (10_000_000, 100_000_000, 1_000_000_000)
MANIFEST_CUSTOMERS = 10_000_000  # the layout deploy/kuberay/raycluster.yaml and deploy/ray-cluster.yaml carry
SNAPSHOTS_KEPT = 2  # prune_snapshots(keep=2), docs/SNAPSHOTS.md
STORAGE_HEADROOM = 1.5  # log growth between compactions, a snapshot being written


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class LatencyPoint:
    customers: int
    median_p50_ms: float  # the seed suite's median query, per shard, in process
    median_p99_ms: float
    worst_p50_ms: float
    source: str


@dataclass(frozen=True)
class Measured:
    engine_rss_at_reference: tuple[tuple[int, int], ...]  # (customers, engine RSS growth) at 20 events each
    engine_bytes_per_event: float  # for other profiles than the reference one
    idle_shard_rss_bytes: int
    latency: tuple[LatencyPoint, ...]
    router_fixed_ms: float
    router_per_shard_ms: float
    grpc_round_trip_p50_ms: float
    grpc_round_trip_p99_ms: float
    replay_events_per_s_per_shard: float
    ingest_records_per_s_per_shard: float
    router_ingest_cpu_us_per_record: float
    snapshot_bytes_per_customer: float
    snapshot_write_s_per_million: float
    snapshot_load_s_per_million: float
    log_bytes_per_record: float


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _per_event_bytes(points: list[dict[str, Any]]) -> float:
    """Engine bytes per extra event: two curve points with the same customers, different events."""
    by_customers: dict[int, list[dict[str, Any]]] = {}
    for point in points:
        by_customers.setdefault(point["customers"], []).append(point)
    for same in by_customers.values():
        if len({p["events"] for p in same}) >= 2:
            low, high = min(same, key=lambda p: p["events"]), max(same, key=lambda p: p["events"])
            return (high["engine_rss_bytes"] - low["engine_rss_bytes"]) / (high["events"] - low["events"])
    raise AssertionError("capacity_curve.json needs two points with equal customers and different events")


def measured() -> Measured:
    curve = _load("capacity_curve.json")
    router = _load("capacity_router.json")
    engine = _load("engine_1m_20m.json")
    snapshot = _load("snapshot_1m_20m.json")
    replay = _load("replay_parallel_1m_20m.json")
    grpc_service = _load("grpc_service_1m.json")
    saved = _load("saved_segments_1m.json")
    durable = _load("durable_1m_20m_p2.json")
    points = [LatencyPoint(p["customers"], _median([q["p50_ms"] for q in p["queries"]]),
                           _median([q["p99_ms"] for q in p["queries"]]), p["worst_p50_ms"], "capacity_curve.json")
              for p in curve["points"] if p["events_per_customer"] == EVENTS_PER_CUSTOMER]
    points.append(LatencyPoint(engine["customers"], _median([q["engine_p50_ms"] for q in engine["queries"]]),
                               _median([q["engine_p99_ms"] for q in engine["queries"]]),
                               max(q["engine_p50_ms"] for q in engine["queries"]), "engine_1m_20m.json"))
    million = snapshot["customers"] / 1e6
    memory = [(p["customers"], p["engine_rss_bytes"]) for p in curve["points"]
              if p["events_per_customer"] == EVENTS_PER_CUSTOMER]
    memory.append((engine["customers"], engine["build"]["rss_engine_bytes"]))
    return Measured(
        engine_rss_at_reference=tuple(sorted(memory)),
        engine_bytes_per_event=_per_event_bytes(curve["points"]),
        idle_shard_rss_bytes=curve["idle_shard_rss_bytes"],
        latency=tuple(sorted(points, key=lambda p: p.customers)),
        router_fixed_ms=max(0.0, router["router_fit"]["fixed_ms"]),
        router_per_shard_ms=router["router_fit"]["per_shard_ms"],
        grpc_round_trip_p50_ms=saved["count"]["health_ms"]["p50"],
        grpc_round_trip_p99_ms=saved["count"]["health_ms"]["p99"],
        replay_events_per_s_per_shard=min(s["events_per_s"] for s in replay["per_shard"]),
        ingest_records_per_s_per_shard=grpc_service["ingest"]["records_per_s"] / grpc_service["shards"],
        router_ingest_cpu_us_per_record=grpc_service["ingest"]["cpu_us_per_record"]["server"],
        snapshot_bytes_per_customer=snapshot["size_bytes"] / snapshot["customers"],
        snapshot_write_s_per_million=snapshot["write_s"] / million,
        snapshot_load_s_per_million=snapshot["load_s"] / million,
        log_bytes_per_record=durable["log_size_bytes"] / durable["ingest"]["records"],
    )


def _linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(intercept, slope) by least squares; a single point gives a line through the origin."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def shard_latency_ms(m: Measured, customers: int) -> dict[str, float]:
    """Per-shard evaluation at `customers` (20 events each): linear in customers through the measured
    points (the slow queries scan the window's rows, which grow with the shard)."""
    xs = [float(p.customers) for p in m.latency]
    result = {}
    for key in ("median_p50_ms", "median_p99_ms", "worst_p50_ms"):
        intercept, slope = _linear_fit(xs, [getattr(p, key) for p in m.latency])
        result[key] = max(0.001, intercept + slope * customers)
    return result


def engine_bytes(m: Measured, customers: int, events_per_customer: int = EVENTS_PER_CUSTOMER) -> float:
    """Engine RSS growth: piecewise linear through the measured reference points (per-customer overheads
    shrink with size, so no straight line fits 100k and 1M both), proportional beyond the largest; other
    profiles add or remove `engine_bytes_per_event` per event."""
    points = m.engine_rss_at_reference
    if customers >= points[-1][0]:
        reference = points[-1][1] * customers / points[-1][0]
    elif customers <= points[0][0]:
        reference = points[0][1] * customers / points[0][0]
    else:
        (x0, y0), (x1, y1) = next((a, b) for a, b in zip(points, points[1:], strict=False) if a[0] <= customers <= b[0])
        reference = y0 + (y1 - y0) * (customers - x0) / (x1 - x0)
    return max(0.0, reference + customers * (events_per_customer - EVENTS_PER_CUSTOMER) * m.engine_bytes_per_event)


def shard_memory_bytes(m: Measured, customers: int, events_per_customer: int = EVENTS_PER_CUSTOMER) -> float:
    return m.idle_shard_rss_bytes + engine_bytes(m, customers, events_per_customer)


def restart_s(m: Measured, customers: int) -> float:
    """Snapshot load + replay of up to SNAPSHOT_INTERVAL_RECORDS records written since."""
    return customers / 1e6 * m.snapshot_load_s_per_million + SNAPSHOT_INTERVAL_RECORDS / m.replay_events_per_s_per_shard


def customers_per_shard(m: Measured) -> int:
    """The largest step where the worst query's p50 and the restart time stay within their targets."""
    best = SHARD_SIZE_STEP
    for customers in range(SHARD_SIZE_STEP, MAX_CUSTOMERS_PER_SHARD + 1, SHARD_SIZE_STEP):
        if shard_latency_ms(m, customers)["worst_p50_ms"] > TARGET_WORST_QUERY_P50_MS:
            break
        if restart_s(m, customers) > TARGET_RESTART_S:
            break
        best = customers
    return best


@dataclass(frozen=True)
class PodSizes:
    customers_per_shard: int
    shard_memory_bytes: int
    worker_cpus: int
    worker_memory_gib: int
    shards_per_worker: int
    head_cpus: int
    head_memory_gib: int


def pod_sizes(m: Measured | None = None) -> PodSizes:
    """What the manifests request: a worker pod runs `shards_per_worker` shard actors."""
    m = m or measured()
    per_shard = customers_per_shard(m)
    shard_bytes = shard_memory_bytes(m, per_shard)
    shards = WORKER_POD_CPUS - WORKER_RESERVED_CPUS
    memory_gib = math.ceil((shards * shard_bytes * MEMORY_HEADROOM + WORKER_RESERVED_BYTES) / GIB)
    return PodSizes(per_shard, round(shard_bytes), WORKER_POD_CPUS, memory_gib, shards, HEAD_POD_CPUS,
                    HEAD_POD_MEMORY_GIB)


def _quantile_of_max(p50: float, p99: float, shards: int) -> float:
    """Per-shard latency at the quantile 0.5 ** (1 / shards): the median of the slowest of `shards`
    independent shards. Log-linear between the measured p50 and p99, capped at p99 (beyond it nothing
    was measured, so for many shards this is a lower bound)."""
    q = min(0.99, 0.5 ** (1 / shards))
    position = math.log(0.5 / (1 - q)) / math.log(0.5 / 0.01)
    return p50 * (p99 / p50) ** position if p99 > p50 else p50


def layout(m: Measured, customers: int, sizes: PodSizes) -> dict[str, Any]:
    shards = math.ceil(customers / sizes.customers_per_shard)
    workers = math.ceil(shards / sizes.shards_per_worker)
    per_shard = min(sizes.customers_per_shard, math.ceil(customers / shards))
    lat = shard_latency_ms(m, per_shard)
    router_ms = m.router_fixed_ms + m.router_per_shard_ms * shards
    network_ms = RAY_CALL_EXTRA_MS + NETWORK_RTT_MS  # every shard runs on a worker, none on the router's node
    p50 = m.grpc_round_trip_p50_ms + router_ms + network_ms + _quantile_of_max(lat["median_p50_ms"],
                                                                                lat["median_p99_ms"], shards)
    p99 = m.grpc_round_trip_p99_ms + router_ms + network_ms + lat["median_p99_ms"]
    return {
        "customers": customers, "shards": shards, "customers_per_shard": per_shard, "worker_pods": workers,
        "worker_cpus": workers * sizes.worker_cpus, "worker_memory_gib": workers * sizes.worker_memory_gib,
        "router_cpu_ms_per_count": round(router_ms, 2),
        "counts_per_s_per_router": round(1000 / router_ms) if router_ms > 0 else None,
        "expected_count_p50_ms": round(p50, 1), "expected_count_p99_ms_at_least": round(p99, 1),
        # The shards' sum, unless the router (one process, one core) is slower: it routes every record.
        "ingest_records_per_s": round(min(shards * m.ingest_records_per_s_per_shard,
                                          1e6 / m.router_ingest_cpu_us_per_record)),
        "restart_s": round(restart_s(m, per_shard), 1),
        "full_replay_s": round(per_shard * EVENTS_PER_CUSTOMER / m.replay_events_per_s_per_shard),
        "snapshot_bytes_total": round(customers * m.snapshot_bytes_per_customer),
        "log_bytes_total": round(customers * (EVENTS_PER_CUSTOMER + 1) * m.log_bytes_per_record),
        "storage_gib": math.ceil(STORAGE_HEADROOM * customers * (SNAPSHOTS_KEPT * m.snapshot_bytes_per_customer
                                 + (EVENTS_PER_CUSTOMER + 1) * m.log_bytes_per_record) / GIB),
    }


def manifest_values(m: Measured | None = None) -> dict[str, Any]:
    """The figures the deploy/ manifests must carry (tests/test_deploy_files.py compares them)."""
    m = m or measured()
    sizes = pod_sizes(m)
    row = layout(m, MANIFEST_CUSTOMERS, sizes)
    return {"customers": MANIFEST_CUSTOMERS, "shards": row["shards"], "worker_replicas": row["worker_pods"],
            "worker_cpus": sizes.worker_cpus, "worker_memory_gib": sizes.worker_memory_gib,
            "shards_per_worker": sizes.shards_per_worker, "head_cpus": sizes.head_cpus,
            "head_memory_gib": sizes.head_memory_gib, "storage_gib": row["storage_gib"]}


def fits_in_memory(m: Measured, customers: int, events_per_customer: int, memory_bytes: float) -> dict[str, Any]:
    """Would one process holding `customers` x `events_per_customer` fit in `memory_bytes`? The generator's
    columns stay resident during a build: ~ (customers + events) x 60 bytes, taken from the 1M run."""
    engine = _load("engine_1m_20m.json")
    data_bytes_per_record = (engine["build"]["rss_bytes"] - engine["build"]["rss_engine_bytes"]) / \
        (engine["customers"] + engine["events"])
    engine_rss = shard_memory_bytes(m, customers, events_per_customer)
    records = customers + customers * events_per_customer
    data_bytes = records * data_bytes_per_record
    return {"customers": customers, "events_per_customer": events_per_customer,
            "build_minutes": round(records / engine["build"]["ingest_per_s"] / 60, 1),
            "engine_gib": round(engine_rss / GIB, 1), "generated_data_gib": round(data_bytes / GIB, 1),
            "total_gib": round((engine_rss + data_bytes) / GIB, 1), "memory_gib": round(memory_bytes / GIB, 1),
            "fits": engine_rss + data_bytes <= memory_bytes}


def report(m: Measured) -> dict[str, Any]:
    sizes = pod_sizes(m)
    return {"measured": asdict(m), "pod_sizes": asdict(sizes), "manifest": manifest_values(m),
            "shard_latency_ms": shard_latency_ms(m, sizes.customers_per_shard),
            "layouts": [layout(m, c, sizes) for c in TARGET_CUSTOMERS],
            "ten_million_here": [fits_in_memory(m, 10_000_000, k, 23.5 * GIB) for k in (20, 5, 2)]}


def markdown(result: dict[str, Any]) -> str:
    m, sizes = result["measured"], result["pod_sizes"]
    lines = [
        "| input | value | from |", "| --- | ---: | --- |",
        "| engine RSS at 20 events per customer | "
        + ", ".join(f"{c / 1e6:g}M: {b / GIB:.2f} GiB" for c, b in m["engine_rss_at_reference"])
        + " | capacity_curve.json, engine_1m_20m.json |",
        f"| engine bytes per extra event | {m['engine_bytes_per_event']:,.0f} | capacity_curve.json |",
        f"| idle shard actor RSS | {m['idle_shard_rss_bytes'] / 2**20:,.0f} MiB | capacity_curve.json |",
        f"| router CPU per count | {m['router_fixed_ms']:.2f} ms + {m['router_per_shard_ms']:.3f} ms per shard "
        f"| capacity_router.json |",
        f"| gRPC round trip (Health) p50 / p99 | {m['grpc_round_trip_p50_ms']} / {m['grpc_round_trip_p99_ms']} ms "
        f"| saved_segments_1m.json |",
        f"| replay per shard | {m['replay_events_per_s_per_shard']:,.0f} events/s | replay_parallel_1m_20m.json |",
        f"| durable ingest per shard (over gRPC) | {m['ingest_records_per_s_per_shard']:,.0f} records/s "
        f"| grpc_service_1m.json |",
        f"| router CPU per ingested record | {m['router_ingest_cpu_us_per_record']} us "
        f"| grpc_service_1m.json |",
        f"| snapshot size / write / load per million customers | "
        f"{m['snapshot_bytes_per_customer'] * 1e6 / GIB:.2f} GiB / {m['snapshot_write_s_per_million']:.1f} s / "
        f"{m['snapshot_load_s_per_million']:.1f} s | snapshot_1m_20m.json |",
        f"| log bytes per record | {m['log_bytes_per_record']:.0f} | durable_1m_20m_p2.json |",
        f"| Ray call instead of a Unix socket, per count | +{RAY_CALL_EXTRA_MS:.2f} ms | docs/SCALING.md "
        f"(benchmarks/remote_channel.py) |",
        f"| network round trip to another node | {NETWORK_RTT_MS} ms | assumed |",
        "",
        "| customers per shard (in process) | suite median p50 ms | suite median p99 ms | worst query p50 ms | from |",
        "| ---: | ---: | ---: | ---: | --- |",
        *(f"| {p['customers']:,} | {p['median_p50_ms']:.3f} | {p['median_p99_ms']:.3f} | {p['worst_p50_ms']:.2f} "
          f"| {p['source']} |" for p in m["latency"]),
        "",
        f"Chosen: **{sizes['customers_per_shard']:,} customers per shard** "
        f"({sizes['shard_memory_bytes'] / GIB:.2f} GiB RSS each); worker pod **{sizes['worker_cpus']} CPU / "
        f"{sizes['worker_memory_gib']} GiB, {sizes['shards_per_worker']} shards**; head pod "
        f"{sizes['head_cpus']} CPU / {sizes['head_memory_gib']} GiB. The manifests carry the "
        f"{result['manifest']['customers']:,}-customer layout: {result['manifest']['shards']} shards, "
        f"{result['manifest']['worker_replicas']} worker pods, {result['manifest']['storage_gib']} GiB of shared storage.",
        "",
        "| customers | shards | worker pods (CPU / GiB) | router CPU per count | counts/s per router | "
        "count p50 (model) | count p99 (at least) | durable ingest | restart per shard | full replay per shard "
        "| snapshots | logs | shared storage |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["layouts"]:
        lines.append(
            f"| {row['customers']:,} | {row['shards']:,} | {row['worker_pods']:,} ({row['worker_cpus']:,} / "
            f"{row['worker_memory_gib']:,}) | {row['router_cpu_ms_per_count']} ms | {row['counts_per_s_per_router']:,} "
            f"| {row['expected_count_p50_ms']} ms | {row['expected_count_p99_ms_at_least']} ms "
            f"| {row['ingest_records_per_s']:,} records/s | {row['restart_s']} s | {row['full_replay_s']} s "
            f"| {row['snapshot_bytes_total'] / GIB:,.0f} GiB | {row['log_bytes_total'] / GIB:,.0f} GiB "
            f"| {row['storage_gib']:,} GiB |")
    lines += ["", "| 10M customers (ten 1M-customer shards) in one process here | engine | generated data | total | machine | fits | "
              "build time |", "| --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for row in result["ten_million_here"]:
        lines.append(f"| {row['events_per_customer']} events each | {row['engine_gib']} GiB | "
                     f"{row['generated_data_gib']} GiB | {row['total_gib']} GiB | {row['memory_gib']} GiB | "
                     f"{'yes' if row['fits'] else 'no'} | ~{row['build_minutes']} min |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of the markdown tables")
    args = parser.parse_args()
    result = report(measured())
    print(json.dumps(result, indent=1) if args.json else markdown(result))


if __name__ == "__main__":
    main()

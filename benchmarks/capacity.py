"""Capacity curve: one shard's memory, query latency and snapshot times at a few sizes (docs/CAPACITY.md).

    python -m benchmarks.capacity [--points 100000x20,300000x20,100000x5] [--repeats 30]
                                  [--json benchmarks/results/capacity_curve.json] [--idle-shard]

Each point `CUSTOMERSxEVENTS_PER_CUSTOMER` runs in a fresh subprocess (one point's allocations do not
flatter the next): generate (benchmarks/generator.py, seeded), build one shard through the public path
(validate_batch + Engine.apply_validated), then

* engine memory: RSS grown by the build (the generated data was resident before it, so it is not counted);
* the seed suite's 20 counts, `repeats` times each after a warm-up: p50 and p99 per query;
* snapshot write (fsync included) and load of the whole shard, and the snapshot's size.

`--idle-shard` also starts the real server (`segments serve --shards 1 --metrics-port 0`) on an empty data
directory and reads an idle shard actor's RSS from its /metrics: the per-process base that every shard
pays on top of its data. The fit (least squares over the points) gives engine bytes per customer and per
event, which benchmarks/capacity_model.py turns into customers per shard, shards per node and nodes.

`--router-shards 1,2,4` measures the router's (server process's) CPU per count against the number of
shards it fans out to: a real server per shard count on a small shop, `--router-counts` counts, CPU read
from the server's own /metrics (`process_cpu_seconds_total`) minus its idle rate. The fit (fixed + per
shard) is what bounds the shard count one router can serve.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_POINTS = "100000x20,300000x20,100000x5"
POINT_TIMEOUT_S = 1_800
MAX_POINTS = 8
IDLE_SHARD_SETTLE_S = 3.0
METRICS_URL_WAIT_S = 30.0
ROUTER_CUSTOMERS = 2_000
ROUTER_RULE = "count(order_created, last 365 days) >= 1"
ROUTER_IDLE_S = 2.0
MAX_ROUTER_SHARDS = 16
REPO = Path(__file__).resolve().parents[1]


def _rss_bytes() -> int:
    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_point(customers: int, events_per_customer: int, repeats: int) -> dict[str, Any]:
    """One point, in this process (run it in a fresh one)."""
    from benchmarks.generator import load_seed_suite
    from benchmarks.grpc_service import SUITE
    from benchmarks.peers import build_engine
    from benchmarks.sources import generated
    from indexes.snapshot import load_newest_snapshot, write_snapshot

    source = generated(customers, customers * events_per_customer)
    before = _rss_bytes()
    engine, build_s = build_engine(source)
    engine_bytes = _rss_bytes() - before
    queries = []
    for name, rule in load_seed_suite(SUITE, source.placeholders):
        plan = engine.compile(rule)
        engine.count(plan, source.as_of_ms)  # warm-up: caches a first call fills
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            engine.count(plan, source.as_of_ms)
            samples.append((time.perf_counter() - started) * 1000)
        queries.append({"id": name, "p50_ms": round(_percentile(samples, 0.5), 3),
                        "p99_ms": round(_percentile(samples, 0.99), 3)})
    with tempfile.TemporaryDirectory(prefix="capacity-snapshot-") as root:
        started = time.perf_counter()
        info = write_snapshot(engine.shard, Path(root), 0)
        write_s = time.perf_counter() - started
        del engine
        gc.collect()
        started = time.perf_counter()
        loaded = load_newest_snapshot(Path(root))
        load_s = time.perf_counter() - started
        assert loaded is not None and not loaded.skipped
    p50s = sorted(q["p50_ms"] for q in queries)
    return {
        "customers": customers, "events": source.events, "events_per_customer": events_per_customer,
        "build_s": round(build_s, 2), "build_records_per_s": round((source.events + customers) / build_s),
        "engine_rss_bytes": engine_bytes, "snapshot_bytes": info.size_bytes,
        "snapshot_write_s": round(write_s, 2), "snapshot_load_s": round(load_s, 2),
        "suite_median_p50_ms": round(p50s[len(p50s) // 2], 3), "worst_p50_ms": max(p50s),
        "worst_p99_ms": max(q["p99_ms"] for q in queries), "queries": queries,
    }


def _run_point(customers: int, events_per_customer: int, repeats: int) -> dict[str, Any]:
    code = ("import json; from benchmarks.capacity import measure_point; "
            f"print(json.dumps(measure_point({customers}, {events_per_customer}, {repeats})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=POINT_TIMEOUT_S,
                          check=False, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"point {customers}x{events_per_customer} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _metrics_url(server: Any) -> str:
    deadline = time.monotonic() + METRICS_URL_WAIT_S
    while time.monotonic() < deadline:
        for line in server.stderr_path.read_text(encoding="utf-8").splitlines():
            if '"metrics_url"' in line:
                return str(json.loads(line)["metrics_url"])
        time.sleep(0.1)
    raise SystemExit(f"the server logged no metrics URL; log: {server.log_tail()}")


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode("utf-8")


def _sample(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no {name}{labels} on /metrics")
    return float(found.group(1))


def _server(root: Path, shards: int) -> Any:
    sys.path.insert(0, str(REPO))
    from tests.service_process import ServerProcess

    return ServerProcess(root / "data", "--shards", str(shards), "--metrics-port", "0", "--log-format", "json")


def idle_shard_rss_bytes() -> int:
    """An idle shard actor's RSS, read from a real server's /metrics (service/metrics_backend.py)."""
    with tempfile.TemporaryDirectory(prefix="capacity-idle-") as root:
        server = _server(Path(root), 1)
        try:
            time.sleep(IDLE_SHARD_SETTLE_S)
            text = _scrape(_metrics_url(server))
        finally:
            assert server.stop() == 0
    return int(_sample(text, "segments_shard_memory_rss_bytes", '{shard="0"}'))


def router_point(shards: int, counts: int) -> dict[str, Any]:
    """The server process's CPU per count (idle rate removed) and the counts' wall p50, with `shards` shards."""
    from benchmarks.generator import generate_columns, iter_records
    from service.client import SegmentsClient

    data = generate_columns(ROUTER_CUSTOMERS, ROUTER_CUSTOMERS * 5, seed=3)
    with tempfile.TemporaryDirectory(prefix="capacity-router-") as root:
        server = _server(Path(root), shards)
        try:
            url = _metrics_url(server)
            with SegmentsClient(server.target) as client:
                client.ingest_stream(iter_records(data, 5_000))
                client.count(ROUTER_RULE)
                idle_start = _sample(_scrape(url), "process_cpu_seconds_total")
                time.sleep(ROUTER_IDLE_S)
                idle_cpu_per_s = (_sample(_scrape(url), "process_cpu_seconds_total") - idle_start) / ROUTER_IDLE_S
                cpu_start, started = _sample(_scrape(url), "process_cpu_seconds_total"), time.perf_counter()
                walls = []
                for _ in range(counts):
                    t0 = time.perf_counter()
                    client.count(ROUTER_RULE)
                    walls.append((time.perf_counter() - t0) * 1000)
                elapsed_s = time.perf_counter() - started
                cpu_s = _sample(_scrape(url), "process_cpu_seconds_total") - cpu_start - idle_cpu_per_s * elapsed_s
        finally:
            assert server.stop() == 0
    return {"shards": shards, "counts": counts, "router_cpu_ms_per_count": round(cpu_s * 1000 / counts, 3),
            "count_p50_ms": round(_percentile(walls, 0.5), 3), "idle_cpu_ms_per_s": round(idle_cpu_per_s * 1000, 2)}


def fit_router(points: list[dict[str, Any]]) -> dict[str, float]:
    """router CPU per count = fixed + per_shard * shards (least squares)."""
    import numpy as np

    design = np.array([[1.0, p["shards"]] for p in points])
    cpu = np.array([p["router_cpu_ms_per_count"] for p in points])
    (fixed, per_shard), *_ = np.linalg.lstsq(design, cpu, rcond=None)
    return {"fixed_ms": round(float(fixed), 3), "per_shard_ms": round(float(per_shard), 3)}


def fit_bytes(points: list[dict[str, Any]]) -> dict[str, float]:
    """Least squares of engine_rss_bytes = fixed + a * customers + b * events. `fixed` is what a first build
    loads whatever its size (code, caches); it needs points that differ in customers and in events per
    customer (three at least)."""
    import numpy as np

    design = np.array([[1.0, p["customers"], p["events"]] for p in points])
    grown = np.array([float(p["engine_rss_bytes"]) for p in points])
    if len(points) < 3 or np.linalg.matrix_rank(design) < 3:
        raise SystemExit("the fit needs 3+ points with different customers and events-per-customer ratios")
    (fixed, per_customer, per_event), *_ = np.linalg.lstsq(design, grown, rcond=None)
    return {"fixed_bytes": round(float(fixed)), "bytes_per_customer": round(float(per_customer), 1),
            "bytes_per_event": round(float(per_event), 2)}


def _parse_points(text: str) -> list[tuple[int, int]]:
    points = []
    for item in text.split(","):
        customers, _, per_customer = item.strip().partition("x")
        if not (customers.isdigit() and per_customer.isdigit() and int(customers) > 0 and int(per_customer) > 0):
            raise SystemExit(f"--points: {item!r} is not CUSTOMERSxEVENTS_PER_CUSTOMER (e.g. 100000x20)")
        points.append((int(customers), int(per_customer)))
    if not 1 <= len(points) <= MAX_POINTS:
        raise SystemExit(f"--points: 1..{MAX_POINTS} points (got {len(points)})")
    return points


def table(result: dict[str, Any]) -> str:
    lines = ["| customers | events/customer | engine MiB | bytes/customer | suite median p50 ms | worst p50 ms | "
             "worst p99 ms | snapshot MiB | write s | load s | build records/s |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in result["points"]:
        lines.append(
            f"| {p['customers']:,} | {p['events_per_customer']} | {p['engine_rss_bytes'] / 2**20:,.0f} | "
            f"{p['engine_rss_bytes'] / p['customers']:,.0f} | {p['suite_median_p50_ms']} | {p['worst_p50_ms']} | "
            f"{p['worst_p99_ms']} | {p['snapshot_bytes'] / 2**20:,.0f} | {p['snapshot_write_s']} | "
            f"{p['snapshot_load_s']} | {p['build_records_per_s']:,} |")
    fit = result.get("fit")
    if fit:
        lines.append(f"\nFit (engine growth): {fit['fixed_bytes'] / 2**20:,.0f} MiB fixed + "
                     f"{fit['bytes_per_customer']:,} bytes per customer + {fit['bytes_per_event']} bytes per event.")
    for r in result.get("router", []):
        lines.append(f"Router with {r['shards']} shard(s): {r['router_cpu_ms_per_count']} ms CPU per count, "
                     f"count p50 {r['count_p50_ms']} ms.")
    if result.get("router_fit"):
        lines.append(f"Router fit: {result['router_fit']['fixed_ms']} ms + {result['router_fit']['per_shard_ms']} ms "
                     f"per shard of CPU per count.")
    if result.get("idle_shard_rss_bytes"):
        lines.append(f"Idle shard actor process: {result['idle_shard_rss_bytes'] / 2**20:,.0f} MiB RSS.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", default=DEFAULT_POINTS, help=f"CUSTOMERSxEVENTS_PER_CUSTOMER,... "
                                                                  f"(default {DEFAULT_POINTS})")
    parser.add_argument("--repeats", type=int, default=30, help="timed counts per query (default 30)")
    parser.add_argument("--idle-shard", action="store_true", help="also measure an idle shard actor's RSS")
    parser.add_argument("--router-shards", default="", help="shard counts for the router CPU fit, e.g. 1,2,4")
    parser.add_argument("--router-counts", type=int, default=400, help="counts per router point (default 400)")
    parser.add_argument("--skip-curve", action="store_true", help="only the idle shard and router figures")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 10_000:
        raise SystemExit(f"--repeats must be 1..10000 (got {args.repeats})")
    started = time.perf_counter()
    load_before = os.getloadavg()
    router_shards = [int(x) for x in args.router_shards.split(",") if x.strip()]
    if any(not 1 <= n <= MAX_ROUTER_SHARDS for n in router_shards) or not 1 <= args.router_counts <= 100_000:
        raise SystemExit(f"--router-shards: counts 1..{MAX_ROUTER_SHARDS}; --router-counts: 1..100000")
    points = []
    for customers, per_customer in ([] if args.skip_curve else _parse_points(args.points)):
        print(f"point {customers:,} x {per_customer} ...", file=sys.stderr, flush=True)
        points.append(_run_point(customers, per_customer, args.repeats))
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "load_average_before": [round(x, 2) for x in load_before], "repeats": args.repeats, "points": points,
    }
    if len({p["events_per_customer"] for p in points}) >= 2 and len({p["customers"] for p in points}) >= 2:
        result["fit"] = fit_bytes(points)
    if args.idle_shard:
        result["idle_shard_rss_bytes"] = idle_shard_rss_bytes()
    if router_shards:
        result["router"] = [router_point(n, args.router_counts) for n in router_shards]
        if len(router_shards) >= 2:
            result["router_fit"] = fit_router(result["router"])
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()

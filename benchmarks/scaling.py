"""Scaling curves: the seed suite's latency and the engine's memory against customers, events per
customer and shard count; ingest and replay throughput against batch size and sync policy.

Latency and memory curves run the engine in process (one build per point, RSS grown by the build, in a
fresh subprocess per point so that one point's allocations do not flatter the next); shard counts go
through the real server; ingest and replay reuse benchmarks/durable_ingest.py, one subprocess per point.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.generator import load_seed_suite
from benchmarks.grpc_service import SUITE, Server, percentile
from benchmarks.sources import generated
from service.client import SegmentsClient

POINT_TIMEOUT_S = 3600


def _rss() -> int:
    gc.collect()
    return int(psutil.Process(os.getpid()).memory_info().rss)


def engine_point(customers: int, events: int, repeats: int) -> dict[str, Any]:
    """One point, in this process: build, then the suite's p50 per query (sum and median)."""
    from benchmarks.peers import build_engine  # here: the subprocess imports only what it needs

    source = generated(customers, events)
    before = _rss()
    engine, build_s = build_engine(source)
    grown = _rss() - before
    p50s = []
    for _, rule in load_seed_suite(SUITE, source.placeholders):
        plan = engine.compile(rule)
        engine.count(plan, source.as_of_ms)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            engine.count(plan, source.as_of_ms)
            samples.append((time.perf_counter() - started) * 1000)
        p50s.append(percentile(samples, 0.5))
    return {"customers": customers, "events": source.events, "build_s": round(build_s, 2),
            "engine_rss_bytes": grown, "suite_p50_sum_ms": round(sum(p50s), 3),
            "suite_median_ms": round(statistics.median(p50s), 3), "worst_p50_ms": round(max(p50s), 3)}


def _subprocess_point(customers: int, events: int, repeats: int) -> dict[str, Any]:
    code = ("import json,sys; from benchmarks.scaling import engine_point; "
            f"print(json.dumps(engine_point({customers}, {events}, {repeats})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=POINT_TIMEOUT_S,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def customers_curve(sizes: list[int], events_per_customer: int, repeats: int) -> list[dict[str, Any]]:
    return [_subprocess_point(n, n * events_per_customer, repeats) for n in sizes]


def events_curve(customers: int, per_customer: list[int], repeats: int) -> list[dict[str, Any]]:
    return [{**_subprocess_point(customers, customers * k, repeats), "events_per_customer": k} for k in per_customer]


def shards_curve(customers: int, events: int, shard_counts: list[int], repeats: int) -> list[dict[str, Any]]:
    source = generated(customers, events)
    suite = load_seed_suite(SUITE, source.placeholders)
    out = []
    for shards in shard_counts:
        with tempfile.TemporaryDirectory(prefix="shards-bench-") as data_dir:
            server = Server(Path(data_dir), shards)
            try:
                with SegmentsClient(server.target) as client:
                    started = time.perf_counter()
                    client.ingest_stream(source.batches(5_000))
                    ingest_s = time.perf_counter() - started
                    p50s = []
                    for _, rule in suite:
                        client.count(rule, source.as_of_ms)
                        samples = []
                        for _ in range(repeats):
                            t0 = time.perf_counter()
                            client.count(rule, source.as_of_ms)
                            samples.append((time.perf_counter() - t0) * 1000)
                        p50s.append(percentile(samples, 0.5))
                rss = server.rss_bytes()
            finally:
                server.stop()
        out.append({"shards": shards, "customers": customers, "events": source.events,
                    "ingest_records_per_s": round(source.events / ingest_s), "server_rss_bytes": rss,
                    "suite_p50_sum_ms": round(sum(p50s), 3), "suite_median_ms": round(statistics.median(p50s), 3)})
    return out


def durability_curve(customers: int, events: int, batches: list[int], syncs: list[str]) -> list[dict[str, Any]]:
    out = []
    for sync in syncs:
        for batch in batches:
            with tempfile.TemporaryDirectory(prefix="durable-curve-") as work:
                result_path = Path(work) / "out.json"
                subprocess.run([sys.executable, "-m", "benchmarks.durable_ingest", "--customers", str(customers),
                                "--events", str(events), "--producers", "2", "--batch", str(batch),
                                "--sync", sync, "--tail", "1000", "--idempotency-ids", "1000",
                                "--data-dir", str(Path(work) / "data"), "--json", str(result_path)],
                               capture_output=True, text=True, timeout=POINT_TIMEOUT_S, check=True)
                result = json.loads(result_path.read_text())
            out.append({"sync": sync, "batch": batch,
                        "ingest_records_per_s": result["ingest"]["records_per_s"],
                        "replay_records_per_s": result["replay"]["records_per_s"]})
    return out

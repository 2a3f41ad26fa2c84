"""Scaling curves: the seed suite's latency and the engine's memory against customers, events per
customer and shard count; ingest and replay throughput against batch size and sync policy.

Latency and memory curves run the engine in process (one build per point, RSS grown by the build, in a
fresh subprocess per point so that one point's allocations do not flatter the next); shard counts go
through the real server; ingest and replay reuse benchmarks/durable_ingest.py, one subprocess per point.
"""

from __future__ import annotations

import contextlib
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
from benchmarks.sources import Source, generated
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


def _point(customers: int, events: int, repeats: int, isolated: bool) -> dict[str, Any]:
    # isolated: a fresh process per point (honest memory); tiny smoke sizes skip the interpreter start
    return _subprocess_point(customers, events, repeats) if isolated else engine_point(customers, events, repeats)


def customers_curve(sizes: list[int], events_per_customer: int, repeats: int, isolated: bool = True) -> list[dict[str, Any]]:
    return [_point(n, n * events_per_customer, repeats, isolated) for n in sizes]


def events_curve(customers: int, per_customer: list[int], repeats: int, isolated: bool = True) -> list[dict[str, Any]]:
    return [{**_point(customers, customers * k, repeats, isolated), "events_per_customer": k} for k in per_customer]


def suite_on(target: str, source: Source, repeats: int) -> list[float]:
    """p50 ms per seed-suite query on a server that holds `source`."""
    p50s = []
    with SegmentsClient(target) as client:
        for _, rule in load_seed_suite(SUITE, source.placeholders):
            client.count(rule, source.as_of_ms)
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                client.count(rule, source.as_of_ms)
                samples.append((time.perf_counter() - t0) * 1000)
            p50s.append(percentile(samples, 0.5))
    return p50s


def shard_point(server: Server, source: Source, shards: int, ingest_s: float, repeats: int) -> dict[str, Any]:
    p50s = suite_on(server.target, source, repeats)
    return {"shards": shards, "customers": source.customers, "events": source.events,
            "ingest_records_per_s": round(source.events / ingest_s), "server_rss_bytes": server.rss_bytes(),
            "suite_p50_sum_ms": round(sum(p50s), 3), "suite_median_ms": round(statistics.median(p50s), 3)}


def shards_curve(customers: int, events: int, shard_counts: list[int], repeats: int) -> list[dict[str, Any]]:
    from benchmarks.peers import serve

    source = generated(customers, events)
    out = []
    for shards in shard_counts:
        with tempfile.TemporaryDirectory(prefix="shards-bench-") as data_dir:
            server, ingest_s = serve(source, shards, Path(data_dir))
            try:
                out.append(shard_point(server, source, shards, ingest_s, repeats))
            finally:
                server.stop()
    return out


def durability_curve(customers: int, events: int, batches: list[int], syncs: list[str],
                     isolated: bool = True) -> list[dict[str, Any]]:
    from benchmarks import durable_ingest

    out = []
    for sync in syncs:
        for batch in batches:
            with tempfile.TemporaryDirectory(prefix="durable-curve-") as work:
                result_path = Path(work) / "out.json"
                argv = ["--customers", str(customers), "--events", str(events), "--producers", "2",
                        "--batch", str(batch), "--sync", sync, "--tail", "1000", "--idempotency-ids", "1000",
                        "--data-dir", str(Path(work) / "data"), "--json", str(result_path)]
                if isolated:
                    subprocess.run([sys.executable, "-m", "benchmarks.durable_ingest", *argv], capture_output=True,
                                   text=True, timeout=POINT_TIMEOUT_S, check=True)
                else:
                    with contextlib.redirect_stdout(sys.stderr):  # its own report; ours is the curve
                        assert durable_ingest.main(argv) in (0, None)
                result = json.loads(result_path.read_text())
            out.append({"sync": sync, "batch": batch,
                        "ingest_records_per_s": result["ingest"]["records_per_s"],
                        "replay_records_per_s": result["replay"]["records_per_s"]})
    return out

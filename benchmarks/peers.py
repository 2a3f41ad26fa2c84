"""The seed suite on one Source: the engine in process, the engine over gRPC (a real server subprocess),
DuckDB and chDB, on the same records, with the same rules. Any count that differs fails the run.

Per query: p50/p99 of each, and the speed-up of the in-process and gRPC engine over the best peer
(the lower of DuckDB's and chDB's p50 for that query).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.chdb_runner import ChdbRunner
from benchmarks.duckdb_runner import DuckDbRunner
from benchmarks.generator import load_seed_suite
from benchmarks.grpc_service import SUITE, Server, percentile
from benchmarks.sources import Source
from indexes.engine import Engine
from indexes.records import validate_batch
from service.client import SegmentsClient

INGEST_BATCH = 5_000
ENGINE_BATCH = 200_000


class CountMismatch(SystemExit):
    pass


def timed(call: Callable[[], int], repeats: int) -> tuple[int, list[float]]:
    first = call()  # warm-up, and the count every repeat must reproduce
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        again = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert again == first, "a count changed between repeats"
    return first, samples


def build_engine(source: Source) -> tuple[Engine, float]:
    engine = Engine(tz="UTC")
    started = time.perf_counter()
    for batch in source.batches(ENGINE_BATCH):
        engine.apply_validated(validate_batch(batch, engine.schema).records)
    engine.flush_buffers()
    return engine, time.perf_counter() - started


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(samples, 0.5), 3), "p99": round(percentile(samples, 0.99), 3)}


def serve(source: Source, shards: int, data_dir: Path) -> tuple[Server, float]:
    """A server subprocess holding `source` (ingested through IngestStream); and the ingest seconds."""
    server = Server(data_dir, shards)
    try:
        with SegmentsClient(server.target) as client:
            started = time.perf_counter()
            client.ingest_stream(source.batches(INGEST_BATCH))
            return server, time.perf_counter() - started
    except BaseException:
        server.stop()
        raise


def run(source: Source, repeats: int, peer_repeats: int, shards: int = 2, grpc: bool = True,
        target: tuple[str, float] | None = None) -> dict[str, Any]:
    """`target`: (address, ingest seconds) of a running server that already holds `source`, else one is
    started (when `grpc`) and stopped here."""
    print(f"[peers] {source.name}: {source.customers:,} customers, {source.events:,} events", file=sys.stderr)
    engine, build_s = build_engine(source)
    tables = source.tables()
    duck = DuckDbRunner(None, tables=tables)
    chdb = ChdbRunner(tables)
    suite = load_seed_suite(SUITE, source.placeholders)
    server = None
    data_dir = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    try:
        if target is not None:
            address, grpc_ingest_s = target
        elif grpc:
            server, grpc_ingest_s = serve(source, shards, data_dir)
            address = server.target
        rows = []
        client = SegmentsClient(address) if grpc or target is not None else None
        for query_id, rule in suite:
            plan = engine.compile(rule)
            row: dict[str, Any] = {"id": query_id}
            counts = {}
            counts["engine"], samples = timed(lambda p=plan: engine.count(p, source.as_of_ms), repeats)
            row["engine_ms"] = _stats(samples)
            if client is not None:
                counts["grpc"], samples = timed(lambda r=rule: client.count(r, source.as_of_ms).count, repeats)
                row["grpc_ms"] = _stats(samples)
            counts["duckdb"], samples = timed(lambda p=plan: duck.count(p, source.as_of_ms), peer_repeats)
            row["duckdb_ms"] = _stats(samples)
            counts["chdb"], samples = timed(lambda p=plan: chdb.count(p, source.as_of_ms), peer_repeats)
            row["chdb_ms"] = _stats(samples)
            if len(set(counts.values())) != 1:
                raise CountMismatch(f"count mismatch on {source.name} / {query_id}: {counts}\n"
                                    f"DuckDB: {duck.sql(plan, source.as_of_ms)}\nchDB: {chdb.sql(plan, source.as_of_ms)}")
            row["count"] = counts["engine"]
            best_peer = min(row["duckdb_ms"]["p50"], row["chdb_ms"]["p50"])
            row["best_peer"] = "duckdb" if row["duckdb_ms"]["p50"] <= row["chdb_ms"]["p50"] else "chdb"
            row["engine_speedup"] = round(best_peer / max(row["engine_ms"]["p50"], 1e-3), 1)
            if "grpc_ms" in row:
                row["grpc_speedup"] = round(best_peer / max(row["grpc_ms"]["p50"], 1e-3), 1)
            rows.append(row)
            print(f"  {query_id:26s} {row['count']:9d} engine {row['engine_ms']['p50']:8.3f} "
                  f"grpc {row.get('grpc_ms', {}).get('p50', '-')} duckdb {row['duckdb_ms']['p50']:8.2f} "
                  f"chdb {row['chdb_ms']['p50']:8.2f} ms", file=sys.stderr)
        if client is not None:
            client.close()
    finally:
        if server is not None:
            server.stop()
        chdb.close()
        shutil.rmtree(data_dir, ignore_errors=True)

    def median(key: str) -> float:
        return round(statistics.median(r[key]["p50"] for r in rows), 3)

    out: dict[str, Any] = {
        "source": source.name, "customers": source.customers, "events": source.events,
        "shards": shards if client is not None else None,
        "engine_build_s": round(build_s, 2), "duckdb_load_s": round(duck.load_seconds, 2),
        "chdb_load_s": round(chdb.load_seconds, 2), "queries": rows,
        "median_ms": {k: median(f"{k}_ms") for k in ("engine", "duckdb", "chdb")},
    }
    if client is not None:
        out["median_ms"]["grpc"] = median("grpc_ms")
        out["grpc_ingest_records_per_s"] = round(source.events / max(grpc_ingest_s, 1e-9))
        out["grpc_suite_speedup"] = round(
            min(sum(r["duckdb_ms"]["p50"] for r in rows), sum(r["chdb_ms"]["p50"] for r in rows))
            / max(sum(r["grpc_ms"]["p50"] for r in rows), 1e-9), 1)
    out["engine_suite_speedup"] = round(
        min(sum(r["duckdb_ms"]["p50"] for r in rows), sum(r["chdb_ms"]["p50"] for r in rows))
        / max(sum(r["engine_ms"]["p50"] for r in rows), 1e-9), 1)
    return out

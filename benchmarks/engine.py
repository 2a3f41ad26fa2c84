"""Engine benchmark: the seed suite on one in-process shard, side by side with DuckDB.

    python -m benchmarks.engine --customers 1000000 --events 20000000 [--repeats 50] [--json out.json]

Steps, all in one run on the same generated records:
  1. generate (benchmarks/generator.py, seeded) and ingest through the public `Engine.ingest`,
     timing validation and index build separately; RSS after the build
  2. load the same data into in-process DuckDB (benchmarks/duckdb_runner.py)
  3. every seed-suite query: compiled once, evaluated `repeats` times on the engine (p50/p99) and
     a few times on DuckDB (p50) from SQL made from the same plan; counts must be identical or
     the run fails
Prints a markdown table and writes JSON (figures for the README).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import psutil

from benchmarks.duckdb_runner import DuckDbRunner
from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from indexes.records import validate_batch

SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "seed_suite.json"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_bytes() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


def build_engine(data: object, batch_size: int) -> tuple[Engine, dict]:
    engine = Engine(tz="UTC")
    validate_s = apply_s = 0.0
    records = events = 0
    for batch in iter_records(data, batch_size):  # type: ignore[arg-type]
        started = time.perf_counter()
        validated = validate_batch(batch, engine.schema)
        middle = time.perf_counter()
        stats = engine.apply_validated(validated.records)
        apply_s += time.perf_counter() - middle
        validate_s += middle - started
        records += len(batch)
        events += stats.events
    started = time.perf_counter()
    engine.flush_buffers()  # queries then read one sorted run per type and finished bitmaps
    apply_s += time.perf_counter() - started
    return engine, {
        "records": records,
        "events": events,
        "validate_s": round(validate_s, 2),
        "build_s": round(apply_s, 2),
        "validate_per_s": round(records / validate_s),
        "build_events_per_s": round(records / apply_s),
        "ingest_per_s": round(records / (validate_s + apply_s)),
    }


def run(customers: int, events: int, repeats: int, duck_repeats: int, batch_size: int) -> dict:
    started = time.perf_counter()
    data = generate_columns(customers, events)
    generate_s = time.perf_counter() - started
    print(f"generated {customers:,} customers / {data.event_count:,} events in {generate_s:.1f}s", file=sys.stderr)
    rss_before = rss_bytes()
    engine, build = build_engine(data, batch_size)
    build["rss_bytes"] = rss_bytes()
    build["rss_engine_bytes"] = build["rss_bytes"] - rss_before
    print(f"engine build: {build}", file=sys.stderr)
    duck = DuckDbRunner(data)
    print(f"duckdb load: {duck.load_seconds:.1f}s", file=sys.stderr)
    as_of = data.as_of_ms
    rows = []
    for query_id, rule in load_seed_suite(SUITE, placeholders(data)):
        plan = engine.compile(rule)
        timings = []
        count = engine.count(plan, as_of)
        cpu_started = time.process_time()
        for _ in range(repeats):
            t0 = time.perf_counter()
            engine.count(plan, as_of)
            timings.append((time.perf_counter() - t0) * 1000)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / max(repeats, 1)  # whole process: numpy never forks work
        duck_timings = []
        duck_count = duck.count(plan, as_of)
        for _ in range(duck_repeats):
            t0 = time.perf_counter()
            duck.count(plan, as_of)
            duck_timings.append((time.perf_counter() - t0) * 1000)
        if duck_count != count:
            raise SystemExit(f"count mismatch on {query_id}: engine {count}, duckdb {duck_count}\n{duck.sql(plan, as_of)}")
        row = {
            "id": query_id,
            "count": count,
            "engine_p50_ms": round(percentile(timings, 0.5), 3),
            "engine_p99_ms": round(percentile(timings, 0.99), 3),
            "engine_cpu_ms": round(cpu_ms, 3),
            "duckdb_p50_ms": round(percentile(duck_timings, 0.5), 2),
        }
        row["speedup"] = round(row["duckdb_p50_ms"] / max(row["engine_p50_ms"], 1e-3), 1)
        rows.append(row)
        print(f"{query_id:26s} {count:9d} engine {row['engine_p50_ms']:8.3f} ms (cpu {row['engine_cpu_ms']:.3f})  "
              f"duckdb {row['duckdb_p50_ms']:8.1f} ms", file=sys.stderr)
    engine_p50s = [r["engine_p50_ms"] for r in rows]
    duck_p50s = [r["duckdb_p50_ms"] for r in rows]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version()},
        "customers": customers,
        "events": data.event_count,
        "generate_s": round(generate_s, 1),
        "build": build,
        "duckdb_load_s": round(duck.load_seconds, 1),
        "queries": rows,
        "suite_median_engine_ms": round(statistics.median(engine_p50s), 3),
        "suite_engine_p50_sum_ms": round(sum(engine_p50s), 3),
        "suite_engine_cpu_per_pass_ms": round(sum(r["engine_cpu_ms"] for r in rows), 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "suite_median_duckdb_ms": round(statistics.median(duck_p50s), 2),
        "median_speedup": round(statistics.median(duck_p50s) / max(statistics.median(engine_p50s), 1e-3), 1),
    }


def markdown(result: dict) -> str:
    lines = [
        f"Seed suite, {result['customers']:,} customers / {result['events']:,} events, one shard, "
        f"{result['machine']['cores']} cores, {result['date']}",
        "",
        "| query | members | engine p50 ms | engine p99 ms | engine CPU ms | DuckDB p50 ms | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["queries"]:
        lines.append(f"| {r['id']} | {r['count']:,} | {r['engine_p50_ms']} | {r['engine_p99_ms']} | "
                     f"{r['engine_cpu_ms']} | {r['duckdb_p50_ms']} | {r['speedup']}x |")
    b = result["build"]
    lines += [
        "",
        f"Engine per pass of the suite: p50s add up to {result['suite_engine_p50_sum_ms']} ms, CPU "
        f"{result['suite_engine_cpu_per_pass_ms']} ms (mean per count, summed); load average at the end "
        f"{result['load_average']}.",
        "",
        f"Suite median: engine {result['suite_median_engine_ms']} ms, DuckDB {result['suite_median_duckdb_ms']} ms "
        f"({result['median_speedup']}x). Validation {b['validate_per_s']:,} records/s, index build "
        f"{b['build_events_per_s']:,} records/s, RSS {b['rss_bytes'] / 2**30:.2f} GiB (engine: "
        f"{b['rss_engine_bytes'] / 2**30:.2f} GiB grown during the build; the rest is Python, libraries and "
        f"the generated data).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--duckdb-repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=200_000)
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    result = run(args.customers, args.events, args.repeats, args.duckdb_repeats, args.batch_size)
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

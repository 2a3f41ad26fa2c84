"""10M customers on this machine: ten shards of 1M customers in one process (docs/CAPACITY.md).

    python -m benchmarks.capacity_10m [--shards 10] [--customers-per-shard 1000000] [--events-per-customer 2]
                                      [--repeats 10] [--json benchmarks/results/capacity_10m.json]

One shard holds at most 2**20 customers (indexes/shard/dense_ids.py), so 10M customers are 10 shards. Each
shard is generated with its own seed (benchmarks/generator.py: its own 1M customers) and built through the
public path (validate_batch + Engine.apply_validated), one after the other, in this process; the generated
records of a shard are dropped before the next is made. Measured:

* memory: the process's RSS grown by the ten engines (what ten shard actors would hold, less their
  per-process base of ~123 MiB each, docs/CAPACITY.md);
* the seed suite (placeholders from shard 0) on every shard: a cluster's count is the sum of its
  shards' counts, so per query the sum of the shard times (one core doing the fan-out) and the largest
  shard time (the fan-out on enough cores) bound what a 10-shard cluster's count costs before the router.

Events per customer default to 2: at 20 the engines need ~26 GiB (2.57 GiB per million measured), more
than this machine's 24 GiB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.capacity import _percentile, _rss_bytes
from benchmarks.generator import load_seed_suite
from benchmarks.grpc_service import SUITE
from benchmarks.peers import build_engine
from benchmarks.sources import generated
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD

MAX_SHARDS = 16


def run(shards: int, per_shard: int, events_per_customer: int, repeats: int) -> dict[str, Any]:
    assert 1 <= shards <= MAX_SHARDS and 1 <= per_shard <= MAX_CUSTOMERS_PER_SHARD and repeats >= 1
    engines: list[Any] = []
    rules: list[tuple[str, Any]] = []
    as_of_ms = 0
    build_s: list[float] = []
    before = _rss_bytes()
    for shard in range(shards):
        source = generated(per_shard, per_shard * events_per_customer, seed=1_000 + shard)
        if shard == 0:
            rules = load_seed_suite(SUITE, source.placeholders)
            as_of_ms = source.as_of_ms
        engine, seconds = build_engine(source)
        del source
        engines.append(engine)
        build_s.append(round(seconds, 1))
        print(f"shard {shard}: built in {seconds:.1f} s, RSS grown {(_rss_bytes() - before) / 2**30:.2f} GiB",
              flush=True)
    engines_bytes = _rss_bytes() - before
    queries = []
    for name, rule in rules:
        plans = [engine.compile(rule) for engine in engines]
        for engine, plan in zip(engines, plans, strict=True):
            engine.count(plan, as_of_ms)  # warm-up
        sums, maxima, count = [], [], 0
        for _ in range(repeats):
            times = []
            count = 0
            for engine, plan in zip(engines, plans, strict=True):
                started = time.perf_counter()
                count += engine.count(plan, as_of_ms)
                times.append((time.perf_counter() - started) * 1000)
            sums.append(sum(times))
            maxima.append(max(times))
        queries.append({"id": name, "count": count, "sum_p50_ms": round(_percentile(sums, 0.5), 3),
                        "max_shard_p50_ms": round(_percentile(maxima, 0.5), 3),
                        "sum_p99_ms": round(_percentile(sums, 0.99), 3)})
    medians = sorted(q["sum_p50_ms"] for q in queries)
    gc.collect()
    return {
        "date": time.strftime("%Y-%m-%d"), "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                                       "load_avg_1m": round(os.getloadavg()[0], 2)},
        "shards": shards, "customers": shards * per_shard, "events_per_customer": events_per_customer,
        "engines_rss_bytes": engines_bytes, "build_s_per_shard": build_s,
        "suite_median_sum_p50_ms": medians[len(medians) // 2],
        "suite_median_max_shard_p50_ms": sorted(q["max_shard_p50_ms"] for q in queries)[len(queries) // 2],
        "queries": queries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--customers-per-shard", type=int, default=1_000_000)
    parser.add_argument("--events-per-customer", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.shards, args.customers_per_shard, args.events_per_customer, args.repeats)
    print(f"{result['customers']:,} customers in {result['shards']} shards, {args.events_per_customer} events each: "
          f"engines {result['engines_rss_bytes'] / 2**30:.2f} GiB; seed suite median per count: "
          f"{result['suite_median_sum_p50_ms']} ms summed over the shards (one core), "
          f"{result['suite_median_max_shard_p50_ms']} ms for the slowest shard (one core per shard)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Resharding benchmark: how long the documented pause of `segments reshard` lasts.

    python -m benchmarks.reshard --customers 50000 --events 500000 --from 2 --to 3 [--jobs N] [--data-dir DIR] [--keep]

1. Builds a --from-shard data directory the way the cluster stores records (each record on its
   customer's shard, benchmarks/generator.py data, sync=never; not timed), and counts the seed rules.
2. Reshards to --to shards (actors/reshard.py), timed as a whole and by phase from its progress
   lines: open the old shards, write the new logs, replay + check + snapshot the new shards.
3. Opens the new layout and checks every seed-rule count against step 1.
Prints the figures (and --json FILE writes them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from actors.layout import open_layout
from actors.placement import route_batch
from actors.reshard import reshard
from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.durable import DurableEngine
from tests import paths

INGEST_BATCH_RECORDS = 5_000


def build(root: Path, shards: int, customers: int, events: int) -> tuple[list[str], int, list[int]]:
    data = generate_columns(customers, events, seed=17)
    layout = open_layout(root, shards, "UTC")
    engines = [DurableEngine.open(layout.shard_dir(s), sync="never", create=False) for s in range(shards)]
    records = 0
    try:
        for batch in iter_records(data, INGEST_BATCH_RECORDS):
            routed = route_batch(batch, shards)
            for shard in routed.targets():
                engines[shard].ingest(routed.raws[shard])
            records += len(batch)
        rules = [rule for _, rule in load_seed_suite(paths.SEED_SUITE, placeholders(data))]
        counts = [sum(e.count(rule, data.as_of_ms) for e in engines) for rule in rules]
    finally:
        for engine in engines:
            engine.close()
    return rules, records, counts + [data.as_of_ms]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--from", dest="old_shards", type=int, default=2)
    parser.add_argument("--to", dest="new_shards", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="shards opened at once (processes)")
    parser.add_argument("--data-dir", type=Path, help="where to build (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="reshard-bench-"))
    try:
        started = time.perf_counter()
        rules, records, counts_and_as_of = build(root, args.old_shards, args.customers, args.events)
        *before, as_of_ms = counts_and_as_of
        build_s = time.perf_counter() - started
        phases: list[tuple[float, str]] = []
        report = reshard(root, args.new_shards, jobs=args.jobs,
                         progress=lambda m: phases.append((time.perf_counter(), m)))
        layout = open_layout(root)
        engines = [DurableEngine.open(layout.shard_dir(s), sync="never", create=False) for s in range(layout.shards)]
        try:
            opened_s = time.perf_counter()
            after = [sum(e.count(rule, as_of_ms) for e in engines) for rule in rules]
        finally:
            for engine in engines:
                engine.close()
        assert after == before, "a seed-rule count changed across the reshard"
        figures = {
            "customers": args.customers, "events": args.events, "records": records,
            "from_shards": args.old_shards, "to_shards": args.new_shards, "jobs": args.jobs, "build_s": round(build_s, 1),
            "reshard_s": round(report.seconds, 2), "records_per_s": round(report.routed_records / report.seconds),
            "batches": report.batches, "seed_rules_equal": len(rules), "reopen_and_count_s": round(time.perf_counter() - opened_s, 2),
            "phases": [(round(t - phases[0][0], 2), message) for t, message in phases] if phases else [],
        }
        print(json.dumps(figures, indent=1))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

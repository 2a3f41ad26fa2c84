"""Replay of shard-partition logs in parallel processes: the restart of a node running a shard per core.

    python -m benchmarks.replay_parallel --customers 1000000 --events 20000000 --shards 2 \
        [--dir DIR] [--keep] [--json PATH]

1. Setup (not timed): one process per shard generates the same data (benchmarks/generator.py,
   seeded), keeps the records of its customers (`xxh3_64(customer_id) % shards`, the service's
   placement, actors/placement.py) and ingests them through `DurableEngine.ingest` into its own
   workspace (batches of 1000, sync=never: the log is written as the engine writes it).
2. Timed: every shard's process opens its workspace with `use_snapshots=False` (a full replay of its
   log) at the same moment; the wall time runs from that moment until the last one is done.
   Reported: per shard the replay's own figures, and combined events/s = all events / wall time.
Processes are spawned (multiprocessing), nothing else shares them; `indexes/` knows nothing of them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import xxhash

from benchmarks.generator import generate_columns, iter_records
from indexes.durable import DurableEngine

BATCH_RECORDS = 1000


def shard_of(customer_id: str, shards: int) -> int:
    """The owning shard, as actors/placement.py computes it."""
    return xxhash.xxh3_64_intdigest(customer_id.encode("utf-8", "surrogatepass")) % shards


def _customer(raw: dict[str, Any]) -> str:
    return raw["customer_id"] if "customer_id" in raw else raw["forget_customer"]  # type: ignore[no-any-return]


def build_shard(root: str, shard: int, shards: int, customers: int, events: int, seed: int) -> dict[str, Any]:
    """Ingest this shard's part of the generated records into `root` (a child process)."""
    data = generate_columns(customers, events, seed=seed)
    started = time.perf_counter()
    records = 0
    pending: list[dict[str, Any]] = []
    with DurableEngine.open(root, sync="never") as engine:
        for batch in iter_records(data, BATCH_RECORDS):
            pending.extend(raw for raw in batch if shard_of(_customer(raw), shards) == shard)
            while len(pending) >= BATCH_RECORDS:
                engine.ingest(pending[:BATCH_RECORDS])
                records += BATCH_RECORDS
                pending = pending[BATCH_RECORDS:]
        if pending:
            engine.ingest(pending)
            records += len(pending)
    return {"shard": shard, "records": records, "ingest_s": round(time.perf_counter() - started, 1)}


def replay_shard(root: str, start: Any) -> dict[str, Any]:
    """Wait for the common start, then open with a full replay (a child process)."""
    start.wait()
    began = time.perf_counter()
    cpu_began = time.process_time()
    engine, report = DurableEngine.open_with_report(root, use_snapshots=False)
    wall_s = time.perf_counter() - began
    cpu_s = time.process_time() - cpu_began
    customers = engine.customer_count()
    engine.close()
    replay = report.replay
    return {
        "records": replay.records,
        "events": replay.events,
        "customers": customers,
        "replay_s": round(replay.seconds, 2),
        "open_s": round(wall_s, 2),
        "log_open_s": round(report.seconds - replay.seconds, 2),
        "cpu_s": round(cpu_s, 2),
        "events_per_s": round(replay.events / replay.seconds),
        "rss_bytes": psutil.Process(os.getpid()).memory_info().rss,
    }


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    context = mp.get_context("spawn")
    roots = [str(root / f"shard-{shard}") for shard in range(args.shards)]
    if not all((Path(path) / "log").is_dir() for path in roots):
        print(f"setup: {args.shards} processes ingest their shard's records", file=sys.stderr, flush=True)
        with context.Pool(args.shards) as pool:
            built = pool.starmap(
                build_shard,
                [(path, shard, args.shards, args.customers, args.events, args.seed) for shard, path in enumerate(roots)],
            )
        print(f"setup done: {built}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(args.shards) as pool:
            pending = [pool.apply_async(replay_shard, (path, start)) for path in roots]
            time.sleep(2.0)  # every child imported and waiting
            began = time.perf_counter()
            start.set()
            shards = [result.get() for result in pending]
            wall_s = time.perf_counter() - began
    events = sum(shard["events"] for shard in shards)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "customers": args.customers, "events_generated": args.events, "shards": args.shards,
        "per_shard": shards,
        "wall_s": round(wall_s, 2),
        "events": events,
        "combined_events_per_s": round(events / wall_s),
        "combined_records_per_s": round(sum(shard["records"] for shard in shards) / wall_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=4_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="work directory; an existing one is replayed again without setup")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="replay-parallel-"))
    try:
        out = run(args, root)
    finally:
        if args.dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Snapshot benchmark: write, size, load, digest, and restart (load + log-tail replay) of one shard.

    python -m benchmarks.snapshot --customers 1000000 --events 20000000 [--tail-records 100000]
                                  [--dir DIR] [--json [PATH]]

Steps, on generated data (benchmarks/generator.py, seeded):
  1. build a shard through the public path (validate_batch + Engine.apply_validated) from every
     record except the last `tail-records`, which go into a FileLog as the log tail
  2. write a snapshot (fsync included), report its size per file
  3. digest the live shard; load the snapshot; digest the loaded one (must be equal)
  4. restart = load + replay of the tail from the FileLog (read, validate, apply), timed together
Prints a table to stderr and the figures as JSON (stdout with --json, or --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.generator import generate_columns, iter_records
from indexes.engine import Engine
from indexes.log import FileLog
from indexes.records import validate_batch
from indexes.snapshot import index_digests, load_newest_snapshot, shard_digest, write_snapshot
from indexes.snapshot.manifest import read_manifest


def rss_bytes() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


def build(customers: int, events: int, batch_size: int, tail_records: int) -> tuple[Engine, list[dict], dict]:
    """The shard of every record but the last `tail_records`, and those raw tail records."""
    started = time.perf_counter()
    data = generate_columns(customers, events)
    generate_s = time.perf_counter() - started
    total = customers + data.event_count
    head = total - tail_records
    assert head >= 0, "more tail records than records"
    engine = Engine(tz="UTC")
    tail: list[dict] = []
    seen = 0
    started = time.perf_counter()
    for batch in iter_records(data, batch_size):
        keep = batch[: max(0, head - seen)]
        tail += batch[len(keep) :]
        seen += len(batch)
        if keep:
            engine.apply_validated(validate_batch(keep, engine.schema).records)
    build_s = time.perf_counter() - started
    assert seen == total and len(tail) == tail_records
    return engine, tail, {"generate_s": round(generate_s, 1), "build_s": round(build_s, 1), "records": total,
                          "covered_lsn": head}


def replay_tail(engine: Engine, log_dir: Path, batch_records: int) -> int:
    with FileLog(log_dir, sync="never") as log:
        applied = 0
        for _, batch in log.read_batches(0, max_records=batch_records):
            engine.apply_validated(validate_batch(batch, engine.schema).records)
            applied += len(batch)
    return applied


def run(customers: int, events: int, batch_size: int, tail_records: int, root: Path) -> dict:
    engine, tail, result = build(customers, events, batch_size, tail_records)
    print(f"built {result}", file=sys.stderr)
    result["rss_after_build_bytes"] = rss_bytes()
    snapshots_dir, log_dir = root / "snapshots", root / "log"
    with FileLog(log_dir, sync="never") as log:
        for start in range(0, len(tail), 10_000):
            log.append(tail[start : start + 10_000])
        log.sync()

    started = time.perf_counter()
    info = write_snapshot(engine.shard, snapshots_dir, result["covered_lsn"])
    result["write_s"] = round(time.perf_counter() - started, 2)
    result["size_bytes"] = info.size_bytes
    result["files_bytes"] = {p.name: p.stat().st_size for p in sorted(info.path.iterdir())}
    manifest = read_manifest(info.path)
    result["arrays"] = len(manifest["blobs"]["arrays"])
    layout = manifest["blobs"]
    result["bitmaps"] = layout["arrays"][layout["bitmap_ends"]][1][0]  # the shape of the end-offset table
    print(f"wrote {info.size_bytes / 2**20:.0f} MiB in {result['write_s']} s", file=sys.stderr)

    started = time.perf_counter()
    live_digest = shard_digest(engine.shard)
    result["digest_s"] = round(time.perf_counter() - started, 2)
    live_indexes = index_digests(engine.shard)
    result["indexes_digested"] = len(live_indexes)
    del engine

    started = time.perf_counter()
    loaded = load_newest_snapshot(snapshots_dir)
    result["load_s"] = round(time.perf_counter() - started, 2)
    assert loaded is not None and not loaded.skipped, loaded
    started = time.perf_counter()
    loaded_digest = shard_digest(loaded.shard)
    result["loaded_digest_s"] = round(time.perf_counter() - started, 2)
    if loaded_digest != live_digest:
        mismatched = sorted(k for k, v in index_digests(loaded.shard).items() if live_indexes.get(k) != v)
        raise SystemExit(f"digest mismatch after load: {mismatched}")
    result["digest"] = live_digest
    print(f"loaded in {result['load_s']} s; digests equal ({live_digest})", file=sys.stderr)

    engine = Engine(tz=loaded.shard.calendar.name)
    engine.shard = loaded.shard
    started = time.perf_counter()
    result["tail_records"] = replay_tail(engine, log_dir, batch_records=10_000)
    result["tail_replay_s"] = round(time.perf_counter() - started, 2)
    result["restart_s"] = round(result["load_s"] + result["tail_replay_s"], 2)
    result.update(
        customers=customers,
        events=events,
        date=time.strftime("%Y-%m-%d"),
        machine={"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                 "python": platform.python_version()},
    )
    return result


def table(result: dict) -> str:
    size_mib = result["size_bytes"] / 2**20
    files = ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in result["files_bytes"].items())
    return "\n".join([
        f"Snapshot of {result['customers']:,} customers / {result['records'] - result['customers']:,} events "
        f"({result['arrays']} arrays, {result['bitmaps']:,} bitmaps), {result['machine']['cores']} cores, {result['date']}",
        "",
        "| step | figure |",
        "| --- | ---: |",
        f"| write (flush, encode, fsync, rename) | {result['write_s']} s |",
        f"| size on disk | {size_mib:,.0f} MiB ({files}) |",
        f"| load (read, CRC32C, decode) | {result['load_s']} s |",
        f"| digest, live shard / loaded shard | {result['digest_s']} s / {result['loaded_digest_s']} s |",
        f"| replay of the log tail ({result['tail_records']:,} records: read, validate, apply) | {result['tail_replay_s']} s |",
        f"| restart = load + tail replay | {result['restart_s']} s |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=200_000)
    parser.add_argument("--tail-records", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="work directory (default: a temp dir, removed afterwards)")
    parser.add_argument("--json", nargs="?", const="-", help="print the result as JSON (to stdout, or to PATH)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="snapshot-bench-"))
    try:
        result = run(args.customers, args.events, args.batch_size, args.tail_records, root)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(table(result), file=sys.stderr)
    if args.json == "-":
        print(json.dumps(result, indent=2))
    elif args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

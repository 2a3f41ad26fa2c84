"""Durable engine benchmark: ingest with group commit, replay, snapshot, restart, idempotency memory.

    python -m benchmarks.durable_ingest --customers 200000 --events 4000000 --producers 4 --batch 1000 \
        [--sync always] [--chunk 1000000] [--json out.json] [--data-dir DIR] [--keep]

1. Durable ingest: `--producers` threads call `DurableEngine.ingest` with batches of `--batch` raw
   records (benchmarks/generator.py), each returning once the batch is fsynced (sync=always) and
   applied. Records are generated `--chunk` at a time outside the timed sections, so generation is
   not measured; validation, dedupe, encoding, the log and the apply are.
2. Replay: reopen without snapshots; the whole log is replayed into a fresh engine (the log's open-time
   CRC scan is reported separately).
3. Snapshot: write one; then ingest a tail of `--tail` events and measure a restart (log open +
   snapshot load + tail replay).
4. Idempotency memory: bytes per accepted event id in the EventIdSet (its arrays, and RSS growth).
Only public entry points are used.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.generator import generate_columns, iter_records
from indexes.durable import DurableEngine
from indexes.event_ids import EventIdSet, digests


def rss_bytes() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


class CountingFsync:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        os.fsync(fd)


class Phase:
    """One timed phase: `producers` threads ingest the batches of a pre-generated chunk."""

    def __init__(self, engine: DurableEngine, chunk: list[list[dict]]) -> None:
        self.engine = engine
        self.chunk = chunk
        self.position = 0
        self.lock = threading.Lock()
        self.records = self.events = self.duplicates = 0
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []

    def produce(self) -> None:
        while True:
            with self.lock:
                if self.position >= len(self.chunk):
                    return
                batch = self.chunk[self.position]
                self.position += 1
            started = time.perf_counter()
            try:
                result = self.engine.ingest(batch)
            except BaseException as exc:  # reported after the phase
                self.errors.append(exc)
                return
            elapsed = time.perf_counter() - started
            with self.lock:
                self.latencies.append(elapsed)
                self.records += result.accepted
                self.duplicates += result.duplicates
                self.events += sum(1 for r in batch if "event_id" in r)

    def run(self, producers: int) -> float:
        threads = [threading.Thread(target=self.produce) for _ in range(producers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.errors:
            raise self.errors[0]
        return time.perf_counter() - started


def ingest_chunks(engine: DurableEngine, data: object, args: argparse.Namespace) -> dict:
    """Ingest everything, a pre-generated chunk at a time; only the ingest phases are timed."""
    ingest_s = 0.0
    records = events = duplicates = 0
    latencies: list[float] = []
    source = iter_records(data, args.batch)  # type: ignore[arg-type]
    batches_per_chunk = max(1, args.chunk // args.batch)
    for _ in range(1 << 30):  # ends when the source is exhausted
        chunk = [batch for _, batch in zip(range(batches_per_chunk), source, strict=False)]
        if not chunk:
            break
        phase = Phase(engine, chunk)
        ingest_s += phase.run(args.producers)
        records += phase.records
        events += phase.events
        duplicates += phase.duplicates
        latencies.extend(phase.latencies)
        print(f"  ingested {records:,} records in {ingest_s:.1f} s", file=sys.stderr, flush=True)
        del chunk, phase
        gc.collect()
    return {
        "records": records,
        "events": events,
        "duplicates": duplicates,
        "seconds": round(ingest_s, 2),
        "records_per_s": round(records / ingest_s),
        "events_per_s": round(events / ingest_s),
        "batch_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "batch_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


def idempotency_memory(ids: int) -> dict:
    """An EventIdSet fed `ids` ids in ingest-sized batches: array bytes per id, RSS growth per id."""
    gc.collect()
    before = rss_bytes()
    id_set = EventIdSet()
    for low in range(0, ids, 1000):
        id_set.add(digests([f"event-{i:012d}" for i in range(low, min(ids, low + 1000))]))
    gc.collect()
    grown = rss_bytes() - before
    return {
        "ids": ids,
        "array_bytes": id_set.size_bytes(),
        "array_bytes_per_id": round(id_set.size_bytes() / ids, 2),
        "rss_growth_bytes_per_id": round(grown / ids, 2),
        "bytes_per_million_ids": id_set.size_bytes() * 1_000_000 // ids,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=4_000_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000, help="records per ingest call")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="records generated ahead of each timed phase")
    parser.add_argument("--tail", type=int, default=20_000, help="events ingested after the snapshot")
    parser.add_argument("--sync", default="always", choices=["always", "interval", "never"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--idempotency-ids", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="durable-bench-"))
    out: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "customers": args.customers, "events": args.events, "producers": args.producers,
        "batch": args.batch, "sync": args.sync,
    }
    try:
        # First, in a fresh process: later phases leave freed memory that RSS growth would not show.
        out["idempotency_memory"] = idempotency_memory(args.idempotency_ids)
        started = time.perf_counter()
        data = generate_columns(args.customers, args.events, seed=args.seed)
        out["generate_s"] = round(time.perf_counter() - started, 1)

        fsync = CountingFsync()
        with DurableEngine.open(data_dir, sync=args.sync, fsync=fsync) as engine:
            out["ingest"] = ingest_chunks(engine, data, args)
            out["ingest"]["fsyncs"] = fsync.calls
            out["ingest"]["records_per_fsync"] = round(out["ingest"]["records"] / max(1, fsync.calls), 1)
            stats = engine.stats()
            out["log_size_bytes"] = stats.log_size_bytes
            out["event_ids"] = {"count": stats.event_ids, "size_bytes": stats.event_ids_size_bytes,
                                "bytes_per_id": round(stats.event_ids_size_bytes / max(1, stats.event_ids), 2)}
            out["rss_after_ingest_bytes"] = rss_bytes()
        del data, engine  # the replay below builds the state again: do not hold two
        gc.collect()
        print(json.dumps(out), file=sys.stderr, flush=True)  # partial results, should a later phase fail

        print("  replaying the whole log", file=sys.stderr, flush=True)
        engine, report = DurableEngine.open_with_report(data_dir, use_snapshots=False)
        replay = report.replay
        out["replay"] = {
            "records": replay.records, "events": replay.events, "seconds": round(replay.seconds, 2),
            "records_per_s": round(replay.records / replay.seconds),
            "events_per_s": round(replay.events / replay.seconds),
            "open_total_s": round(report.seconds, 2),
            "log_open_scan_s": round(report.seconds - replay.seconds, 2),
        }
        print(json.dumps(out["replay"]), file=sys.stderr, flush=True)
        print("  snapshot", file=sys.stderr, flush=True)
        started = time.perf_counter()
        info = engine.snapshot()
        out["snapshot"] = {"seconds": round(time.perf_counter() - started, 2), "size_bytes": info.size_bytes}
        tail = [{"event_id": f"tail-{i}", "customer_id": f"c{i % args.customers}", "type": "page_viewed",
                 "ts": 1_763_000_000_000 + i, "attrs": {"url": "/tail"}} for i in range(args.tail)]
        for low in range(0, len(tail), args.batch):
            engine.ingest(tail[low : low + args.batch])
        engine.close()
        del engine
        gc.collect()

        print("  restart from snapshot + tail", file=sys.stderr, flush=True)
        started = time.perf_counter()
        engine, report = DurableEngine.open_with_report(data_dir)
        restart_s = time.perf_counter() - started
        assert report.snapshot is not None
        out["restart"] = {
            "seconds": round(restart_s, 2),
            "tail_records": report.replay.records,
            "tail_replay_s": round(report.replay.seconds, 3),
            "snapshot_load_and_log_open_s": round(report.seconds - report.replay.seconds, 2),
        }
        engine.close()
    finally:
        if not args.keep and args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

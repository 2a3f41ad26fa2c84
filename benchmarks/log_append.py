"""Event-log benchmark: durable append throughput with group commit, then replay throughput.

    python -m benchmarks.log_append --records 2000000 --producers 8 --batch 1000 --sync always [--json out.json]

1. `--producers` threads append batches of `--batch` realistic event records (~200 bytes encoded)
   to a fresh FileLog; each append returns only when durable per `--sync`. Reports records/s, MB/s,
   fsyncs/s, records per fsync and append latency (p50/p99).
2. Reopen (sealed segments are checked by their seals, the active one frame by frame: docs/LOG.md)
   and replay everything with `read()` and with `read_batches()` (both check every byte they
   return): records/s.

Records come from a seeded pool (`--pool` distinct records, reused round-robin), so generating them is
not part of the measured time; encoding them is (producers encode in their own threads). Only public
entry points are used; fsyncs are counted through FileLog's `fsync` parameter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from indexes.log import FileLog

EVENT_TYPES = [
    ("product_viewed", 36), ("page_viewed", 10), ("session_started", 10), ("email_sent", 8),
    ("product_added_to_cart", 7), ("email_opened", 5), ("category_viewed", 4), ("search_performed", 3),
    ("product_added_to_wishlist", 3), ("order_created", 3),
]
DEVICES = ["mobile", "desktop", "tablet"]
TS_START_MS = 1763630000000


def make_pool(size: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    names = [name for name, _ in EVENT_TYPES]
    weights = [weight for _, weight in EVENT_TYPES]
    pool = []
    for i in range(size):
        product = rng.randrange(20_000)
        pool.append({
            "event_id": f"e-{i:012d}",
            "customer_id": f"c-{rng.randrange(1_000_000):07d}",
            "type": rng.choices(names, weights)[0],
            "ts": TS_START_MS + i * 37,
            "attrs": {
                "product_id": f"p-{product:05d}",
                "category_id": f"cat-{product % 200:03d}",
                "price": round(rng.uniform(1, 500), 2),
                "currency": "TRY",
                "device": rng.choice(DEVICES),
                "session_id": f"s-{rng.randrange(10**10):010d}",
                "page_url": f"/products/p-{product:05d}?ref=home",
            },
        })
    return pool


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class CountingFsync:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1  # only the writer thread (and open/close) fsyncs
        os.fsync(fd)


def run_appends(data_dir: Path, pool: list[dict], args: argparse.Namespace) -> dict:
    batches = [pool[i : i + args.batch] for i in range(0, len(pool) - args.batch + 1, args.batch)]
    total_batches = args.records // args.batch
    assert total_batches > 0, "--records must be at least --batch"
    fsync = CountingFsync()
    latencies_ms: list[list[float]] = [[] for _ in range(args.producers)]
    errors: list[BaseException] = []
    log = FileLog(data_dir, sync=args.sync, sync_interval_ms=args.sync_interval_ms, fsync=fsync)
    start = threading.Barrier(args.producers + 1)

    def produce(p: int) -> None:
        try:
            start.wait()
            mine = latencies_ms[p]
            for n in range(p, total_batches, args.producers):
                began = time.perf_counter()
                log.append(batches[n % len(batches)])
                mine.append((time.perf_counter() - began) * 1000)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(p,), name=f"producer-{p}") for p in range(args.producers)]
    for thread in threads:
        thread.start()
    fsyncs_before = fsync.calls
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed_s = time.perf_counter() - began
    fsyncs = fsync.calls - fsyncs_before
    log.close()
    if errors:
        raise errors[0]
    records = total_batches * args.batch
    size_bytes = sum(path.stat().st_size for path in data_dir.glob("*.seg"))
    samples = [x for mine in latencies_ms for x in mine]
    return {
        "records": records,
        "seconds": round(elapsed_s, 3),
        "records_per_s": round(records / elapsed_s),
        "mb_per_s": round(size_bytes / elapsed_s / 1e6, 1),
        "bytes_per_record": round(size_bytes / records, 1),
        "fsyncs": fsyncs,
        "fsyncs_per_s": round(fsyncs / elapsed_s),
        "records_per_fsync": round(records / fsyncs, 1) if fsyncs else None,
        "append_latency_ms_p50": round(percentile(samples, 0.5), 2),
        "append_latency_ms_p99": round(percentile(samples, 0.99), 2),
        "segments": len(list(data_dir.glob("*.seg"))),
        "log_bytes": size_bytes,
    }


def run_replay(data_dir: Path, expected: int) -> dict:
    began = time.perf_counter()
    log = FileLog(data_dir)
    open_s = time.perf_counter() - began
    try:
        assert log.end_lsn == expected, (log.end_lsn, expected)
        began = time.perf_counter()
        count = 0
        for _lsn, _record in log.read():
            count += 1
        read_s = time.perf_counter() - began
        assert count == expected
        began = time.perf_counter()
        count = 0
        for _first, records in log.read_batches(0):
            count += len(records)
        batches_s = time.perf_counter() - began
        assert count == expected
    finally:
        log.close()
    return {
        "open_scan_s": round(open_s, 2),
        "open_scan_records_per_s": round(expected / open_s),
        "read_records_per_s": round(expected / read_s),
        "read_batches_records_per_s": round(expected / batches_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="records per append call")
    parser.add_argument("--sync", choices=["always", "interval", "never"], default="always")
    parser.add_argument("--sync-interval-ms", type=int, default=50)
    parser.add_argument("--pool", type=int, default=100_000, help="distinct records, reused round-robin")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary data directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    pool = make_pool(max(args.pool, args.batch), seed=7)
    data_dir = Path(tempfile.mkdtemp(prefix="log-bench-", dir=args.dir))
    try:
        appends = run_appends(data_dir, pool, args)
        print(f"append: {appends}", file=sys.stderr)
        replay = run_replay(data_dir, appends["records"])
        print(f"replay: {replay}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    result = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
        "append": appends,
        "replay": replay,
    }
    print(
        f"durable append ({args.sync}, {args.producers} producers x {args.batch}-record batches): "
        f"{appends['records_per_s']:,} records/s, {appends['mb_per_s']} MB/s, "
        f"{appends['fsyncs_per_s']:,} fsyncs/s, {appends['records_per_fsync']} records/fsync, "
        f"append p50 {appends['append_latency_ms_p50']} ms p99 {appends['append_latency_ms_p99']} ms"
    )
    print(
        f"replay: read() {replay['read_records_per_s']:,} records/s, "
        f"read_batches() {replay['read_batches_records_per_s']:,} records/s, "
        f"open scan {replay['open_scan_s']} s ({replay['open_scan_records_per_s']:,} records/s)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

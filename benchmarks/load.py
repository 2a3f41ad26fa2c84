"""Load harness: a bounded-duration, multi-process gRPC load generator with a mixed workload.

    python -m benchmarks.load --target 127.0.0.1:50051 --seconds 30 --processes 2 --threads 4 \
        [--mode closed|open] [--rate 1000] [--mix count=0.85,members=0.05,segment=0.05,ingest=0.05] [--json out.json]

Operations: `count` (an ad-hoc Count of the next seed-suite rule), `members` (the first page of Members of
one), `segment` (SegmentCount of a saved segment the harness creates first), `ingest` (one Ingest batch of
new events of existing customers: the ingest stream runs inside the same mix). Modes:
  * closed: each thread sends its next request when the last one answered (throughput at concurrency)
  * open:   requests at a fixed total `--rate` per second, spread over processes and threads; each has an
            intended send time on a fixed schedule and its latency is measured from that time, not from
            when it was actually sent, so a stalled server shows up as latency (coordinated-omission safe)
Latencies go into HDR-style histograms (benchmarks/hdr.py) per operation, merged over processes:
p50/p90/p99/p99.9/max. Errors are reported by gRPC status, RESOURCE_EXHAUSTED (the server shedding load)
separately. Only loopback targets are accepted: this is a load generator, not a network tool.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import multiprocessing
import random
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.generator import AS_OF_MS, load_seed_suite
from benchmarks.grpc_service import SUITE
from benchmarks.hdr import Histogram
from service.client import SegmentsClient

OPERATIONS = ("count", "members", "segment", "ingest")
START_DELAY_S = 5.0  # processes import and connect before the common window opens
INGEST_RECORDS = 20
MAX_PROCESSES = 32
MAX_THREADS = 64
LOAD_SEGMENT_ID = "load-harness-orders"


def require_loopback(target: str) -> None:
    """Refuse anything that is not 127.0.0.0/8 or ::1 (names are resolved and every address checked)."""
    host = target.rsplit(":", 1)[0].strip("[]")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise SystemExit(f"load: cannot resolve {host!r}: {exc}") from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_loopback:
            raise SystemExit(f"load: refusing non-loopback target {target} ({address})")


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        assert name in OPERATIONS, f"unknown operation {name!r}"
        mix[name] = float(weight)
    assert sum(mix.values()) > 0
    return mix


def ensure_segment(client: SegmentsClient) -> str:
    existing = {s.id for s in client.list_segments(name_contains="Load harness")}
    if LOAD_SEGMENT_ID not in existing:
        client.create_segment("Load harness orders", "order_count >= 1", segment_id=LOAD_SEGMENT_ID)
    return LOAD_SEGMENT_ID


class Worker:
    """One thread's operations on its own client; results into per-operation histograms."""

    def __init__(self, target: str, rules: list[dict], seed: int, customers: int) -> None:
        self.client = SegmentsClient(target)
        self.rules = rules
        self.rng = random.Random(seed)
        self.customers = customers
        self.sequence = 0
        self.seed = seed

    def call(self, operation: str) -> None:
        rule = self.rules[self.rng.randrange(len(self.rules))]
        if operation == "count":
            self.client.count(rule, AS_OF_MS)
        elif operation == "members":
            self.client.members_page(rule, AS_OF_MS, page_size=100)
        elif operation == "segment":
            self.client.segment_count(LOAD_SEGMENT_ID)
        else:
            now_ms = int(time.time() * 1000)
            batch = []
            for _ in range(INGEST_RECORDS):
                self.sequence += 1
                batch.append({"event_id": f"load-{self.seed}-{now_ms}-{self.sequence}",
                              "customer_id": f"c{self.rng.randrange(self.customers)}",
                              "type": "page_viewed", "ts": now_ms, "attrs": {}})
            self.client.ingest(batch)


def _process(target: str, args: dict[str, Any], index: int, start_at: float, out: multiprocessing.Queue) -> None:
    rules = [rule for _, rule in load_seed_suite(SUITE, args["placeholders"])]
    mix = args["mix"]
    names, weights = list(mix), list(mix.values())
    histograms = {op: Histogram() for op in OPERATIONS}
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    threads_n, seconds = args["threads"], args["seconds"]
    # open loop: this thread's share of the rate, on a fixed schedule from start_at
    interval_s = (args["processes"] * threads_n / args["rate"]) if args["mode"] == "open" else 0.0

    def loop(thread: int) -> None:
        worker = Worker(target, rules, seed=index * 1000 + thread, customers=args["customers"])
        worker.client.health()
        mine = {op: Histogram() for op in OPERATIONS}
        my_errors: Counter[str] = Counter()
        offset = (index * threads_n + thread) * interval_s / max(1, args["processes"] * threads_n)
        intended = start_at + offset
        time.sleep(max(0.0, start_at - time.time()))
        stop_at = start_at + seconds
        while True:
            if interval_s:
                if intended >= stop_at:
                    break
                time.sleep(max(0.0, intended - time.time()))
                began = intended  # latency from the intended send time
                intended += interval_s
            else:
                began = time.time()
                if began >= stop_at:
                    break
            operation = worker.rng.choices(names, weights)[0]
            try:
                worker.call(operation)
            except Exception as exc:  # counted by status; the load goes on
                code = getattr(getattr(exc, "code", None), "name", None) or type(exc).__name__
                my_errors[f"{operation}:{code}"] += 1
                continue
            mine[operation].record(int((time.time() - began) * 1e6))
        worker.client.close()
        with lock:
            for op, h in mine.items():
                histograms[op].merge(h)
            errors.update(my_errors)

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(({op: (h.to_sparse(), h.max_us) for op, h in histograms.items()}, dict(errors)))


def run(target: str, mode: str, seconds: float, processes: int, threads: int, rate: float, mix: dict[str, float],
        customers: int, placeholders: dict[str, str]) -> dict[str, Any]:
    require_loopback(target)
    assert mode in ("closed", "open") and 0 < seconds <= 3600
    assert 1 <= processes <= MAX_PROCESSES and 1 <= threads <= MAX_THREADS
    assert mode == "closed" or rate > 0
    if mix.get("segment"):
        with SegmentsClient(target) as client:
            ensure_segment(client)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue(maxsize=processes)
    start_at = time.time() + START_DELAY_S
    shared = {"mix": mix, "threads": threads, "seconds": seconds, "processes": processes, "rate": rate,
              "mode": mode, "customers": customers, "placeholders": placeholders}
    workers = [context.Process(target=_process, args=(target, shared, i, start_at, queue)) for i in range(processes)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=START_DELAY_S + seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    merged = {op: Histogram() for op in OPERATIONS}
    errors: Counter[str] = Counter()
    for histograms, errs in results:
        for op, (sparse, max_us) in histograms.items():
            merged[op].merge(Histogram.from_sparse(sparse, max_us))
        errors.update(errs)
    everything = Histogram()
    for h in merged.values():
        everything.merge(h)
    return {
        "target": target, "mode": mode, "seconds": seconds, "processes": processes, "threads": threads,
        "rate_target": rate if mode == "open" else None, "mix": mix,
        "requests_ok": everything.total, "requests_per_s": round(everything.total / seconds, 1),
        "latency_ms": {"all": everything.summary_ms(),
                       **{op: h.summary_ms() for op, h in merged.items() if h.total}},
        "errors": dict(errors), "errors_total": sum(errors.values()),
        "resource_exhausted": sum(n for k, n in errors.items() if k.endswith("RESOURCE_EXHAUSTED")),
    }


def markdown(result: dict[str, Any]) -> str:
    rate = f", {result['rate_target']:.0f}/s offered" if result["rate_target"] else ""
    lines = [f"Load: {result['mode']} loop{rate}, {result['processes']} processes x {result['threads']} threads, "
             f"{result['seconds']} s: {result['requests_ok']:,} ok ({result['requests_per_s']}/s), "
             f"{result['errors_total']} errors, {result['resource_exhausted']} RESOURCE_EXHAUSTED",
             "", "| operation | count | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for op, s in result["latency_ms"].items():
        lines.append(f"| {op} | {s['count']:,} | {s['p50']} | {s['p90']} | {s['p99']} | {s['p99.9']} | {s['max']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="host:port, loopback only")
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop: requests/s in all")
    parser.add_argument("--mix", default="count=0.85,members=0.05,segment=0.05,ingest=0.05")
    parser.add_argument("--customers", type=int, default=100_000, help="ingest picks existing ids c0..cN-1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    placeholders = {"CATEGORY_A": "cat-3", "PRODUCT_A": "p-5", "PRODUCT_B": "p-9", "FORM_A": "form-2"}
    result = run(args.target, args.mode, args.seconds, args.processes, args.threads, args.rate,
                 parse_mix(args.mix), args.customers, placeholders)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from queue import Empty
from typing import Any

from benchmarks.generator import AS_OF_MS, load_seed_suite
from benchmarks.grpc_service import SUITE
from benchmarks.hdr import Histogram
from service.client import SegmentsClient

OPERATIONS = ("count", "members", "segment", "ingest")
START_DELAY_S = 0.5  # after every thread of every process has connected, the common window opens this much later
READY_TIMEOUT_S = 120.0
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


def _process(target: str, args: dict[str, Any], index: int, ready: Any, start: Any, out: multiprocessing.Queue) -> None:
    """`ready`: a barrier with the parent, passed once this process's threads are connected; `start`: the
    shared window start (epoch s) the parent sets then. The schedule starts only when everyone is
    connected, so start-up is not charged to the server as latency."""
    rules = [rule for _, rule in load_seed_suite(SUITE, args["placeholders"])]
    mix = args["mix"]
    names, weights = list(mix), list(mix.values())
    histograms = {op: Histogram() for op in OPERATIONS}
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    threads_n, seconds = args["threads"], args["seconds"]
    connected = threading.Barrier(threads_n + 1)
    # open loop: this thread's share of the rate, on a fixed schedule from start_at
    interval_s = (args["processes"] * threads_n / args["rate"]) if args["mode"] == "open" else 0.0

    def loop(thread: int) -> None:
        worker = Worker(target, rules, seed=index * 1000 + thread, customers=args["customers"])
        worker.client.health()
        connected.wait(timeout=READY_TIMEOUT_S)
        connected.wait(timeout=READY_TIMEOUT_S)  # the second time: the parent has set the start
        start_at = start.value
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
    connected.wait(timeout=READY_TIMEOUT_S)
    ready.wait(timeout=READY_TIMEOUT_S)  # every process connected
    ready.wait(timeout=READY_TIMEOUT_S)  # the parent has set start.value
    connected.wait(timeout=READY_TIMEOUT_S)
    for thread in threads:
        thread.join()
    out.put(({op: (h.to_sparse(), h.max_us) for op, h in histograms.items()}, dict(errors)))


def _collect(workers: list[Any], queue: multiprocessing.Queue, deadline_s: float) -> list[Any]:
    """One result per worker; a worker that died without one fails the run at once, not at the deadline."""
    results: list[Any] = []
    deadline = time.monotonic() + deadline_s
    while len(results) < len(workers):
        if time.monotonic() > deadline:
            raise SystemExit("load: workers did not report in time")
        try:
            results.append(queue.get(timeout=0.5))
        except Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"load: a worker process failed (exit codes {dead})") from None
    return results


def run(target: str, mode: str, seconds: float, processes: int, threads: int, rate: float, mix: dict[str, float],
        customers: int, placeholders: dict[str, str], start_delay_s: float = START_DELAY_S) -> dict[str, Any]:
    require_loopback(target)
    assert mode in ("closed", "open") and 0 < seconds <= 3600
    assert 1 <= processes <= MAX_PROCESSES and 1 <= threads <= MAX_THREADS
    assert mode == "closed" or rate > 0
    if mix.get("segment"):
        with SegmentsClient(target) as client:
            ensure_segment(client)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue(maxsize=processes)
    ready = context.Barrier(processes + 1)
    start = context.Value("d", 0.0)
    shared = {"mix": mix, "threads": threads, "seconds": seconds, "processes": processes, "rate": rate,
              "mode": mode, "customers": customers, "placeholders": placeholders}
    workers = [context.Process(target=_process, args=(target, shared, i, ready, start, queue)) for i in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait(timeout=READY_TIMEOUT_S)
    start.value = time.time() + start_delay_s
    ready.wait(timeout=READY_TIMEOUT_S)
    results = _collect(workers, queue, start_delay_s + seconds + READY_TIMEOUT_S)
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

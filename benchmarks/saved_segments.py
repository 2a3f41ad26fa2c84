"""Saved-segment benchmark (issue 6 targets): the real server with 100 live segments.

    python -m benchmarks.saved_segments --customers 1000000 --events 20000000 --shards 2 \
        [--segments 100] [--rate 10000] [--watch-seconds 30] [--batch-ms 50] [--count-repeats 2000]
        [--parts count,watch,day] [--json out.json]

Targets (issue 6): event ingested -> Watch notification p99 <= 100 ms at 10 k events/s; saved-segment
Count <= 1 ms above a plain gRPC round trip; the daily time boundary processed for 1 M customers <= 2 s.

Steps:
  1. `segments serve --shards N --port 0` in a subprocess on a fresh data directory; the generated shop
     (benchmarks/generator.py, seeded) through IngestStream.
  2. `--segments` saved segments, all active: the 14 templates, the seed suite's 20 rules, then
     variations of a few shapes with other thresholds and windows (all validated by the server).
  3. count: `--count-repeats` rounds of, in turn, a Health check (the plain gRPC round trip), a
     SegmentCount of the next saved segment (from its materialized bitmap), and an ad-hoc Count of the
     same rule (for scale). Reported: p50 / p99 of each and SegmentCount minus Health at p50 and p99.
  4. watch: one Watch stream on every segment. For `--watch-seconds`, an open-loop sender sends a batch
     of `rate x batch-ms` events every `--batch-ms`: events of existing customers with ts = now, plus
     one probe per batch, the first order of a new customer, which enters "One-time buyers". Batches go
     as the requests of one IngestStream (`--sender stream`, default: what a steady producer uses; the
     server merges requests that arrive while it is busy) or as one Ingest call each (`--sender unary`,
     at the scheduled time whether or not earlier ones returned, up to 32 in flight; also the ack
     latency). Latency = the probe's change arriving on the stream minus the batch's scheduled send time,
     so queueing in front of a slow server counts (no coordinated omission).
  5. day: the time boundary, in process on one engine holding every customer (the shards run the same
     code, each on its part): the same data and segments, the clock at 23:59 of a day, then
     `advance_clock` to 00:00:30 of the next (every window and relative date moves); timed, with the
     number of membership changes it made. (Through the server the shards' clocks follow the wall
     clock, so a midnight cannot be brought forward.)

Results: markdown on stdout; with --json, one object:
    {"date", "machine": {cores, memory_gib, python, load_avg_1m}, "customers", "events", "shards",
     "segments", "load": {records, seconds, records_per_s, segments_created_s},
     "count": {"health_ms": {p50, p99}, "segment_count_ms": {p50, p99}, "adhoc_count_ms": {p50, p99},
               "above_round_trip_ms": {p50, p99}, "repeats"},
     "watch": {"rate_target", "rate_achieved", "seconds", "batches", "probes", "probes_missed",
               "latency_ms": {p50, p99, max}, "ack_ms": {p50, p99} (unary) or null, "sender", "changes_received",
               "load_avg_1m"},
     "day": {"customers", "segments", "seconds", "changes", "tick_after_ms"}}
Small sizes run in about a minute: --customers 20000 --events 200000 --watch-seconds 10 --rate 2000.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from benchmarks.grpc_service import SUITE, Server, percentile
from indexes.engine import Engine
from indexes.segments.templates import TEMPLATES
from service.client import SegmentsClient

PROBE_SEGMENT = "bench-one-time"  # the copy of tpl_one_time_buyers every probe enters
MAX_SENDS_IN_FLIGHT = 32
LOAD_BATCH_RECORDS = 5_000


def segment_rules(rules: list[tuple[str, dict]], total: int) -> list[tuple[str, str, Any]]:
    """(id, name, rule or template id) for `total` segments: templates, the suite, then variations."""
    out: list[tuple[str, str, Any]] = [(PROBE_SEGMENT, "Bench one-time buyers", "tpl_one_time_buyers")]
    out += [(f"bench-{t.id}", f"Bench {t.name}", t.id) for t in TEMPLATES if t.id != "tpl_one_time_buyers"]
    out += [(f"bench-suite-{name}", f"Bench suite {name}", rule) for name, rule in rules]
    shapes = [
        lambda k: f"order_count >= {k}",
        lambda k: f"count(product_viewed, last {k} days) >= 2",
        lambda k: f"sum(order_created.amount, last 365 days) >= {k * 50}",
        lambda k: f'country = "TR" and count(session_started, last {k} days) >= 1',
        lambda k: f"count(email_opened, last {k * 3} days) = 0",
        lambda k: f"lifetime_value > {k * 100}",
    ]
    k = 1
    while len(out) < total:  # bounded: each turn adds one
        shape = shapes[(len(out)) % len(shapes)]
        out.append((f"bench-var-{len(out)}", f"Bench variation {len(out)}", shape(k)))
        k += 1 if len(out) % len(shapes) == 0 else 0
    return out[:total]


def create_segments(client: SegmentsClient, specs: list[tuple[str, str, Any]]) -> float:
    started = time.perf_counter()
    for segment_id, name, rule in specs:
        if isinstance(rule, str) and rule.startswith("tpl_"):
            client.create_from_template(rule, segment_id=segment_id, name=name)
        else:
            client.create_segment(name, rule, segment_id=segment_id)
    return time.perf_counter() - started


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(samples, 0.5), 3), "p99": round(percentile(samples, 0.99), 3)}


def measure_counts(client: SegmentsClient, specs: list[tuple[str, str, Any]], repeats: int) -> dict[str, Any]:
    rules = {s.id: s.rule for s in client.list_segments(name_contains="Bench")}
    ids = [segment_id for segment_id, _, _ in specs]
    health, segment, adhoc = [], [], []
    for i in range(repeats):
        segment_id = ids[i % len(ids)]
        t0 = time.perf_counter()
        client.health()
        t1 = time.perf_counter()
        client.segment_count(segment_id)
        t2 = time.perf_counter()
        client.count(rules[segment_id])
        t3 = time.perf_counter()
        health.append((t1 - t0) * 1000)
        segment.append((t2 - t1) * 1000)
        adhoc.append((t3 - t2) * 1000)
    out = {"health_ms": _stats(health), "segment_count_ms": _stats(segment), "adhoc_count_ms": _stats(adhoc),
           "repeats": repeats}
    out["above_round_trip_ms"] = {q: round(out["segment_count_ms"][q] - out["health_ms"][q], 3) for q in ("p50", "p99")}
    return out


def event_pool(customers: int, events: int, seed: int) -> list[dict[str, Any]]:
    """Event records of existing customers (ids and ts rewritten when sent)."""
    data = generate_columns(customers, events, seed=seed)
    pool: list[dict[str, Any]] = []
    for batch in iter_records(data, 50_000):
        pool.extend(r for r in batch if "event_id" in r)
    return pool


def measure_watch(target: str, pool: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    per_batch = max(1, int(args.rate * args.batch_ms / 1000))
    batches = int(args.watch_seconds * 1000 / args.batch_ms)
    probe_sent: dict[str, float] = {}  # probe event id -> scheduled send time (perf_counter)
    probe_seen: dict[str, float] = {}
    acks: list[float] = []
    received = [0]
    ready = threading.Event()
    done = threading.Event()
    lock = threading.Lock()

    def watch() -> None:
        with SegmentsClient(target) as client, client.watch(heartbeat_ms=1000) as stream:
            for message in stream:
                now = time.perf_counter()
                ready.set()
                received[0] += len(message.changes)
                for change in message.changes:
                    if change.segment_id == PROBE_SEGMENT and change.entered and change.event_id in probe_sent:
                        with lock:
                            probe_seen.setdefault(change.event_id, now)
                if done.is_set():
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    if not ready.wait(30):
        raise SystemExit("the Watch stream sent nothing in 30 s")
    rng = random.Random(args.seed)
    clients = [SegmentsClient(target) for _ in range(4)]

    def batch(number: int) -> list[dict[str, Any]]:
        """Built in the scheduling thread (the random source is not shared)."""
        now_ms = int(time.time() * 1000)
        records = []
        for j in range(per_batch):
            event = dict(pool[rng.randrange(len(pool))])
            event["event_id"] = f"bench-{number}-{j}"
            event["ts"] = now_ms - 1
            records.append(event)
        records.append({"event_id": f"probe-{number}", "customer_id": f"probe-customer-{number}",
                        "type": "order_created", "ts": now_ms - 1, "attrs": {"amount": "10.00"}})
        return records

    def send(number: int, scheduled: float, records: list[dict[str, Any]]) -> None:
        with lock:
            probe_sent[f"probe-{number}"] = scheduled
        clients[number % len(clients)].ingest(records)
        acks.append((time.perf_counter() - scheduled) * 1000)

    def paced() -> Iterator[list[dict[str, Any]]]:
        """One IngestStream request per batch, each at its scheduled time (later if the stream holds)."""
        for number in range(batches):
            scheduled = started + number * args.batch_ms / 1000
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            records = batch(number)
            with lock:
                probe_sent[f"probe-{number}"] = scheduled
            yield records

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    if args.sender == "stream":
        clients[0].ingest_stream(paced())
    else:
        with concurrent.futures.ThreadPoolExecutor(MAX_SENDS_IN_FLIGHT) as pool_executor:
            futures = []
            for number in range(batches):
                scheduled = started + number * args.batch_ms / 1000
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool_executor.submit(send, number, scheduled, batch(number)))
            for future in futures:
                future.result()
    sent_s = time.perf_counter() - started
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(probe_seen) < len(probe_sent):  # bounded by the deadline
        time.sleep(0.05)
    done.set()
    for client in clients:
        client.close()
    latencies = [(probe_seen[p] - probe_sent[p]) * 1000 for p in probe_sent if p in probe_seen]
    return {"rate_target": args.rate, "rate_achieved": round(batches * (per_batch + 1) / sent_s),
            "seconds": round(sent_s, 1), "batches": batches, "probes": len(probe_sent),
            "probes_missed": len(probe_sent) - len(latencies),
            "latency_ms": {**_stats(latencies), "max": round(max(latencies, default=0.0), 3)},
            "ack_ms": _stats(acks) if acks else None, "sender": args.sender, "changes_received": received[0],
            "load_avg_1m": round(max(load_before, os.getloadavg()[0]), 2)}


def measure_day_boundary(data: Any, specs: list[tuple[str, str, Any]], tz: str) -> dict[str, Any]:
    engine = Engine(tz=tz)
    calendar = engine.shard.calendar
    next_day = calendar.local_day(data.as_of_ms) + 1
    before_ms = calendar.day_start_ms(next_day) - 60_000
    after_ms = calendar.day_start_ms(next_day) + 30_000
    for batch in iter_records(data, 100_000):
        engine.ingest(batch, now_ms=before_ms)
    for segment_id, name, rule in specs:
        if isinstance(rule, str) and rule.startswith("tpl_"):
            engine.create_from_template(rule, segment_id=segment_id, name=name, now_ms=before_ms)
        else:
            engine.create_segment(name, rule, segment_id=segment_id, now_ms=before_ms)
    changes_before = engine.segments.changes.next_seq
    started = time.perf_counter()
    engine.advance_clock(after_ms)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    engine.advance_clock(after_ms + 1_000)
    tick_ms = (time.perf_counter() - started) * 1000
    return {"customers": data.customers, "segments": len(specs), "seconds": round(seconds, 3),
            "changes": engine.segments.changes.next_seq - changes_before, "tick_after_ms": round(tick_ms, 3),
            "tz": tz}


def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    started = time.perf_counter()
    data = generate_columns(args.customers, args.events, seed=args.seed)
    rules = load_seed_suite(SUITE, placeholders(data))
    specs = segment_rules(rules, args.segments)
    print(f"generated {args.customers:,} customers / {data.event_count:,} events in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "customers": args.customers, "events": data.event_count, "shards": args.shards, "segments": len(specs),
    }
    if parts & {"count", "watch"}:
        data_dir = Path(tempfile.mkdtemp(prefix="segments-saved-bench-"))
        server = Server(data_dir, args.shards)
        try:
            with SegmentsClient(server.target, timeout_s=None) as client:
                t0 = time.perf_counter()
                loaded = client.ingest_stream(iter_records(data, LOAD_BATCH_RECORDS))
                load_s = time.perf_counter() - t0
                print(f"loaded {loaded.accepted:,} records in {load_s:.1f} s", file=sys.stderr)
                created_s = create_segments(client, specs)
                print(f"created {len(specs)} segments in {created_s:.1f} s", file=sys.stderr)
                result["load"] = {"records": loaded.accepted, "seconds": round(load_s, 1),
                                  "records_per_s": round(loaded.accepted / load_s), "segments_created_s": round(created_s, 1)}
                if "count" in parts:
                    result["count"] = measure_counts(client, specs, args.count_repeats)
                    print(f"count: {result['count']}", file=sys.stderr)
            if "watch" in parts:
                pool = event_pool(args.customers, max(10_000, int(args.rate * args.watch_seconds)), args.seed + 1)
                result["watch"] = measure_watch(server.target, pool, args)
                print(f"watch: {result['watch']}", file=sys.stderr)
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
    if "day" in parts:
        result["day"] = measure_day_boundary(data, specs, args.tz)
        print(f"day: {result['day']}", file=sys.stderr)
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Saved segments: {result['customers']:,} customers / {result['events']:,} events, {result['segments']} "
             f"segments, {result['shards']} shards, {result['machine']['cores']} cores, {result['date']}", ""]
    if "count" in result:
        c = result["count"]
        lines.append(f"- Count: SegmentCount p50 {c['segment_count_ms']['p50']} / p99 {c['segment_count_ms']['p99']} ms; "
                     f"Health round trip p50 {c['health_ms']['p50']} / p99 {c['health_ms']['p99']} ms; above the round "
                     f"trip p50 {c['above_round_trip_ms']['p50']} / p99 {c['above_round_trip_ms']['p99']} ms (target "
                     f"<= 1 ms); ad-hoc Count of the same rules p50 {c['adhoc_count_ms']['p50']} ms")
    if "watch" in result:
        w = result["watch"]
        lines.append(f"- Watch: {w['rate_achieved']:,} events/s sent (target {w['rate_target']:,}), ingest -> "
                     f"notification p50 {w['latency_ms']['p50']} / p99 {w['latency_ms']['p99']} / max "
                     f"{w['latency_ms']['max']} ms (target p99 <= 100 ms), {w['probes_missed']} of {w['probes']} "
                     f"probes missed ({w['sender']} sender"
                     + (f"; Ingest ack p50 {w['ack_ms']['p50']} / p99 {w['ack_ms']['p99']} ms" if w["ack_ms"] else "")
                     + f"); load average {w['load_avg_1m']}")
    if "day" in result:
        d = result["day"]
        lines.append(f"- Day boundary: {d['customers']:,} customers x {d['segments']} segments in {d['seconds']} s "
                     f"(target <= 2 s), {d['changes']:,} membership changes; the next 1 s tick {d['tick_after_ms']} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=int, default=10_000, help="events/s sent while watching")
    parser.add_argument("--watch-seconds", type=float, default=30.0)
    parser.add_argument("--batch-ms", type=int, default=50, help="one batch every this many ms")
    parser.add_argument("--sender", choices=("stream", "unary"), default="stream",
                        help="batches as requests of one IngestStream (the server merges what arrives while it is "
                             "busy), or one Ingest call each (up to 32 in flight)")
    parser.add_argument("--count-repeats", type=int, default=2_000)
    parser.add_argument("--parts", default="count,watch,day", help="which measurements (comma-separated)")
    parser.add_argument("--tz", default="UTC", help="time zone of the day-boundary engine")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not set(args.parts.split(",")) <= {"count", "watch", "day"}:
        parser.error("--parts: count, watch, day")
    result = run(args)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

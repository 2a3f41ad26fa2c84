"""Overload: a real server offered ~10x the count rate it sustains (RELIABILITY.md, "Overload").

    python -m benchmarks.overload [--customers 5000] [--events 50000] [--shards 2] [--seconds 5]
        [--factor 10] [--json benchmarks/results/overload.json]

1. `segments serve --shards N` on a fresh data directory; the generated shop (seeded) ingested; the
   expected count of every seed-suite rule from the embedded engine (the reference answers).
2. Sustainable rate: closed loop, CLOSED_LOOP_CONCURRENCY callers for --seconds: counts/s served and
   their latency (the normal latency bound).
3. Overload: open loop at --factor x that rate for --seconds (each request has an intended send time
   and its latency is measured from it, so a stalled server shows as latency); every answer checked
   against the reference; RESOURCE_EXHAUSTED counted with its own latency; the RSS of the server and its
   shard actors sampled throughout.
4. Afterwards: the closed loop again - the server must answer normally (no errors, latency back).
Prints the figures (offered / served / rejected per second, latencies, RSS) and writes JSON.
tests/test_overload.py runs `measure` on a small shop with the assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil

from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from benchmarks.grpc_service import SUITE, Server
from benchmarks.hdr import Histogram
from indexes.engine import Engine
from proto.segments.v1 import query_pb2
from service.client import SegmentsClient, rule_pb

COUNT_METHOD = "/segments.v1.QueryService/Count"
CLOSED_LOOP_CONCURRENCY = 8
CHANNELS = 4  # HTTP/2 connections the load is spread over
CALL_TIMEOUT_S = 10.0  # a request's own deadline: an answer later than this counts as an error
MAX_OUTSTANDING = 20_000  # requests in flight at the client; more are counted as not sent (client limit)
RSS_SAMPLE_INTERVAL_S = 0.2
LOAD_BATCH_RECORDS = 20_000


@dataclass
class Phase:
    """One load phase as the client saw it."""

    name: str
    seconds: float
    offered_per_s: float  # 0 for a closed loop
    sent: int = 0
    ok: int = 0
    wrong: int = 0  # answered OK with a count different from the reference
    rejected: int = 0  # RESOURCE_EXHAUSTED
    not_sent: int = 0  # the client itself had MAX_OUTSTANDING requests out
    unanswered: int = 0  # still without an answer CALL_TIMEOUT_S + 5 s after the last send (then cancelled)
    errors: dict[str, int] = field(default_factory=dict)  # other status codes
    ok_latency_ms: dict[str, float] = field(default_factory=dict)
    rejected_latency_ms: dict[str, float] = field(default_factory=dict)
    # Open loop: how late the client itself sent requests (its own CPU share on a shared machine);
    # large values mean the latencies above include the client's lag, not only the server's.
    send_lag_ms: dict[str, float] = field(default_factory=dict)
    error_latency_ms: dict[str, float] = field(default_factory=dict)  # the other errors'
    error_details: dict[str, str] = field(default_factory=dict)  # one message per status code

    @property
    def served_per_s(self) -> float:
        return self.ok / self.seconds

    @property
    def rejected_per_s(self) -> float:
        return self.rejected / self.seconds


@dataclass(frozen=True)
class Query:
    request_bytes: bytes  # a serialized CountRequest (serialized once: the client's cost stays small)
    expected: int


class Recorder:
    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self.ok_hist = Histogram()
        self.rejected_hist = Histogram()
        self.send_lag_hist = Histogram()
        self.error_hist = Histogram()
        self.errors: Counter[str] = Counter()

    def finish(self) -> Phase:
        self.phase.ok_latency_ms = self.ok_hist.summary_ms()
        self.phase.rejected_latency_ms = self.rejected_hist.summary_ms()
        self.phase.send_lag_ms = self.send_lag_hist.summary_ms()
        self.phase.error_latency_ms = self.error_hist.summary_ms()
        self.phase.errors = dict(self.errors)
        return self.phase


async def _one(call: Any, query: Query, intended_s: float, recorder: Recorder) -> None:
    try:
        reply = await call(query.request_bytes, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        latency_us = int((time.perf_counter() - intended_s) * 1e6)
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            recorder.phase.rejected += 1
            recorder.rejected_hist.record(latency_us)
        else:
            recorder.errors[error.code().name] += 1
            recorder.error_hist.record(latency_us)
            recorder.phase.error_details.setdefault(error.code().name, str(error.details())[:200])
        return
    latency_us = int((time.perf_counter() - intended_s) * 1e6)
    recorder.phase.ok += 1
    recorder.ok_hist.record(latency_us)
    if reply.count != query.expected:
        recorder.phase.wrong += 1


def _calls(channels: list[grpc.aio.Channel]) -> list[Any]:
    return [ch.unary_unary(COUNT_METHOD, request_serializer=None,
                           response_deserializer=query_pb2.CountResponse.FromString) for ch in channels]


async def closed_loop(target: str, queries: list[Query], seconds: float, concurrency: int, name: str) -> Phase:
    recorder = Recorder(Phase(name, seconds, 0.0))
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    calls = _calls(channels)
    end_s = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        n = index
        while time.perf_counter() < end_s:  # bounded by the phase's end
            recorder.phase.sent += 1
            await _one(calls[n % len(calls)], queries[n % len(queries)], time.perf_counter(), recorder)
            n += concurrency

    try:
        await asyncio.gather(*(caller(i) for i in range(concurrency)))
    finally:
        for channel in channels:
            await channel.close()
    return recorder.finish()


async def open_loop(target: str, queries: list[Query], seconds: float, rate_per_s: float, name: str) -> Phase:
    """Requests on a fixed schedule (rate_per_s), not waiting for answers; latency from the schedule."""
    recorder = Recorder(Phase(name, seconds, rate_per_s))
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    calls = _calls(channels)
    total = int(seconds * rate_per_s)
    pending: set[asyncio.Task[None]] = set()
    start_s = time.perf_counter() + 0.05
    try:
        for n in range(total):
            intended_s = start_s + n / rate_per_s
            delay_s = intended_s - time.perf_counter()
            if delay_s > 0.001:
                await asyncio.sleep(delay_s)  # requests due meanwhile go out together after it
            if len(pending) >= MAX_OUTSTANDING:
                recorder.phase.not_sent += 1
                continue
            recorder.phase.sent += 1
            now_s = time.perf_counter()
            recorder.send_lag_hist.record(max(0, int((now_s - intended_s) * 1e6)))
            intended_s = min(intended_s, now_s)  # sent up to a millisecond early: measured from the send
            task = asyncio.get_running_loop().create_task(_one(calls[n % len(calls)], queries[n % len(queries)],
                                                               intended_s, recorder))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(set(pending), timeout=CALL_TIMEOUT_S + 5)
        recorder.phase.unanswered = len(pending)
    finally:
        for channel in channels:
            await channel.close()
    return recorder.finish()


class RssSampler:
    """Peak RSS of a process and its children (the server, its shard actors, Ray's helpers)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now_bytes(self) -> int:
        total = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue  # gone meanwhile
        return total

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_INTERVAL_S):  # until stopped
            self.peak_bytes = max(self.peak_bytes, self.now_bytes())

    def __enter__(self) -> RssSampler:
        self.peak_bytes = self.now_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def prepare_queries(target: str, customers: int, events: int, seed: int = 11) -> list[Query]:
    """Ingest the generated shop; each seed-suite rule with its reference count (embedded engine)."""
    data = generate_columns(customers, events, seed=seed)
    engine = Engine()
    with SegmentsClient(target, timeout_s=None) as client:
        for batch in iter_records(data, LOAD_BATCH_RECORDS):
            engine.ingest(batch)
            client.ingest(batch)
    rules = load_seed_suite(SUITE, placeholders(data))
    return [Query(query_pb2.CountRequest(rule=rule_pb(rule), as_of_ms=data.as_of_ms).SerializeToString(),
                  engine.count(rule, data.as_of_ms)) for _, rule in rules]


def measure(target: str, server_pid: int, queries: list[Query], seconds: float, factor: float) -> dict[str, Any]:
    sampler = RssSampler(server_pid)
    before_bytes = sampler.now_bytes()
    sustained = asyncio.run(closed_loop(target, queries, seconds, CLOSED_LOOP_CONCURRENCY, "sustainable"))
    rate = factor * sustained.served_per_s
    with sampler:
        overload = asyncio.run(open_loop(target, queries, seconds, rate, f"{factor:g}x"))
    after = asyncio.run(closed_loop(target, queries, seconds / 2, CLOSED_LOOP_CONCURRENCY, "after"))
    return {"sustainable": _dump(sustained), "overload": _dump(overload), "after": _dump(after),
            "rss": {"before_mib": round(before_bytes / 2**20, 1), "peak_mib": round(sampler.peak_bytes / 2**20, 1),
                    "after_mib": round(sampler.now_bytes() / 2**20, 1)}}


def _dump(phase: Phase) -> dict[str, Any]:
    out = asdict(phase)
    out["served_per_s"] = round(phase.served_per_s, 1)
    out["rejected_per_s"] = round(phase.rejected_per_s, 1)
    return out


def report(result: dict[str, Any]) -> str:
    lines = []
    for key in ("sustainable", "overload", "after"):
        p = result[key]
        offered = f"offered {p['offered_per_s']:.0f}/s" if p["offered_per_s"] else "closed loop"
        lines.append(
            f"{p['name']:>11}: {offered}, served {p['served_per_s']:.0f}/s, rejected {p['rejected_per_s']:.0f}/s, "
            f"wrong {p['wrong']}, other errors {p['errors'] or 0} (p50 {p['error_latency_ms']['p50']} ms, p99 "
            f"{p['error_latency_ms']['p99']} ms), not sent {p['not_sent']}, unanswered {p['unanswered']}; ok latency ms "
            f"p50 {p['ok_latency_ms']['p50']} p99 {p['ok_latency_ms']['p99']} max {p['ok_latency_ms']['max']}; "
            f"rejected latency ms p50 {p['rejected_latency_ms']['p50']} p99 {p['rejected_latency_ms']['p99']}"
            + (f"; client send lag ms p50 {p['send_lag_ms']['p50']} p99 {p['send_lag_ms']['p99']}"
               if p["offered_per_s"] else ""))
    rss = result["rss"]
    lines.append(f"        RSS (server + shard actors + Ray): before {rss['before_mib']} MiB, peak during overload "
                 f"{rss['peak_mib']} MiB, after {rss['after_mib']} MiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overload", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--factor", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not (args.seconds > 0 and args.factor >= 1 and args.customers > 0 and args.events > 0):
        parser.error("--seconds > 0, --factor >= 1, --customers and --events > 0")
    data_dir = Path(tempfile.mkdtemp(prefix="segments-overload-"))
    server = Server(data_dir / "data", args.shards)
    try:
        queries = prepare_queries(server.target, args.customers, args.events)
        result = measure(server.target, server.process.pid, queries, args.seconds, args.factor)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    result.update(customers=args.customers, events=args.events, shards=args.shards, factor=args.factor,
                  date=time.strftime("%Y-%m-%d %H:%M"))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

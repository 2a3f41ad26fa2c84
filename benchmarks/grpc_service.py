"""Service benchmark: the real server (Ray shards behind gRPC) on generated data, side by side with DuckDB.

    python -m benchmarks.grpc_service --customers 1000000 --events 20000000 --shards 2 \
        [--streams 8] [--batch 2000] [--repeats 30] [--clients 16] [--load-seconds 20] [--json out.json]
        [--count-cache N] [--data-dir DIR [--skip-ingest]]

Steps, in one run on the same generated records (benchmarks/generator.py, seeded):
  1. start `segments serve --shards N --port 0` in a subprocess on a fresh data directory
  2. streaming ingest: the records are encoded to IngestRequest bytes `--chunk` at a time outside the
     timed section (the client's protobuf encoding is not the server's cost), then sent on `--streams`
     concurrent IngestStream calls; each stream's summary arrives once all its batches are durable.
     Reported: events/s durable, from the first byte sent to the last summary.
  3. the seed suite through `SegmentsClient.count`, `--repeats` times each (p50/p99 per query), and the
     same rules on in-process DuckDB over the same data; counts must be identical or the run fails
  4. `--clients` closed-loop clients in `--client-processes` processes cycle through the seed suite for
     `--load-seconds`, all in the same window (they start together once every process is up): counts/s
     and latency percentiles under load
For the ingest and load phases, the CPU time each part used (the server process: gRPC and the router;
the shard actors; Ray's own processes; the benchmark's clients, which share the machine) is reported
per record / per count, with the machine's load average: on a shared machine it says how much of the
cores the service had. Prints markdown and writes JSON. Only public entry points: the CLI, the gRPC API
and the client.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil

from benchmarks.duckdb_runner import DuckDbRunner
from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from proto.segments.v1 import ingest_pb2
from service.client import CHANNEL_OPTIONS, SegmentsClient
from service.convert_records import records_to_pb

SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "seed_suite.json"
SERVER_START_TIMEOUT_S = 300.0
LOAD_START_DELAY_S = 8.0  # client processes start (imports, connections) before the common window opens
INGEST_STREAM_METHOD = "/segments.v1.IngestService/IngestStream"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class CpuMeter:
    """CPU seconds used by the server's processes, by part, between `start` and `stop`."""

    def __init__(self, server_pid: int) -> None:
        self._root = psutil.Process(server_pid)
        self._start: dict[int, tuple[str, float]] = {}

    def _sample(self) -> dict[int, tuple[str, float]]:
        out = {}
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                part = "server" if process.pid == self._root.pid else (
                    "shards" if "ShardActor" in " ".join(process.cmdline()) else "ray")
                out[process.pid] = (part, _cpu_s(process))
            except psutil.Error:
                continue  # gone meanwhile
        return out

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        parts = {"server": 0.0, "shards": 0.0, "ray": 0.0}
        for pid, (part, cpu_s) in self._sample().items():
            parts[part] += cpu_s - self._start.get(pid, (part, 0.0))[1]
        return parts


class Server:
    """`segments serve` in a subprocess; `target` once it printed its `listening on` line."""

    def __init__(self, data_dir: Path, shards: int, count_cache: int = 0) -> None:
        command = [sys.executable, "-m", "service.cli", "serve", "--data-dir", str(data_dir),
                   "--port", "0", "--shards", str(shards), "--count-cache", str(count_cache)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.target = self._wait_listening()

    def _wait_listening(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit(f"server exited with {self.process.wait()} before listening")
            if line.startswith("listening on "):
                return line.split()[-1]
        raise SystemExit("server did not start listening in time")

    def rss_bytes(self) -> int:
        """The server process and its children (the shard actors, Ray's own processes)."""
        root = psutil.Process(self.process.pid)
        processes = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in processes if p.is_running())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def encoded_chunks(data: object, batch: int, chunk_records: int) -> Iterator[list[bytes]]:
    """Serialized IngestRequests of `batch` records, `chunk_records` records' worth at a time."""
    chunk: list[bytes] = []
    in_chunk = 0
    for records in iter_records(data, batch):  # type: ignore[arg-type]
        chunk.append(ingest_pb2.IngestRequest(records=records_to_pb(records)).SerializeToString())
        in_chunk += len(records)
        if in_chunk >= chunk_records:
            yield chunk
            chunk, in_chunk = [], 0
    if chunk:
        yield chunk


def _send_stream(send: grpc.StreamUnaryMultiCallable, part: list[bytes],
                 replies: list[ingest_pb2.IngestStreamResponse], failures: list[BaseException]) -> None:
    try:
        replies.append(send(iter(part), timeout=3600))
    except BaseException as exc:  # reported by the caller; a failed stream fails the benchmark
        failures.append(exc)


def stream_ingest(target: str, data: object, args: argparse.Namespace, meter: CpuMeter) -> dict:
    channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    send = channel.stream_unary(INGEST_STREAM_METHOD, request_serializer=lambda raw: raw,
                                response_deserializer=ingest_pb2.IngestStreamResponse.FromString)
    timed_s = 0.0
    accepted = duplicates = batches = 0
    encode_s = client_cpu_s = 0.0
    cpu = {"server": 0.0, "shards": 0.0, "ray": 0.0}
    loads: list[float] = []
    started_encoding = time.perf_counter()
    for chunk in encoded_chunks(data, args.batch, args.chunk):
        encode_s += time.perf_counter() - started_encoding
        parts = [chunk[i :: args.streams] for i in range(args.streams)]
        replies: list[ingest_pb2.IngestStreamResponse] = []
        failures: list[BaseException] = []

        threads = [threading.Thread(target=_send_stream, args=(send, part, replies, failures)) for part in parts if part]
        meter.start()
        client_before_s = _cpu_s(psutil.Process())
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        timed_s += time.perf_counter() - started
        client_cpu_s += _cpu_s(psutil.Process()) - client_before_s
        for part, used_s in meter.stop().items():
            cpu[part] += used_s
        loads.append(os.getloadavg()[0])
        if failures:
            raise SystemExit(f"ingest stream failed: {failures[0]!r}")
        for reply in replies:
            accepted += reply.accepted
            duplicates += reply.duplicates
            batches += reply.batches
            assert reply.rejected == 0, reply.errors
        print(f"  ingested {accepted:,} records, {accepted / timed_s:,.0f}/s", file=sys.stderr)
        started_encoding = time.perf_counter()
    channel.close()
    records = max(accepted + duplicates, 1)
    cpu_us = {part: round(used_s * 1e6 / records, 1) for part, used_s in cpu.items()}
    cpu_us["client"] = round(client_cpu_s * 1e6 / records, 1)
    return {"records": accepted, "duplicates": duplicates, "batches": batches, "seconds": round(timed_s, 2),
            "records_per_s": round(accepted / timed_s), "client_encode_s": round(encode_s, 1),
            "cpu_us_per_record": cpu_us, "load_avg_1m_max": round(max(loads, default=0.0), 2)}


def reused_data(target: str, data: object) -> dict:
    """--skip-ingest: the data directory must hold exactly the generated data (a previous run's)."""
    with SegmentsClient(target) as client:
        stats = client.stats()
    expected = data.event_count  # type: ignore[attr-defined]
    if stats.events != expected:
        raise SystemExit(f"--skip-ingest: the data directory holds {stats.events:,} events, not {expected:,}")
    return {"skipped": True, "records": 0, "duplicates": 0, "batches": 0, "seconds": 0.0, "records_per_s": 0,
            "cpu_us_per_record": {}, "load_avg_1m_max": 0.0}


def _load_worker(target: str, rules: list[dict], as_of_ms: int, threads: int, start_at: float, seconds: float,
                 out: multiprocessing.Queue) -> None:
    """Clients in one process; they count from `start_at` (wall clock, the same for every process) for
    `seconds`, so that every process measures the same window."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)
    stop_at = time.monotonic() + max(0.0, start_at - time.time()) + seconds

    def loop(offset: int) -> None:
        mine: list[float] = []
        with SegmentsClient(target) as client:
            client.health()  # connected before the window opens
            ready.wait()
            time.sleep(max(0.0, start_at - time.time()))
            turn = offset
            while time.monotonic() < stop_at:
                rule = rules[turn % len(rules)]
                turn += 1
                started = time.perf_counter()
                try:
                    client.count(rule, as_of_ms)
                except Exception as exc:  # counted and reported, the load goes on
                    with lock:
                        errors.append(repr(exc)[:200])
                    continue
                mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=loop, args=(i * 7,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before_s = _cpu_s(psutil.Process())
    for worker in workers:
        worker.join()
    out.put((latencies, errors, _cpu_s(psutil.Process()) - cpu_before_s))


def concurrent_counts(target: str, rules: list[dict], as_of_ms: int, args: argparse.Namespace,
                      meter: CpuMeter) -> dict:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    per_process = [args.clients // args.client_processes + (1 if i < args.clients % args.client_processes else 0)
                   for i in range(args.client_processes)]
    start_at = time.time() + LOAD_START_DELAY_S  # every process is up and connected by then
    processes = [context.Process(target=_load_worker,
                                 args=(target, rules, as_of_ms, n, start_at, args.load_seconds, queue))
                 for n in per_process if n]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    meter.start()
    results = [queue.get(timeout=LOAD_START_DELAY_S + args.load_seconds + 120) for _ in processes]
    server_cpu = meter.stop()
    load_avg = os.getloadavg()[0]
    for process in processes:
        process.join()
    latencies = [ms for lat, _, _ in results for ms in lat]
    errors = [e for _, errs, _ in results for e in errs]
    counts = max(len(latencies), 1)
    cpu_ms = {part: round(used_s * 1000 / counts, 3) for part, used_s in server_cpu.items()}
    cpu_ms["clients"] = round(sum(c for _, _, c in results) * 1000 / counts, 3)
    return {"clients": args.clients, "processes": len(processes), "seconds": args.load_seconds,
            "counts": len(latencies), "counts_per_s": round(len(latencies) / args.load_seconds),
            "p50_ms": round(percentile(latencies, 0.5), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
            "errors": len(errors), "first_errors": errors[:3], "cpu_ms_per_count": cpu_ms,
            "load_avg_1m": round(load_avg, 2)}


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    data = generate_columns(args.customers, args.events, seed=args.seed)
    print(f"generated {args.customers:,} customers / {data.event_count:,} events in "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="segments-grpc-bench-"))
    server = Server(data_dir, args.shards, args.count_cache)
    try:
        print(f"server on {server.target}, {args.shards} shards, data in {data_dir}", file=sys.stderr)
        meter = CpuMeter(server.process.pid)
        if args.skip_ingest:
            ingest = reused_data(server.target, data)
        else:
            ingest = stream_ingest(server.target, data, args, meter)
            # A snapshot per shard, so that a later --skip-ingest run on this directory starts quickly.
            with SegmentsClient(server.target) as client:
                client.snapshot()
        ingest["server_rss_bytes"] = server.rss_bytes()
        duck = DuckDbRunner(data)
        compiler = Engine(tz="UTC")  # compiles the rules for DuckDB's SQL translator only
        suite = load_seed_suite(SUITE, placeholders(data))
        rows = []
        with SegmentsClient(server.target) as client:
            for query_id, rule in suite:
                count = client.count(rule, data.as_of_ms).count
                timings = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    client.count(rule, data.as_of_ms)
                    timings.append((time.perf_counter() - t0) * 1000)
                plan = compiler.compile(rule)
                duck_count = duck.count(plan, data.as_of_ms)
                duck_timings = []
                for _ in range(args.duckdb_repeats):
                    t0 = time.perf_counter()
                    duck.count(plan, data.as_of_ms)
                    duck_timings.append((time.perf_counter() - t0) * 1000)
                if duck_count != count:
                    raise SystemExit(f"count mismatch on {query_id}: service {count}, duckdb {duck_count}")
                row = {"id": query_id, "count": count,
                       "grpc_p50_ms": round(percentile(timings, 0.5), 2),
                       "grpc_p99_ms": round(percentile(timings, 0.99), 2),
                       "duckdb_p50_ms": round(percentile(duck_timings, 0.5), 2)}
                row["speedup"] = round(row["duckdb_p50_ms"] / max(row["grpc_p50_ms"], 1e-3), 1)
                rows.append(row)
                print(f"{query_id:26s} {count:9d} grpc p50 {row['grpc_p50_ms']:7.2f} p99 {row['grpc_p99_ms']:7.2f} ms"
                      f"  duckdb {row['duckdb_p50_ms']:8.1f} ms", file=sys.stderr)
        del duck
        load = concurrent_counts(server.target, [rule for _, rule in suite], data.as_of_ms, args, meter)
        print(f"load: {load}", file=sys.stderr)
    finally:
        server.stop()
        if not args.data_dir and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    grpc_p50s = [r["grpc_p50_ms"] for r in rows]
    duck_p50s = [r["duckdb_p50_ms"] for r in rows]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "customers": args.customers, "events": data.event_count, "shards": args.shards,
        "count_cache_entries": args.count_cache,
        "ingest": ingest, "queries": rows,
        "suite_median_grpc_ms": round(statistics.median(grpc_p50s), 2),
        "suite_worst_p50_ms": max(grpc_p50s), "suite_worst_p99_ms": max(r["grpc_p99_ms"] for r in rows),
        "suite_median_duckdb_ms": round(statistics.median(duck_p50s), 2),
        "median_speedup": round(statistics.median(duck_p50s) / max(statistics.median(grpc_p50s), 1e-3), 1),
        "load": load,
    }


def _parts(cpu: dict[str, float]) -> str:
    return ", ".join(f"{part} {used}" for part, used in cpu.items())


def markdown(result: dict) -> str:
    ingest, load = result["ingest"], result["load"]
    streaming = (
        "Streaming ingest: skipped (--skip-ingest: queries on a directory a previous run filled)."
        if ingest.get("skipped") else
        f"Streaming ingest: {ingest['records']:,} records in {ingest['seconds']} s = {ingest['records_per_s']:,} "
        f"records/s durable ({ingest['batches']} batches on parallel streams); server RSS "
        f"{ingest['server_rss_bytes'] / 2**30:.2f} GiB. CPU per ingested record (us): "
        f"{_parts(ingest['cpu_us_per_record'])}; load average up to {ingest['load_avg_1m_max']}."
    )
    lines = [
        f"Service over gRPC: {result['customers']:,} customers / {result['events']:,} events, "
        f"{result['shards']} shards, {result['machine']['cores']} cores, {result['date']}"
        + (f", count cache {result['count_cache_entries']:,} entries per shard" if result["count_cache_entries"] else
           ", no count cache"),
        "",
        "| query | members | gRPC p50 ms | gRPC p99 ms | DuckDB p50 ms | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["queries"]:
        lines.append(f"| {r['id']} | {r['count']:,} | {r['grpc_p50_ms']} | {r['grpc_p99_ms']} | "
                     f"{r['duckdb_p50_ms']} | {r['speedup']}x |")
    lines += [
        "",
        f"Suite median over gRPC {result['suite_median_grpc_ms']} ms (worst p50 {result['suite_worst_p50_ms']} ms, "
        f"worst p99 {result['suite_worst_p99_ms']} ms), DuckDB {result['suite_median_duckdb_ms']} ms "
        f"({result['median_speedup']}x).",
        streaming,
        f"Load: {load['clients']} clients, {load['counts_per_s']:,} counts/s, p50 {load['p50_ms']} ms, "
        f"p99 {load['p99_ms']} ms, {load['errors']} errors.",
        f"CPU per count under load (ms): {_parts(load['cpu_ms_per_count'])}; load average {load['load_avg_1m']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--streams", type=int, default=8, help="concurrent IngestStream calls")
    parser.add_argument("--batch", type=int, default=2000, help="records per IngestRequest")
    parser.add_argument("--chunk", type=int, default=2_000_000, help="records encoded ahead of each timed send")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--duckdb-repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--data-dir", help="use (and keep) this data directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--count-cache", type=int, default=0, metavar="N",
                        help="start the server with an exact count cache of N entries per shard (default off): "
                             "the suite repeats each rule at one as_of_ms, so with it most counts are lookups")
    parser.add_argument("--skip-ingest", action="store_true",
                        help="query a --data-dir a previous run with the same sizes and seed filled (no ingest)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.skip_ingest and not args.data_dir:
        parser.error("--skip-ingest needs --data-dir (a directory a previous run filled)")
    result = run(args)
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

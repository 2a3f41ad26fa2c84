"""Where a shard's ingest CPU goes, without Ray or gRPC: the service's wire path on one ShardService.

    python -m benchmarks.shard_ingest_profile --customers 200000 --events 2000000 [--shards 2 --shard 0]
        [--batch 2000] [--merge 1] [--commit-threads 0] [--sync always] [--warmup N] [--limit N]
        [--path wire|dicts] [--cprofile out.prof] [--json out.json]

1. Records from benchmarks/generator.py are encoded into IngestRequest bytes, `--batch` records each,
   outside the timed part (the client's work).
2. Each request is handled as the server and the router handle it (`server` sections): parsed from its
   bytes, turned into the wire batch the router ships, routed by customer over `--shards` shards, and
   the sub-batch of `--shard` framed for the channel (pickle). `--merge` requests go as one backend
   batch, as IngestStream merges them when the service is busy.
3. The shard side (`shard` sections) runs on a ShardService over a fresh shard directory: the channel's
   unpickle, `prepare_wire`, the reply frame, `commit`, its reply frame. With `--commit-threads 0`
   commits run in the preparing thread (one batch at a time); with N > 0 they run on N threads while the
   next batch is prepared, as the shard's channel server runs them (shared fsyncs).

`--path dicts` measures DurableEngine.ingest of the same records as RECORDS.md dicts in one engine
instead (every record, the path benchmarks/durable_ingest.py times: issue 4), one batch at a time.

CPU is measured per section with thread CPU clocks (time.thread_time), by wrapping the functions each
step calls; a section nested in another is reported inside it (indented), and the log writer thread's
CPU is the process CPU no timed thread accounts for. Figures are per record of the shard's sub-batches.
`--cprofile FILE` also writes a cProfile (thread CPU clock) of the shard side of the preparing thread.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actors import shard_service as shard_service_module
from actors.channel_protocol import PICKLE_PROTOCOL, reply_frame, request_frame
from actors.placement import route_wire
from actors.shard_service import ShardService
from benchmarks.generator import generate_columns, iter_records
from indexes.durable import DurableEngine
from proto.segments.v1 import ingest_pb2
from service.convert_records import records_from_pb, records_to_pb
from service.wire_requests import receive, wire_batch

SHARD_DIR = "shard-0000"


class Sections:
    """Thread-CPU seconds per named section, nesting-aware (a section's time includes its children's)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._stack = threading.local()

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        stack: list[str] = self._stack.__dict__.setdefault("names", [])
        path = "/".join([*stack, name])
        stack.append(name)
        started = time.thread_time()
        try:
            yield
        finally:
            used = time.thread_time() - started
            stack.pop()
            with self._lock:
                self.seconds[path] += used
                self.calls[path] += 1

    def timed_function(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        sections = self

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            with sections.timed(name):
                return function(*args, **kwargs)

        return timed_call

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Time every call of owner.attribute (a module function or a class's method) as `name`."""
        setattr(owner, attribute, self.timed_function(getattr(owner, attribute), name))


def instrument(sections: Sections) -> None:
    """Section timers around the steps of prepare_wire and commit (module attributes as the callers
    look them up, so that the callers' own code is unchanged). Steps a version of the code does not
    have are skipped, so that the same harness measures an older checkout (A/B)."""
    from indexes.durable import engine as durable_engine
    from indexes.durable import inflight, ordered_apply
    from indexes.log import file_log
    from indexes.segments import batch as segment_batch
    from indexes.shard import shard as shard_module

    steps = [
        (shard_service_module, "records_from_wire", "decode"),  # the dict path: protobuf -> dicts
        (shard_service_module, "validate_wire", "validate"),  # one pass: protobuf -> validated records
        (durable_engine, "validate_batch", "validate"),  # dicts -> validated records
        (durable_engine.DurableEngine, "prepare", "engine_prepare"),
        (inflight.InFlight, "deduplicate", "dedupe"),
        (durable_engine, "customers_needed", "capacity"),
        (inflight.InFlight, "add", "reserve"),
        (durable_engine, "encode_batch", "log_encode"),
        (file_log, "frame_records", "log_frame"),
        (file_log.GroupCommit, "submit", "log_wait"),
        (ordered_apply.Engine, "apply_committed", "apply"),
        (segment_batch, "run_of_records", "columns"),
        (shard_module.Shard, "_apply_run", "shard_run"),
        (shard_module.Shard, "_check_capacity", "shard_capacity"),
    ]
    defaults = durable_engine.DurableEngine.prepare.__kwdefaults__ or {}
    if "validate" in defaults:  # the dict path's reader, bound as a default argument
        defaults["validate"] = sections.timed_function(defaults["validate"], "validate")
    for owner, attribute, name in steps:
        if hasattr(owner, attribute):
            sections.wrap(owner, attribute, name)


def encoded_requests(data: Any, batch: int) -> list[bytes]:
    return [ingest_pb2.IngestRequest(records=records_to_pb(records)).SerializeToString()
            for records in iter_records(data, batch)]


def server_side(sections: Sections, requests: list[bytes], shards: int, shard: int) -> tuple[bytes, int] | None:
    """The channel frame the router sends the shard for these requests, and how many records it holds
    (None: no record for the shard)."""
    with sections.timed("server"):
        with sections.timed("parse_request"):
            received = [receive(raw) for raw in requests]
        with sections.timed("wire_batch"):
            batch = wire_batch(received)
        with sections.timed("route"):
            routed = route_wire(batch, shards)
        if not routed.indexes[shard]:
            return None
        with sections.timed("request_frame"):
            return request_frame(1, "prepare_wire", (routed.raws[shard], False)), len(routed.indexes[shard])


def shard_prepare(sections: Sections, service: ShardService, frame: bytes) -> Any:
    with sections.timed("shard"):
        with sections.timed("channel_in"):
            items, partial = pickle.loads(frame[frame.index(b"prepare_wire") + len(b"prepare_wire"):])
        with sections.timed("prepare_wire"):
            reply = service.prepare_wire(items, partial)
        with sections.timed("channel_out"):
            reply_frame(1, True, reply)
    assert not reply.refused, reply.errors[:3]
    return reply


def shard_commit(sections: Sections, service: ShardService, token: str) -> None:
    with sections.timed("shard"):
        with sections.timed("channel_in"):
            pickle.loads(pickle.dumps((token, None), protocol=PICKLE_PROTOCOL))
        with sections.timed("commit"):
            result = service.commit(token, None)
        with sections.timed("channel_out"):
            reply_frame(2, True, result)


def cached_requests(args: argparse.Namespace) -> list[bytes]:
    """The encoded requests, kept in the temp directory between runs (encoding 2 M records takes a
    minute; it is the client's work, not measured)."""
    cache = Path(tempfile.gettempdir()) / f"shard-ingest-{args.customers}-{args.events}-{args.seed}-{args.batch}.pickle"
    if cache.exists():
        requests: list[bytes] = pickle.loads(cache.read_bytes())
        return requests
    requests = encoded_requests(generate_columns(args.customers, args.events, seed=args.seed), args.batch)
    cache.write_bytes(pickle.dumps(requests, protocol=PICKLE_PROTOCOL))
    return requests


def open_service(root: Path, sync: str) -> ShardService:
    DurableEngine.open(root / SHARD_DIR, sync=sync).close()
    service = ShardService(0, str(root), SHARD_DIR, sync=sync)
    deadline = time.monotonic() + 60
    while service.state()[0] != "SERVING":
        assert time.monotonic() < deadline, service.state()
        time.sleep(0.01)
    return service


class Phase:
    """Ingest requests through the server and shard steps; `run` returns the shard records ingested."""

    def __init__(self, args: argparse.Namespace, service: ShardService, sections: Sections,
                 profiler: cProfile.Profile | None) -> None:
        self.args = args
        self.service = service
        self.sections = sections
        self.profiler = profiler

    def run(self, requests: list[bytes]) -> int:
        args, sections, service, profiler = self.args, self.sections, self.service, self.profiler
        pool = ThreadPoolExecutor(args.commit_threads) if args.commit_threads else None
        in_flight: list[Future[None]] = []
        records = 0
        try:
            for low in range(0, len(requests), args.merge):
                sent = server_side(sections, requests[low : low + args.merge], args.shards, args.shard)
                if sent is None:
                    continue
                frame, count = sent
                if profiler is not None:
                    profiler.enable()
                reply = shard_prepare(sections, service, frame)
                records += count
                if reply.token is not None:
                    if pool is None:
                        shard_commit(sections, service, reply.token)
                    else:
                        in_flight.append(pool.submit(shard_commit, sections, service, reply.token))
                if profiler is not None:
                    profiler.disable()
                # Bounded: as many commits in flight as threads (the router's streams keep ~2 each).
                while len(in_flight) > max(1, args.commit_threads):
                    in_flight.pop(0).result()
            for future in in_flight:
                future.result()
        finally:
            if pool is not None:
                pool.shutdown()
        return records


class DictPhase:
    """`--path dicts`: DurableEngine.ingest of RECORDS.md dicts in one engine, every record of the data
    (what benchmarks/durable_ingest.py measures, issue 4), one batch at a time."""

    def __init__(self, engine: DurableEngine, sections: Sections, profiler: cProfile.Profile | None) -> None:
        self.engine = engine
        self.sections = sections
        self.profiler = profiler

    def run(self, requests: list[bytes]) -> int:
        records = 0
        for raw in requests:
            batch = records_from_pb(ingest_pb2.IngestRequest.FromString(raw).records).raws  # the client's dicts
            if self.profiler is not None:
                self.profiler.enable()
            with self.sections.timed("engine"), self.sections.timed("ingest"):
                result = self.engine.ingest(batch)
            if self.profiler is not None:
                self.profiler.disable()
            records += result.accepted + result.duplicates
        return records


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    requests = cached_requests(args)
    warmup = requests[: args.warmup // args.batch]
    timed = requests[len(warmup):]
    if args.limit:
        timed = timed[: max(1, args.limit // args.batch)]
    print(f"{len(requests)} requests ready in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    root = Path(args.data_dir or tempfile.mkdtemp(prefix="shard-ingest-profile-"))
    service = open_service(root, args.sync) if args.path == "wire" else None
    engine = DurableEngine.open(root / SHARD_DIR, sync=args.sync) if service is None else None
    sections = Sections()
    profiler = cProfile.Profile(time.thread_time) if args.cprofile else None

    def phase(measured: Sections, profiled: cProfile.Profile | None) -> Phase | DictPhase:
        if service is not None:
            return Phase(args, service, measured, profiled)
        assert engine is not None
        return DictPhase(engine, measured, profiled)

    try:
        if warmup:
            phase(Sections(), None).run(warmup)  # fills the shard; not measured
        instrument(sections)
        process_before_s = time.process_time()
        wall_started = time.perf_counter()
        records = phase(sections, profiler).run(timed)
        wall_s = time.perf_counter() - wall_started
        process_s = time.process_time() - process_before_s
    finally:
        if service is not None:
            service.close()
        if engine is not None:
            engine.close()
        if not args.data_dir:
            shutil.rmtree(root, ignore_errors=True)
    if profiler is not None:
        profiler.dump_stats(args.cprofile)
        pstats.Stats(args.cprofile, stream=sys.stderr).sort_stats("tottime").print_stats(45)
    return {"records": records, "requests": len(timed), "wall_s": wall_s, "process_cpu_s": process_s,
            "sections": dict(sections.seconds), "calls": dict(sections.calls), "load_1m": os.getloadavg()[0]}


def report(result: dict[str, Any], write: Callable[[str], object] = print) -> None:
    records = max(1, result["records"])
    sections: dict[str, float] = result["sections"]
    timed_s = sections.get("server", 0.0) + sections.get("shard", 0.0) + sections.get("engine", 0.0)
    write(f"{result['records']:,} shard records from {result['requests']:,} requests; wall {result['wall_s']:.2f} s "
          f"({result['records'] / result['wall_s']:,.0f} records/s); load {result['load_1m']:.2f}")
    write(f"process CPU {result['process_cpu_s'] * 1e6 / records:.2f} us/record; timed sections "
          f"{timed_s * 1e6 / records:.2f}; untimed (log writer thread, GC, harness) "
          f"{(result['process_cpu_s'] - timed_s) * 1e6 / records:.2f}")
    for path in sorted(sections, key=lambda p: (p.split("/")[0], p)):
        depth = path.count("/")
        name = path.rsplit("/", 1)[-1]
        children = sum(s for p, s in sections.items() if p.startswith(path + "/") and p.count("/") == depth + 1)
        own = sections[path] - children
        extra = f"  (own {own * 1e6 / records:.2f})" if children else ""
        write(f"{'  ' * depth}{name:<{24 - 2 * depth}} {sections[path] * 1e6 / records:7.2f} us/record{extra}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", default="wire", choices=["wire", "dicts"],
                        help="wire: the service's path on one shard; dicts: DurableEngine.ingest of every record")
    parser.add_argument("--shards", type=int, default=2, help="shards the router routes over")
    parser.add_argument("--shard", type=int, default=0, help="the shard whose records are ingested here")
    parser.add_argument("--batch", type=int, default=2000, help="records per IngestRequest")
    parser.add_argument("--merge", type=int, default=1, help="requests per backend batch")
    parser.add_argument("--commit-threads", type=int, default=0)
    parser.add_argument("--sync", default="always", choices=["always", "interval", "never"])
    parser.add_argument("--warmup", type=int, default=0, help="ingest the first N records unmeasured")
    parser.add_argument("--limit", type=int, default=0, help="measure at most N records after the warm-up")
    parser.add_argument("--data-dir", help="keep the shard directory here")
    parser.add_argument("--cprofile", help="write a cProfile of the shard side here")
    parser.add_argument("--json", help="also write the figures (us per record by section) here")
    args = parser.parse_args(argv)
    assert 0 <= args.shard < args.shards
    result = run(args)
    report(result)
    if args.json:
        records = max(1, result["records"])
        figures = {path: round(seconds * 1e6 / records, 3) for path, seconds in result["sections"].items()}
        figures["process_cpu"] = round(result["process_cpu_s"] * 1e6 / records, 3)
        Path(args.json).write_text(json.dumps({"us_per_record": figures, "records": result["records"],
                                               "wall_s": result["wall_s"], "load_1m": result["load_1m"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Crash soak of the service: a real server under mixed load, killed with SIGKILL again and again.

    python -m benchmarks.crash_soak_service --cycles 200 [--shards 2] [--seed 1] [--snapshot-every N]
        [--json out.json]

One `segments serve --shards N` on a fixed port and data directory. Mixed load throughout, each part
on its own client and thread:

* ingest: PRODUCERS threads; batch n holds one page_viewed event per customer c-0..c-(CUSTOMERS-1),
  event ids `b{n}-{i}`, an order_created for one customer, and a profile write (language `l{n}` of
  customer c-(n % CUSTOMERS), ts n: last writer wins). A batch is retried until acknowledged, as a
  client does on UNAVAILABLE, RESOURCE_EXHAUSTED or a lost connection (ingest is idempotent by
  event_id), across kills and restarts; acknowledged batches are recorded, and added to the reference
  (the embedded engine, indexes.engine.Engine) once each.
* queries: Count and a Members page of the check rules, errors tolerated while the server is down;
* a Watch on a saved segment, reconnecting by itself (service/client_segments.py).

Each cycle: load for a random 0.5-2 s, then alternately (a) SIGKILL of the server process (its Ray
processes die with it: fate-sharing; stragglers are killed) and a restart on the same data directory,
or (b) SIGKILL of one shard actor's process (Ray restarts the actor, which recovers from snapshot +
log). Then: wait for health SERVING, let the producers finish the batches they hold, pause them, and
check:

* exactly once, per customer: every customer has exactly one page_viewed per acknowledged batch
  (`count(page_viewed) >= A` holds for all, `>= A+1` for none: a lost event or a duplicate shows) and
  the shards' event total is the reference's;
* answers equal the reference over the acknowledged records, for every CHECK_RULES rule (counts and
  the members of one).

tests/test_service_crash.py runs two cycles (one of each kind). Prints a line per cycle and the totals.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil

from indexes.engine import Engine
from service.client import SegmentsClient
from service.client_types import SegmentsError

CUSTOMERS = 10
PRODUCERS = 2
FAR_MS = 10**13
BASE_MS = 1_763_000_000_000
CHECK_RULES = [
    "count(page_viewed) >= 1",
    "count(order_created) >= 3",
    'language = "l7" or count(order_created) >= 10',
    "sum(order_created.amount) >= 40",
]
WATCHED_RULE = "count(order_created) >= 2"
START_TIMEOUT_S = 180.0  # Ray start + recovery on a busy 2-core machine
SERVING_TIMEOUT_S = 120.0  # a restarted shard actor back in service
SETTLE_TIMEOUT_S = 120.0  # producers finishing the batches they hold
STOP_TIMEOUT_S = 30.0
# Ray's own processes fate-share with the serve process; worker processes (the shard actors) notice the
# raylet's death a little later. Whatever is left after this is killed too (it is all the server).
STRAGGLER_GRACE_S = 3.0
SHARD_DOWN_NOTICE_S = 1.0  # the router notices a dead shard's channel at once; health polls every 0.5 s
RETRY_DELAY_S = 0.05
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}


def batch_records(n: int) -> list[dict]:
    records: list[dict] = [
        {"event_id": f"b{n}-{i}", "customer_id": f"c-{i}", "type": "page_viewed", "ts": BASE_MS + n * 1000 + i}
        for i in range(CUSTOMERS)
    ]
    records.append({"event_id": f"o{n}", "customer_id": f"c-{(n * 7) % CUSTOMERS}", "type": "order_created",
                    "ts": BASE_MS + n * 1000, "attrs": {"amount": f"{(n % 9) + 1}.25"}})
    records.append({"customer_id": f"c-{n % CUSTOMERS}", "ts": BASE_MS + n, "properties": {"language": f"l{n % 13}"}})
    return records


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`segments serve` on a fixed port (clients reconnect to it after a restart)."""

    def __init__(self, data_dir: Path, port: int, shards: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.shards = shards
        self.target = f"127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None
        self.log_path = data_dir.parent / "server.log"
        data_dir.parent.mkdir(parents=True, exist_ok=True)

    def start(self) -> float:
        """Start and wait for the `listening on` line; seconds it took."""
        started = time.monotonic()
        command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--shards", str(self.shards)]
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                            cwd=Path(__file__).resolve().parents[1],
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not lines or not lines[0].startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"server did not start in {START_TIMEOUT_S} s (first line {lines[:1]}); "
                               f"log {self.log_path}")
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=lambda out=self.process.stdout: [None for _ in out], daemon=True).start()
        return time.monotonic() - started

    def descendants(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def shard_pids(self) -> list[int]:
        pids = []
        for child in self.descendants():
            with contextlib.suppress(psutil.Error):
                if "ShardActor" in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return pids

    def kill_server(self) -> None:
        """SIGKILL the serve process; its Ray processes die with it (stragglers are killed too)."""
        assert self.process is not None
        children = self.descendants()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT_S)
        self.process = None
        _, alive = psutil.wait_procs(children, timeout=STRAGGLER_GRACE_S)
        for straggler in alive:
            with contextlib.suppress(psutil.Error):
                straggler.kill()
        psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.kill_server()
        self.process = None


@dataclass
class Totals:
    cycles: int = 0
    server_kills: int = 0
    shard_kills: int = 0
    batches_acknowledged: int = 0
    ingest_retries: int = 0
    queries_ok: int = 0
    queries_failed: int = 0
    watch_messages: int = 0
    snapshots: int = 0
    restart_s: list[float] = field(default_factory=list)
    recovery_s: list[float] = field(default_factory=list)


class Load:
    """The mixed load's threads and their shared bookkeeping."""

    def __init__(self, target: str, seed: int, totals: Totals) -> None:
        self.target = target
        self.totals = totals
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.next_batch = 0
        self.acknowledged: set[int] = set()
        self.reference = Engine()
        self.running = threading.Event()  # producers and queries work while set
        self.stopping = threading.Event()
        self.holding = 0  # batches taken by producers and not yet acknowledged
        self.failures: list[str] = []
        self.threads: list[threading.Thread] = []
        self.watch: Any = None

    def start(self, segment_id: str) -> None:
        self.running.set()
        self.threads = [threading.Thread(target=self._produce, daemon=True) for _ in range(PRODUCERS)]
        self.threads.append(threading.Thread(target=self._query, daemon=True))
        self.threads.append(threading.Thread(target=self._watch, args=(segment_id,), daemon=True))
        for thread in self.threads:
            thread.start()

    def _produce(self) -> None:
        with SegmentsClient(self.target, timeout_s=30, ingest_timeout_s=30) as client:
            while not self.stopping.is_set():  # until the soak ends
                if not self.running.wait(0.1):
                    continue
                with self.lock:
                    if not self.running.is_set():  # paused between the wait and here: take nothing
                        continue
                    n = self.next_batch
                    self.next_batch += 1
                    self.holding += 1
                records = batch_records(n)
                while not self.stopping.is_set():  # until acknowledged: the client's retry loop
                    try:
                        result = client.ingest(records)
                    except SegmentsError as exc:
                        if exc.code not in RETRYABLE:
                            self.failures.append(f"batch {n}: {exc}")
                            return
                        with self.lock:
                            self.totals.ingest_retries += 1
                        time.sleep(RETRY_DELAY_S)
                        continue
                    if result.rejected:
                        self.failures.append(f"batch {n}: {result.rejected} rejected: {result.errors[:3]}")
                        return
                    with self.lock:
                        self.acknowledged.add(n)
                        self.reference.ingest(records)
                        self.totals.batches_acknowledged += 1
                    break
                with self.lock:
                    self.holding -= 1

    def _query(self) -> None:
        with SegmentsClient(self.target, timeout_s=10) as client:
            turn = 0
            while not self.stopping.is_set():  # until the soak ends
                if not self.running.wait(0.1):
                    continue
                turn += 1
                rule = CHECK_RULES[turn % len(CHECK_RULES)]
                try:
                    client.count(rule, FAR_MS)
                    client.members_page(rule, FAR_MS, page_size=5)
                    self.totals.queries_ok += 1
                except SegmentsError:
                    self.totals.queries_failed += 1
                    time.sleep(RETRY_DELAY_S)

    def _watch(self, segment_id: str) -> None:
        with SegmentsClient(self.target) as client:
            while not self.stopping.is_set():  # a stream ended by too many failures is opened again
                self.watch = client.watch([segment_id], heartbeat_ms=500)
                try:
                    for _ in self.watch:
                        self.totals.watch_messages += 1
                        if self.stopping.is_set():
                            break
                except SegmentsError:
                    time.sleep(0.5)
                finally:
                    self.watch.close()

    def pause_and_settle(self) -> None:
        """Stop taking new batches; wait until every batch taken is acknowledged."""
        with self.lock:  # a producer takes a batch under the lock, after checking `running`
            self.running.clear()
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:  # bounded by the deadline
            with self.lock:
                if self.holding == 0:
                    return
            if self.failures:
                raise AssertionError(f"load failed: {self.failures[:3]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.holding} batches not acknowledged within {SETTLE_TIMEOUT_S} s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.running.set()
        if self.watch is not None:
            self.watch.close()
        for thread in self.threads:
            thread.join(60)


def wait_serving(target: str, timeout_s: float = SERVING_TIMEOUT_S) -> float:
    started = time.monotonic()
    with SegmentsClient(target, timeout_s=2) as client:
        while time.monotonic() - started < timeout_s:  # bounded by the timeout
            with contextlib.suppress(SegmentsError, grpc.RpcError):
                if client.health() == "SERVING":
                    return time.monotonic() - started
            time.sleep(0.1)
    raise AssertionError(f"server not SERVING within {timeout_s} s")


def check(target: str, load: Load) -> dict[str, Any]:
    """Every acknowledged event present exactly once; answers equal the reference's."""
    with load.lock:
        acknowledged = len(load.acknowledged)
        assert acknowledged == load.next_batch, "a batch taken was never acknowledged"
        expected = {rule: load.reference.count(rule, FAR_MS) for rule in CHECK_RULES}
        expected_members = sorted(load.reference.members(CHECK_RULES[1], FAR_MS))
        expected_events = acknowledged * (CUSTOMERS + 1)  # a batch: one event per customer + one order
    with SegmentsClient(target, timeout_s=30) as client:
        assert client.count(f"count(page_viewed) >= {acknowledged}", FAR_MS).count == (CUSTOMERS if acknowledged else 0)
        assert client.count(f"count(page_viewed) >= {acknowledged + 1}", FAR_MS).count == 0, "a duplicated event"
        events = sum(s.events for s in client.stats().shards)
        assert events == expected_events, f"{events} events stored, {expected_events} acknowledged"
        for rule, count in expected.items():
            got = client.count(rule, FAR_MS).count
            assert got == count, f"{rule}: {got} != reference {count}"
        assert sorted(client.members(CHECK_RULES[1], FAR_MS)) == expected_members
    return {"batches": acknowledged, "events": events}


def check_when_serving(target: str, load: Load, attempts: int = 5) -> dict[str, Any]:
    """`check`, after the server is SERVING; a shard going down meanwhile (UNAVAILABLE) is waited for."""
    for attempt in range(attempts):
        wait_serving(target)
        try:
            return check(target, load)
        except SegmentsError as exc:
            if exc.code != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def soak(data_dir: Path, cycles: int, shards: int, seed: int, report: Any = print,
         snapshot_every: int = 0) -> Totals:
    totals = Totals()
    rng = random.Random(seed)
    server = Server(data_dir, free_port(), shards)
    totals.restart_s.append(server.start())
    load = Load(server.target, seed, totals)
    try:
        with SegmentsClient(server.target) as client:
            segment = client.create_segment("soak-watched", WATCHED_RULE, segment_id="soak-watched")
        load.start(segment.id)
        for cycle in range(cycles):
            time.sleep(rng.uniform(0.5, 2.0))
            if snapshot_every and cycle % snapshot_every == snapshot_every - 1:
                # As an operator's schedule would: recovery then replays only the tail (under load, mid-ingest).
                with SegmentsClient(server.target, timeout_s=120) as client:
                    client.snapshot()
                totals.snapshots += 1
            kind = "server" if cycle % 2 == 0 else "shard"
            killed_at = time.monotonic()
            if kind == "server":
                server.kill_server()
                totals.server_kills += 1
                totals.restart_s.append(server.start())
            else:
                pids = server.shard_pids()
                assert len(pids) == shards, f"expected {shards} shard processes, found {pids}"
                os.kill(rng.choice(pids), signal.SIGKILL)
                totals.shard_kills += 1
                time.sleep(SHARD_DOWN_NOTICE_S)  # do not read a SERVING from before the kill
            serving_s = wait_serving(server.target)
            totals.recovery_s.append(time.monotonic() - killed_at)
            settle_started = time.monotonic()
            load.pause_and_settle()
            settle_s = time.monotonic() - settle_started
            checked = check_when_serving(server.target, load)
            totals.cycles += 1
            report(f"cycle {cycle + 1}/{cycles}: killed {kind}; {checked['batches']} batches acknowledged, "
                   f"{checked['events']} events, each exactly once; answers equal the reference; "
                   f"{totals.ingest_retries} retries so far, {totals.watch_messages} watch messages; "
                   f"back in {totals.recovery_s[-1]:.1f} s (health wait {serving_s:.1f} s), settled in {settle_s:.1f} s")
            load.running.set()
    finally:
        load.stop()
        server.stop()
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crash_soak_service",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshot-every", type=int, default=0, metavar="N",
                        help="take a snapshot (admin Snapshot) every N cycles; 0: never (recovery replays the whole log)")
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary directory")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.shards < 1 or args.snapshot_every < 0:
        parser.error("--cycles and --shards must be >= 1, --snapshot-every >= 0")
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="segments-crash-soak-"))
    started = time.monotonic()
    totals = soak(root / "data", args.cycles, args.shards, args.seed, lambda line: print(line, flush=True),
                  args.snapshot_every)
    elapsed_s = time.monotonic() - started
    summary = asdict(totals)
    summary.update(seconds=round(elapsed_s, 1), data_dir=str(root),
                   restart_s_max=round(max(totals.restart_s), 1), recovery_s_max=round(max(totals.recovery_s), 2))
    del summary["restart_s"], summary["recovery_s"]
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

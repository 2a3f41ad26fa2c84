"""Overload (RELIABILITY.md, "Overload").

1. Admission control (service/admission.py) in front of a backend slower than the offered load (every
   count takes 50 ms, as a busy shard would): a burst of 10x what the running slots hold gets
   RESOURCE_EXHAUSTED within a few ms for the excess, exact answers for the admitted, and the server
   answers normally right after.
2. gRPC's core bound on calls it holds before the server's loop takes them in (--max-pending-calls): with
   the loop stalled (a handler that blocks it), a burst far past the bound is refused at once by the core
   (CANCELLED) instead of waiting for its deadline, and the calls taken in are answered exactly.
3. The real server (2 Ray shards): its sustainable count rate measured, then ~10x offered open loop
   (benchmarks/overload.py): every answer that comes back is exact, the RSS of the server and its shard
   actors stays bounded, and afterwards it answers normally again. (Where the excess is refused on this
   2-core machine, and where it queues, is measured there and written down in RELIABILITY.md.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from actors.api import CountOutcome, Rule
from benchmarks.overload import measure, prepare_queries
from proto.segments.v1 import query_pb2, query_pb2_grpc
from service.admission import AdmissionInterceptor
from service.client import SegmentsClient, rule_pb
from service.limits import ADMISSION_QUERY_MAX_RUNNING, ADMISSION_QUERY_MAX_WAIT_MS
from service.server import ServerOptions
from tests.service_backend import DurableBackend
from tests.service_inprocess import InProcessServer
from tests.service_process import ServerProcess

pytestmark = pytest.mark.timeout(180)

SLOW_COUNT_S = 0.2
BURST = 10 * ADMISSION_QUERY_MAX_RUNNING
FAR_MS = 10**13
# Queued instead of refused, the last of the burst would wait ~10 rounds of SLOW_COUNT_S (2 s). The
# bound leaves room for this machine's load (client and server share 2 cores with other work): the
# refusal itself takes well under a millisecond of the server's time.
REFUSAL_P99_LIMIT_MS = 500
LOOP_BLOCK_S = 0.02
PENDING_BOUND = 4
PENDING_BURST = 300


class SlowBackend(DurableBackend):
    """Counts take SLOW_COUNT_S: the backend, not the gRPC layer, is what runs out."""

    async def count(self, rule: Rule, as_of_ms: int | None) -> CountOutcome:
        await asyncio.sleep(SLOW_COUNT_S)
        return await super().count(rule, as_of_ms)


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[tuple[InProcessServer, AdmissionInterceptor]]:
    admission = AdmissionInterceptor.default()
    # gRPC's own bound on calls not yet taken in is set far above the burst: this test is the gate's.
    options = ServerOptions(interceptors=(admission,), max_pending_calls=4 * BURST)
    server = InProcessServer(SlowBackend(tmp_path), options)
    yield server, admission
    server.stop()


async def _burst(target: str, size: int) -> list[tuple[str, float, int]]:
    """`size` Counts at once; (status, latency ms, count) each."""
    request = query_pb2.CountRequest(rule=rule_pb("order_count >= 1"), as_of_ms=FAR_MS)

    async with grpc.aio.insecure_channel(target) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        await stub.Count(request, timeout=10)  # connected before the burst

        async def one() -> tuple[str, float, int]:
            started = time.perf_counter()
            try:
                reply = await stub.Count(request, timeout=10)
                return "OK", (time.perf_counter() - started) * 1000, reply.count
            except grpc.aio.AioRpcError as error:
                return error.code().name, (time.perf_counter() - started) * 1000, -1

        return list(await asyncio.gather(*(one() for _ in range(size))))


def test_admission_refuses_the_excess_quickly_and_serves_the_rest(
        slow_server: tuple[InProcessServer, AdmissionInterceptor]) -> None:
    server, admission = slow_server
    with SegmentsClient(server.target) as client:
        client.ingest([{"event_id": f"o-{i}", "customer_id": f"c-{i}", "type": "order_created", "ts": 1000,
                        "attrs": {"amount": "5"}} for i in range(7)])
    results = asyncio.run(_burst(server.target, BURST))
    ok = [r for r in results if r[0] == "OK"]
    refused = sorted(r[1] for r in results if r[0] == "RESOURCE_EXHAUSTED")
    assert len(ok) + len(refused) == BURST, {r[0] for r in results}
    assert all(count == 7 for _, _, count in ok), "admitted calls answer exactly"
    assert len(ok) >= ADMISSION_QUERY_MAX_RUNNING, "the running slots are used"
    assert len(refused) >= BURST // 2, "the excess is refused, not queued"
    p99_ms = refused[int(0.99 * (len(refused) - 1))]
    print(f"burst of {BURST}: {len(ok)} served, {len(refused)} RESOURCE_EXHAUSTED, refusal p50 "
          f"{refused[len(refused) // 2]:.1f} ms p99 {p99_ms:.1f} ms (wait limit {ADMISSION_QUERY_MAX_WAIT_MS} ms)")
    assert p99_ms < REFUSAL_P99_LIMIT_MS, f"refusals took {p99_ms:.0f} ms at p99"
    gate = admission.gates["query"]
    assert (gate.running, gate.waiting) == (0, 0), "every slot and wait given back"
    assert gate.rejected == len(refused) and gate.admitted == len(ok) + 1  # + the connecting call
    after = asyncio.run(_burst(server.target, ADMISSION_QUERY_MAX_RUNNING // 2))
    assert all(status == "OK" and count == 7 for status, _, count in after)


def test_calls_past_the_concurrency_bound_get_resource_exhausted_before_any_handler(tmp_path: Path) -> None:
    admission = AdmissionInterceptor.default()
    server = InProcessServer(SlowBackend(tmp_path), ServerOptions(interceptors=(admission,), max_concurrent_calls=8))
    try:
        with SegmentsClient(server.target) as client:
            client.ingest([{"event_id": f"o-{i}", "customer_id": f"c-{i}", "type": "order_created", "ts": 1000,
                            "attrs": {"amount": "5"}} for i in range(7)])
        results = asyncio.run(_burst(server.target, 64))
        ok = [r for r in results if r[0] == "OK"]
        refused = sorted(r[1] for r in results if r[0] == "RESOURCE_EXHAUSTED")
        assert len(ok) + len(refused) == 64 and all(count == 7 for _, _, count in ok)
        assert len(ok) <= 8 + 1 and len(refused) >= 64 - 9, "past 8 calls at once, refused"
        assert admission.gates["query"].rejected == 0, "refused by grpc.aio before the gate saw them"
        assert refused[len(refused) // 2] < SLOW_COUNT_S * 1000, "refused at once, not after a slot"
    finally:
        server.stop()


class LoopBlockingBackend(DurableBackend):
    """Counts hold the event loop for LOOP_BLOCK_S (CPU-bound work would): new calls stay in gRPC's core."""

    async def count(self, rule: Rule, as_of_ms: int | None) -> CountOutcome:
        time.sleep(LOOP_BLOCK_S)
        return await super().count(rule, as_of_ms)


def test_calls_past_the_pending_bound_are_refused_at_once_by_grpc(tmp_path: Path) -> None:
    admission = AdmissionInterceptor.default()
    server = InProcessServer(LoopBlockingBackend(tmp_path),
                             ServerOptions(interceptors=(admission,), max_pending_calls=PENDING_BOUND))
    try:
        with SegmentsClient(server.target) as client:
            client.ingest([{"event_id": f"o-{i}", "customer_id": f"c-{i}", "type": "order_created", "ts": 1000,
                            "attrs": {"amount": "5"}} for i in range(7)])
        started = time.perf_counter()
        results = asyncio.run(_burst(server.target, PENDING_BURST))
        burst_s = time.perf_counter() - started
        by_status: dict[str, list[float]] = {}
        for status, latency_ms, count in results:
            by_status.setdefault(status, []).append(latency_ms)
            assert status != "OK" or count == 7, "calls taken in answer exactly"
        refused = sorted(by_status.get("CANCELLED", []))
        print(f"burst of {PENDING_BURST}, bound {PENDING_BOUND}: " + ", ".join(
            f"{status} {len(ms)} (p50 {sorted(ms)[len(ms) // 2]:.0f} ms)" for status, ms in by_status.items())
            + f"; {burst_s:.2f} s in all")
        assert set(by_status) <= {"OK", "CANCELLED", "RESOURCE_EXHAUSTED"}, set(by_status)
        assert len(refused) >= PENDING_BURST // 2, "the excess is refused by the core, not held"
        # Held instead, the last call would wait ~PENDING_BURST x LOOP_BLOCK_S (6 s).
        assert burst_s < PENDING_BURST * LOOP_BLOCK_S / 2, f"the burst took {burst_s:.1f} s"
        with SegmentsClient(server.target) as client:
            assert client.count("order_count >= 1", FAR_MS).count == 7  # serving normally afterwards
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("overload") / "data", "--shards", "2")
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


def test_ten_times_the_sustainable_rate_keeps_answers_exact_and_memory_bounded(server: ServerProcess) -> None:
    assert server.process is not None
    queries = prepare_queries(server.target, customers=2_000, events=20_000)
    result = measure(server.target, server.process.pid, queries, seconds=2.0, factor=10.0)
    sustained, overload, after, rss = result["sustainable"], result["overload"], result["after"], result["rss"]
    print({k: (v if k == "rss" else {f: v[f] for f in ("served_per_s", "rejected_per_s", "errors", "ok_latency_ms",
                                                        "rejected_latency_ms")}) for k, v in result.items()})
    assert sustained["ok"] > 0 and sustained["wrong"] == 0 and not sustained["errors"]
    assert overload["wrong"] == 0, "every answer under overload is exact"
    assert overload["ok"] > 0
    assert rss["peak_mib"] - rss["before_mib"] < 300, f"memory grew under overload: {rss}"
    # Afterwards: as before the overload.
    assert after["wrong"] == 0 and not after["errors"] and after["rejected"] == 0
    assert after["ok_latency_ms"]["p99"] < max(250.0, 5 * sustained["ok_latency_ms"]["p99"]), after

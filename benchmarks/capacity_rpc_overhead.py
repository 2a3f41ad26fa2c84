"""What the metrics interceptor (service/metrics_interceptor.py) adds to each RPC of the router.

    python -m benchmarks.capacity_rpc_overhead [--calls 3000] [--rounds 5]

Two measurements, in this process on loopback:
* the interceptor's own work per call (counter, histogram, in-flight gauge, log-level check), in CPU
  seconds of this process over many calls: the CPU it adds to the router's per-count budget (docs/CAPACITY.md);
* Health/Check round trips against a grpc.aio server with and without the interceptor, alternating
  rounds (the machine's load moves both alike): the end-to-end difference, noisier.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from service.metrics import ServiceMetrics
from service.metrics_interceptor import MetricsInterceptor

MAX_CALLS = 1_000_000


class _Context:
    """What _finish reads from a servicer context."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.OK

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def finish_cost_us(calls: int) -> float:
    interceptor = MetricsInterceptor(ServiceMetrics())
    metrics = interceptor._metrics  # noqa: SLF001 - the benchmark times the private step on purpose
    context: Any = _Context()
    started = time.process_time()  # CPU of this process: what the router pays, less moved by other load
    for _ in range(calls):
        metrics.rpcs_in_flight.inc()
        interceptor._finish("/segments.v1.QueryService/Count", context, time.perf_counter_ns(), None)  # noqa: SLF001
    return (time.process_time() - started) / calls * 1e6


async def _round(calls: int, intercepted: bool) -> float:
    interceptors = (MetricsInterceptor(ServiceMetrics()),) if intercepted else ()
    server = grpc.aio.server(interceptors=interceptors)
    servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            await stub.Check(request)
            started = time.perf_counter()
            for _ in range(calls):
                await stub.Check(request)
            return (time.perf_counter() - started) / calls * 1e6
    finally:
        await server.stop(None)


async def round_trips_us(calls: int, rounds: int) -> dict[str, float]:
    plain, metered = [], []
    for _ in range(rounds):
        plain.append(await _round(calls, False))
        metered.append(await _round(calls, True))
    return {"plain_us": round(statistics.median(plain), 1), "metered_us": round(statistics.median(metered), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()
    if not 1 <= args.calls <= MAX_CALLS or not 1 <= args.rounds <= 100:
        raise SystemExit(f"--calls must be 1..{MAX_CALLS} and --rounds 1..100")
    finish_us = finish_cost_us(args.calls * 10)
    trips = asyncio.run(round_trips_us(args.calls, args.rounds))
    print(f"interceptor bookkeeping: {finish_us:.1f} us per RPC")
    print(f"Health round trip, median of {args.rounds} rounds x {args.calls}: {trips['plain_us']} us plain, "
          f"{trips['metered_us']} us with the interceptor ({trips['metered_us'] - trips['plain_us']:+.1f} us)")


if __name__ == "__main__":
    main()

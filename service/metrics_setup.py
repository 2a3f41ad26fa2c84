"""What `segments serve` adds for operations: the metrics registry, the RPC interceptor, the /metrics endpoint.

    observability = ServerObservability(metrics_host, metrics_port)   # endpoint bound now: fails fast
    serve(..., interceptors=observability.interceptors)                # every RPC counted and logged
    backend = observability.wrap(backend)                              # ingest outcomes counted
    await observability.attach(backend, "default")                     # shard gauges, on the server's loop
    observability.close()                                              # after the server has stopped

The interceptor and the counters are always on (a few microseconds per RPC, and they feed the RPC log);
the HTTP endpoint only with `--metrics-port`.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from actors.api import SegmentsBackend
from service.metrics import MetricsEndpoint, ServiceMetrics
from service.metrics_backend import MeteredBackend, ShardStatsCollector
from service.metrics_interceptor import MetricsInterceptor

log = logging.getLogger("segments.metrics")
DEFAULT_WORKSPACE = "default"  # the data directory itself (docs/SECURITY.md)


class ServerObservability:
    def __init__(self, metrics_host: str, metrics_port: int | None) -> None:
        self.metrics = ServiceMetrics()
        self.interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (MetricsInterceptor(self.metrics),)
        self.endpoint: MetricsEndpoint | None = None
        if metrics_port is not None:
            self.endpoint = MetricsEndpoint(self.metrics.registry, metrics_host, metrics_port)
            log.info("metrics on %s", self.endpoint.url, extra={"metrics_url": self.endpoint.url})
        self._collector: ShardStatsCollector | None = None

    def wrap(self, backend: SegmentsBackend) -> SegmentsBackend:
        return MeteredBackend(backend, self.metrics)  # type: ignore[return-value] - delegates the rest

    async def attach(self, backend: SegmentsBackend, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Serve the shard gauges of `backend` (a workspace's), whose coroutines run on the current loop."""
        if self._collector is None:
            self._collector = ShardStatsCollector(asyncio.get_running_loop()).register(self.metrics.registry)
        self._collector.add(workspace, backend)

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None

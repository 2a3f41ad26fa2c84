"""The server's Prometheus metrics and the HTTP endpoint that serves them (`segments serve --metrics-port N`).

One registry per server (not prometheus_client's global one, so tests and embedding applications can run
several). What fills it:

* service/metrics_interceptor.py: every RPC, by method and status code, with a latency histogram;
* service/metrics_backend.py: ingested records by outcome (counted as each batch returns) and, on
  scrape, the shards' statistics (customers, events, RSS, log size, log lag, snapshot age, up/down);
* prometheus_client's process collector: the server process's own CPU, RSS and open files.

deploy/README.md ("Metrics") lists every series with its meaning and the alerts worth having.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

log = logging.getLogger("segments.metrics")

# From a cached count (~0.3 ms) to a long export; Prometheus interpolates inside a bucket.
RPC_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INGEST_OUTCOMES = ("accepted", "duplicate", "rejected")


@dataclass
class ServiceMetrics:
    """The registry and the series the server updates as it works (the shard gauges are a collector)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.rpcs = Counter("segments_rpcs", "RPCs finished, by full method name and gRPC status code",
                            ("method", "code"), registry=self.registry)
        self.rpc_duration = Histogram("segments_rpc_duration_seconds",
                                      "RPC duration from the handler's start to its status, by method",
                                      ("method",), buckets=RPC_LATENCY_BUCKETS_S, registry=self.registry)
        self.rpcs_in_flight = Gauge("segments_rpcs_in_flight", "RPCs being handled now", registry=self.registry)
        self.ingest_records = Counter("segments_ingest_records",
                                      "Ingested records by outcome (accepted: durable and applied)",
                                      ("outcome",), registry=self.registry)
        self.ingest_batches = Counter("segments_ingest_batches", "Ingest batches handed to the shards",
                                      registry=self.registry)
        for outcome in INGEST_OUTCOMES:
            self.ingest_records.labels(outcome)  # present at 0 from the start: rate() needs a first sample
        ProcessCollector(registry=self.registry)


class MetricsEndpoint:
    """prometheus_client's HTTP server in a daemon thread: GET /metrics (any path) on host:port."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"metrics_port must be 0..65535 (got {port})")
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

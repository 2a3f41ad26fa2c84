"""The backend's side of the metrics: ingested records as batches return, shard statistics on scrape.

`MeteredBackend` wraps the backend the server runs and counts each ingest batch's outcome when the
batch returns (so a long IngestStream shows its rate while it runs, not one step at its end); every
other call passes straight through.

`ShardStatsCollector` asks every workspace's backend for `stats()` when Prometheus scrapes, at most once per
STATS_MIN_REFRESH_INTERVAL_S (several scrapers, or a scraper retrying, cost one call per shard per
interval), waits at most STATS_TIMEOUT_S for it on the server's event loop, and otherwise serves the
last figures with `segments_shard_stats_age_seconds` saying how old they are. The scrape runs in the
HTTP server's thread; the stats call runs on the event loop, where the backend lives.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.api import ClusterStats, IngestOutcome, SegmentsBackend, WireBatch
from service.metrics import ServiceMetrics

log = logging.getLogger("segments.metrics")

STATS_MIN_REFRESH_INTERVAL_S = 1.0
STATS_TIMEOUT_S = 5.0
SERVING = "SERVING"


class MeteredBackend:
    """`backend` with its ingests counted in `metrics`; attribute access is delegated unchanged."""

    def __init__(self, backend: SegmentsBackend, metrics: ServiceMetrics) -> None:
        self._backend = backend
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def _count(self, outcome: IngestOutcome) -> IngestOutcome:
        self._metrics.ingest_batches.inc()
        self._metrics.ingest_records.labels("accepted").inc(outcome.accepted)
        self._metrics.ingest_records.labels("duplicate").inc(outcome.duplicates)
        self._metrics.ingest_records.labels("rejected").inc(outcome.rejected)
        return outcome

    async def ingest(self, raws: list[dict[str, Any]], *, partial: bool, timeout_ms: int | None) -> IngestOutcome:
        return self._count(await self._backend.ingest(raws, partial=partial, timeout_ms=timeout_ms))

    async def ingest_wire(self, batch: WireBatch, *, partial: bool, timeout_ms: int | None,
                          after: asyncio.Future[Any] | None = None) -> IngestOutcome:
        return self._count(await self._backend.ingest_wire(batch, partial=partial, timeout_ms=timeout_ms, after=after))


def _shard_gauges() -> dict[str, GaugeMetricFamily]:
    def gauge(name: str, documentation: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, documentation, labels=("workspace", "shard"))

    return {
        "up": gauge("segments_shard_up", "1 when the shard is SERVING, 0 while it recovers or has failed"),
        "customers": gauge("segments_shard_customers", "Customers held by the shard"),
        "events": gauge("segments_shard_events", "Events held by the shard"),
        "rss": gauge("segments_shard_memory_rss_bytes", "Resident memory of the shard's actor process"),
        "log": gauge("segments_shard_log_size_bytes", "Size of the shard's write-ahead log on disk"),
        "lag": gauge("segments_shard_log_lag_records",
                     "Log records appended since the last snapshot: what a restart replays"),
        "lsn": gauge("segments_shard_applied_lsn", "Log sequence number applied to the shard's indexes"),
        "age": gauge("segments_shard_snapshot_age_seconds",
                     "Seconds since the shard's last snapshot; absent while the shard has none"),
    }


class ShardStatsCollector(Collector):
    """Shard gauges of every workspace's backend (label `workspace`: "default" for the data directory
    itself, the name under DATA_DIR/workspaces/ for the others), all asked at once on each refresh."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 min_refresh_interval_s: float = STATS_MIN_REFRESH_INTERVAL_S,
                 timeout_s: float = STATS_TIMEOUT_S) -> None:
        assert min_refresh_interval_s >= 0 and timeout_s > 0
        self._loop = loop
        self._min_refresh_interval_s = min_refresh_interval_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()  # one refresh at a time; concurrent scrapes share its result
        self._backends: dict[str, SegmentsBackend] = {}
        self._stats: dict[str, ClusterStats] = {}  # the last figures each workspace gave
        self._refreshed_at = 0.0  # time.monotonic() of the last refresh that got every workspace's figures
        self._attempted_at = float("-inf")
        self._failures = 0

    def add(self, workspace: str, backend: SegmentsBackend) -> None:
        with self._lock:
            assert workspace not in self._backends, f"workspace {workspace!r} added twice"
            self._backends[workspace] = backend

    def register(self, registry: CollectorRegistry) -> ShardStatsCollector:
        registry.register(self)
        return self

    async def _gather(self, backends: dict[str, SegmentsBackend]) -> dict[str, ClusterStats | BaseException]:
        results = await asyncio.gather(*(b.stats() for b in backends.values()), return_exceptions=True)
        return dict(zip(backends, results, strict=True))

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._attempted_at < self._min_refresh_interval_s or not self._backends:
            return
        self._attempted_at = now
        try:
            future = asyncio.run_coroutine_threadsafe(self._gather(dict(self._backends)), self._loop)
        except RuntimeError:  # the loop has closed: the server is gone, the last figures stay
            self._failures += 1
            return
        try:
            results = future.result(self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - a busy or closing backend: serve the last figures
            future.cancel()
            self._failures += 1
            log.warning("shard stats for metrics failed: %s", exc, extra={"error": type(exc).__name__})
            return
        failed = {name: r for name, r in results.items() if isinstance(r, BaseException)}
        self._stats.update({name: r for name, r in results.items() if not isinstance(r, BaseException)})
        if failed:
            self._failures += 1
            log.warning("shard stats for metrics failed for %s", ", ".join(sorted(failed)),
                        extra={"workspaces": sorted(failed), "error": type(next(iter(failed.values()))).__name__})
        else:
            self._refreshed_at = time.monotonic()

    def describe(self) -> list[Metric]:
        return []  # the series depend on the shards: do not call collect() at registration

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._refresh()
            stats, refreshed_at, failures = dict(self._stats), self._refreshed_at, self._failures
        yield CounterMetricFamily("segments_shard_stats_failures", "Scrapes whose shard stats call failed "
                                  "or timed out (the last figures were served)", value=failures)
        if not stats:
            return
        yield GaugeMetricFamily("segments_shard_stats_age_seconds", "Age of the shard figures served",
                                value=time.monotonic() - refreshed_at)
        gauges = _shard_gauges()
        for workspace, cluster in sorted(stats.items()):
            for shard in cluster.shards:
                label = [workspace, str(shard.shard)]
                gauges["up"].add_metric(label, 1.0 if shard.state == SERVING else 0.0)
                if shard.state != SERVING:
                    continue  # a shard that is down reports zeros, which are not its figures
                gauges["customers"].add_metric(label, shard.customers)
                gauges["events"].add_metric(label, shard.events)
                gauges["rss"].add_metric(label, shard.rss_bytes)
                gauges["log"].add_metric(label, shard.log_size_bytes)
                gauges["lag"].add_metric(label, shard.records_since_snapshot)
                gauges["lsn"].add_metric(label, shard.applied_lsn)
                if shard.snapshot_age_ms is not None:
                    gauges["age"].add_metric(label, shard.snapshot_age_ms / 1000)
        yield from gauges.values()

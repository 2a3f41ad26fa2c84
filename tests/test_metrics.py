"""Operational metrics, structured logs and the health-check module against the real server: `segments
serve --metrics-port 0 --log-format json --log-level DEBUG` in a subprocess (2 Ray shard actors), driven
with real RPCs, scraped over HTTP and parsed with prometheus_client's own text parser; its stderr parsed
line by line as JSON; `python -m service.healthcheck` (the image's HEALTHCHECK, the pods' probes) asked
while it serves and after it stopped."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from actors.api import ClusterStats, ShardStatsInfo
from service.client import SegmentsClient
from service.client_types import SegmentsError
from service.healthcheck import main as healthcheck
from service.metrics_backend import ShardStatsCollector
from tests.service_process import ServerProcess

pytestmark = pytest.mark.timeout(180)

CUSTOMERS = 200
EVENTS_PER_CUSTOMER = 3
METRICS_URL_WAIT_S = 30.0
HEALTHCHECK_TIMEOUT_S = 30
STATS_REFRESH_WAIT_S = 1.2  # service/metrics_backend.py refreshes shard figures at most once a second
COUNT_RULE = "count(order_created, last 30 days) >= 1"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _records() -> list[dict[str, Any]]:
    now_ms = int(time.time() * 1000)
    return [{"customer_id": f"m-{c:04d}", "event_id": f"e-{c}-{i}", "type": "order_created",
             "ts": now_ms - (i + 1) * 86_400_000, "attrs": {"amount": 10 + i}}
            for c in range(CUSTOMERS) for i in range(EVENTS_PER_CUSTOMER)]


def _log_entries(server: ServerProcess) -> list[dict[str, Any]]:
    lines = server.stderr_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _metrics_url(server: ServerProcess) -> str:
    deadline = time.monotonic() + METRICS_URL_WAIT_S
    while time.monotonic() < deadline:
        for entry in _log_entries(server):
            if "metrics_url" in entry:
                return str(entry["metrics_url"])
        time.sleep(0.1)
    raise AssertionError(f"no `metrics on` log line; log: {server.log_tail()}")


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _per_shard(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["shard"]: value for (sample, labels), value in samples.items() if sample == name}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("metrics") / "data", "--shards", "2", "--metrics-port", "0",
                            "--log-format", "json", "--log-level", "DEBUG")
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


def test_rpcs_ingest_and_shard_figures_show_on_the_metrics_endpoint(server: ServerProcess) -> None:
    url = _metrics_url(server)
    before = _scrape(url)
    count_method = "/segments.v1.QueryService/Count"
    assert _value(before, "segments_ingest_records_total", outcome="accepted") == 0
    assert _per_shard(before, "segments_shard_up") == {"0": 1.0, "1": 1.0}
    assert {dict(labels).get("workspace") for (name, labels) in before if name == "segments_shard_up"} == {"default"}
    rss = _per_shard(before, "segments_shard_memory_rss_bytes")
    assert len(rss) == 2 and all(value > 10 * 2**20 for value in rss.values()), rss  # a Python + engine process

    records = _records()
    with SegmentsClient(server.target) as client:
        assert client.ingest(records).accepted == len(records)
        assert client.ingest(records[:10]).duplicates == 10
        for _ in range(5):
            assert client.count(COUNT_RULE).count == CUSTOMERS
        with pytest.raises(SegmentsError):
            client.count("count(order_created, last 30 days) >=")  # a rule that does not parse
    time.sleep(STATS_REFRESH_WAIT_S)
    after = _scrape(url)

    assert _value(after, "segments_rpcs_total", method=count_method, code="OK") - \
        _value(before, "segments_rpcs_total", method=count_method, code="OK") == 5
    assert _value(after, "segments_rpcs_total", method=count_method, code="INVALID_ARGUMENT") == 1
    assert _value(after, "segments_rpcs_total", method="/segments.v1.IngestService/Ingest", code="OK") == 2
    assert _value(after, "segments_rpc_duration_seconds_count", method=count_method) >= 6
    assert _value(after, "segments_rpc_duration_seconds_sum", method=count_method) > 0
    assert _value(after, "segments_rpcs_in_flight") == 0
    assert _value(after, "segments_ingest_records_total", outcome="accepted") == len(records)
    assert _value(after, "segments_ingest_records_total", outcome="duplicate") == 10
    assert _value(after, "segments_ingest_batches_total") >= 2
    assert sum(_per_shard(after, "segments_shard_customers").values()) == CUSTOMERS
    assert sum(_per_shard(after, "segments_shard_events").values()) == len(records)
    lag = _per_shard(after, "segments_shard_log_lag_records")
    assert sum(lag.values()) >= len(records), lag  # nothing snapshotted yet: every record would be replayed
    assert all(value > 0 for value in _per_shard(after, "segments_shard_log_size_bytes").values())
    assert _value(after, "process_resident_memory_bytes") > 0  # the server process itself
    assert _value(after, "segments_shard_stats_age_seconds") < 5

    with SegmentsClient(server.target) as client:
        client.snapshot()
    time.sleep(STATS_REFRESH_WAIT_S)
    snapshotted = _scrape(url)
    assert set(_per_shard(snapshotted, "segments_shard_log_lag_records").values()) == {0.0}
    ages = _per_shard(snapshotted, "segments_shard_snapshot_age_seconds")
    assert set(ages) == {"0", "1"} and all(0 <= age < 60 for age in ages.values()), ages


def test_log_lines_are_json_objects_with_rpc_fields(server: ServerProcess) -> None:
    with SegmentsClient(server.target) as client:
        with pytest.raises(SegmentsError):
            client.count("no_such_function(")
        client.count(COUNT_RULE)
    entries = _log_entries(server)  # every line parses: json.loads raised otherwise
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in entries)
    assert all(entry["ts"].endswith("Z") for entry in entries)
    assert not [key for entry in entries for key in entry if key.startswith("_")]  # e.g. Ray's _ray_timestamp_ns
    rpc = [entry for entry in entries if entry["logger"] == "segments.rpc"]
    failed = [entry for entry in rpc if entry["code"] == "INVALID_ARGUMENT"]
    assert failed and failed[-1]["level"] == "INFO" and failed[-1]["method"] == "/segments.v1.QueryService/Count"
    ok = [entry for entry in rpc if entry["code"] == "OK" and entry["method"].endswith("/Count")]
    assert ok and ok[-1]["level"] == "DEBUG"  # --log-level DEBUG: one line per RPC
    for entry in (failed[-1], ok[-1]):
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
        assert entry["peer"].startswith(("ipv4:", "ipv6:"))


class _Workspace:
    """A backend's stats() only (unit test of the collector, no Ray): figures, or an error."""

    def __init__(self, shards: int, error: Exception | None = None) -> None:
        self.shards, self.error = shards, error

    async def stats(self) -> ClusterStats:
        if self.error is not None:
            raise self.error
        return ClusterStats("d", "UTC", [ShardStatsInfo(i, "SERVING", 10 * (i + 1), 100, 100, 7, 4096, None, 3,
                                                        f"shard-{i:04d}", 50_000_000) for i in range(self.shards)])


def test_shard_collector_labels_each_workspace_and_counts_a_failing_one() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        registry = CollectorRegistry()
        collector = ShardStatsCollector(loop, min_refresh_interval_s=0).register(registry)
        collector.add("default", _Workspace(2))  # type: ignore[arg-type]
        collector.add("acme", _Workspace(1))  # type: ignore[arg-type]
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(generate_latest(registry).decode())
                   for s in family.samples}
        customers = {labels: value for (name, labels), value in samples.items() if name == "segments_shard_customers"}
        assert customers == {(("shard", "0"), ("workspace", "acme")): 10.0,
                             (("shard", "0"), ("workspace", "default")): 10.0,
                             (("shard", "1"), ("workspace", "default")): 20.0}
        assert samples[("segments_shard_memory_rss_bytes", (("shard", "1"), ("workspace", "default")))] == 5e7
        assert not any(name == "segments_shard_snapshot_age_seconds" for name, _ in samples)  # no snapshot yet
        collector.add("broken", _Workspace(1, RuntimeError("shard queue full")))  # type: ignore[arg-type]
        again = generate_latest(registry).decode()
        assert "segments_shard_stats_failures_total 1.0" in again
        assert 'workspace="acme"' in again and 'workspace="broken"' not in again  # the others still served
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_healthcheck_module_while_serving_and_after_stopping(server: ServerProcess) -> None:
    """Last of the server's tests: it stops the server."""
    module = subprocess.run([sys.executable, "-m", "service.healthcheck", server.target], capture_output=True,
                            text=True, timeout=HEALTHCHECK_TIMEOUT_S, cwd=Path(__file__).resolve().parents[1],
                            check=False)
    assert module.returncode == 0 and module.stdout.strip() == f"{server.target}: SERVING", module
    assert healthcheck([server.target, "--service", "segments.v1.QueryService"]) == 0
    assert healthcheck([server.target, "--alive"]) == 0
    assert healthcheck([server.target, "--service", "no.such.Service"]) == 1  # NOT_FOUND
    assert healthcheck([server.target, "--timeout-ms", "0"]) == 2
    assert healthcheck(["no-port-here"]) == 2
    assert healthcheck([server.target, "--tls-cert", "c.pem"]) == 2  # a client certificate needs its key and a CA
    assert server.stop() == 0
    assert healthcheck([server.target, "--timeout-ms", "1000"]) == 1  # UNAVAILABLE
    assert healthcheck([server.target, "--alive", "--timeout-ms", "1000"]) == 1


def test_bad_metrics_flags_are_refused_naming_the_flag(tmp_path: Path) -> None:
    from service.cli import main as cli_main

    assert cli_main(["serve", "--data-dir", str(tmp_path / "d"), "--metrics-port", "70000"]) == 2
    assert not (tmp_path / "d").exists()  # refused before anything was created

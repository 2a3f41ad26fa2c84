"""The real server: `segments serve --port 0 --shards 2` in a subprocess (Ray shard actors), driven
through the typed client and the CLI. One server for the module (Ray start and shard recovery are
slow); the last test stops it with SIGTERM and restarts it on the same data directory."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_types import SegmentsError
from service.server import SEGMENTS_SERVICES
from tests.paths import SEED_SUITE
from tests.service_process import ServerProcess

CUSTOMERS = 3_000
EVENTS = 30_000
PAGED_CUSTOMERS = 100_000
STREAM_BATCH_RECORDS = 25_000
TEXT_RULE = "count(order_created, last 30 days) = 0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("served") / "data", "--shards", "2")
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


@pytest.fixture(scope="module")
def shop() -> dict[str, Any]:
    """The generated shop: its records, and the embedded engine's answers over them."""
    data = generate_columns(CUSTOMERS, EVENTS, seed=11)
    batches = list(iter_records(data, STREAM_BATCH_RECORDS))
    engine = Engine()
    for batch in batches:
        engine.ingest(batch)
    rules = load_seed_suite(SEED_SUITE, placeholders(data))
    return {"batches": batches, "as_of_ms": data.as_of_ms, "rules": rules,
            "counts": {name: engine.count(rule, data.as_of_ms) for name, rule in rules},
            "members": {name: engine.members(rule, data.as_of_ms) for name, rule in rules[:4]},
            "text_count": engine.count(TEXT_RULE, data.as_of_ms)}


@pytest.fixture(scope="module")
def loaded(server: ServerProcess, shop: dict[str, Any]) -> ServerProcess:
    with SegmentsClient(server.target) as client:
        result = client.ingest_stream(shop["batches"])
    assert result.rejected == 0 and result.batches == len(shop["batches"])
    assert result.accepted == sum(len(b) for b in shop["batches"])
    return server


@pytest.fixture
def client(server: ServerProcess) -> Iterator[SegmentsClient]:
    with SegmentsClient(server.target) as c:
        yield c


def test_health_serving_and_reflection_lists_the_services(server: ServerProcess, client: SegmentsClient) -> None:
    assert client.health() == "SERVING"
    for name in SEGMENTS_SERVICES:
        assert client.health(name) == "SERVING"
    with grpc.insecure_channel(server.target) as channel:
        listed = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert set(SEGMENTS_SERVICES) | {"grpc.health.v1.Health"} <= listed


def test_counts_equal_the_embedded_engine(loaded: ServerProcess, shop: dict[str, Any], client: SegmentsClient) -> None:
    as_of = shop["as_of_ms"]
    served = {name: client.count(rule, as_of).count for name, rule in shop["rules"]}
    assert served == shop["counts"]
    assert sum(1 for c in served.values() if c > 0) >= 15  # the comparison is not among empty answers
    for name, expected in shop["members"].items():
        rule = dict(shop["rules"])[name]
        assert list(client.members(rule, as_of_ms=as_of, page_size=997)) == expected
    preview = client.preview(TEXT_RULE, as_of, sample_size=5)
    assert preview.count == shop["text_count"] and preview.rule_text == TEXT_RULE
    assert len(preview.sample_customer_ids) == 5 and preview.sample_customer_ids == sorted(preview.sample_customer_ids)


def test_paging_through_100k_members_returns_each_once(server: ServerProcess, client: SegmentsClient) -> None:
    ids = [f"pg-{i:06d}" for i in range(PAGED_CUSTOMERS)]
    batches = ([{"customer_id": c, "ts": 1_700_000_000_000, "properties": {"city": "Pageville"}} for c in ids[i : i + STREAM_BATCH_RECORDS]]
               for i in range(0, PAGED_CUSTOMERS, STREAM_BATCH_RECORDS))
    assert client.ingest_stream(batches).accepted == PAGED_CUSTOMERS
    rule = 'city = "Pageville"'
    first = client.members_page(rule, page_size=1_000)
    assert first.total_count == PAGED_CUSTOMERS and len(first.customer_ids) == 1_000
    listed = list(client.members(rule, as_of_ms=first.as_of_ms, page_size=10_000))
    assert len(listed) == PAGED_CUSTOMERS and listed == ids  # each once, in byte order


def test_bad_records_and_rules_are_refused_and_change_nothing(
    loaded: ServerProcess, shop: dict[str, Any], client: SegmentsClient
) -> None:
    before = client.stats()
    count_before = client.count("order_count >= 1", shop["as_of_ms"]).count
    with pytest.raises(SegmentsError) as caught:
        client.ingest([
            {"event_id": "bad-0", "customer_id": "new-customer", "type": "order_created", "ts": 1, "attrs": {"amount": "5"}},
            {"event_id": "bad-1", "customer_id": "c1", "type": "order_created", "ts": 1, "attrs": {"amount": "1.005"}},
            {"customer_id": "c2", "ts": 1, "properties": {"marketing_consent": "maybe"}},
        ])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in caught.value.violations] == ["records[1].attrs.amount", "records[2].properties.marketing_consent"]
    with pytest.raises(SegmentsError) as caught:
        client.count({"all": [{"property": "country", "op": "exists"}, {"property": "tags", "op": "has", "value": "vip"},
                              {"event": "order_created", "count": {"op": "gte", "value": -1}}]})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field == "rule.all[2].count.value"
    after = client.stats()
    assert (after.customers, after.events, [s.applied_lsn for s in after.shards]) == (
        before.customers, before.events, [s.applied_lsn for s in before.shards])
    assert client.count("order_count >= 1", shop["as_of_ms"]).count == count_before


def test_cli_commands_against_the_server(
    loaded: ServerProcess, shop: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_of = str(shop["as_of_ms"])
    name, rule = shop["rules"][0]
    rule_file = tmp_path / "rule.json"
    rule_file.write_text(json.dumps(rule))
    assert cli_main(["count", "--server", loaded.target, "--as-of", as_of, f"@{rule_file}"]) == 0
    assert capsys.readouterr().out == f"{shop['counts'][name]}\n"
    assert cli_main(["members", "--server", loaded.target, "--as-of", as_of, f"@{rule_file}"]) == 0
    assert capsys.readouterr().out.split() == shop["members"][name]
    assert cli_main(["eval", "--server", loaded.target, "--as-of", as_of, "--json", f"@{rule_file}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == shop["counts"][name] and out["tz"] == "UTC" and out["rule"].startswith("marketing_consent")

    good = {"event_id": "cli-0", "customer_id": "cli-c", "type": "order_created", "ts": 5, "attrs": {"amount": 3.5}}
    bad = {**good, "event_id": "cli-1", "attrs": {"amount": "abc"}}
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    assert cli_main(["ingest", str(records), "--server", loaded.target]) == 2
    assert f"{records}:2: attrs.amount: must be a number" in capsys.readouterr().err
    assert cli_main(["ingest", str(records), "--server", loaded.target, "--partial"]) == 2
    captured = capsys.readouterr()
    assert "ingested 1 records (0 duplicate events" in captured.out and f"{records}:2: attrs.amount" in captured.err
    assert cli_main(["stats", "--server", loaded.target, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert len(stats["shards"]) == 2 and stats["customers"] >= CUSTOMERS


def test_a_taken_port_is_refused_before_the_backend_opens(server: ServerProcess, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    port = server.target.rsplit(":", 1)[1]
    started = time.monotonic()
    assert cli_main(["serve", "--port", port, "--data-dir", str(tmp_path / "other")]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err
    assert time.monotonic() - started < 10 and not (tmp_path / "other").exists()


def test_sigterm_drains_exits_zero_and_a_restart_keeps_the_data(
    loaded: ServerProcess, shop: dict[str, Any]
) -> None:
    as_of = shop["as_of_ms"]
    not_drained = {"not": {"property": "city", "op": "eq", "value": "Drained"}}  # the customers added below
    rules = [(name, {"all": [rule, not_drained]}) for name, rule in shop["rules"]]
    with SegmentsClient(loaded.target) as client:
        counts = {name: client.count(rule, as_of).count for name, rule in rules}
    first_sent, go_on = threading.Event(), threading.Event()
    drained = [{"customer_id": f"drain-{i}", "ts": 1, "properties": {"city": "Drained"}} for i in range(20)]

    def batches() -> Iterator[list[dict[str, Any]]]:
        yield drained[:10]
        first_sent.set()
        go_on.wait(30)  # the second batch goes out after SIGTERM: the stream is in flight meanwhile
        yield drained[10:]

    outcome: dict[str, Any] = {}

    def stream() -> None:
        with SegmentsClient(loaded.target) as streaming:
            outcome["result"] = streaming.ingest_stream(batches())

    sender = threading.Thread(target=stream)
    sender.start()
    assert first_sent.wait(30)
    time.sleep(0.5)
    assert loaded.process is not None
    started = time.monotonic()
    loaded.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    go_on.set()
    sender.join(30)
    assert outcome["result"].batches == 2 and outcome["result"].accepted == 20  # drained, not cut off
    assert loaded.stop(0) == 0, loaded.log_tail()  # already signalled: only waits for the exit
    assert "backend closed" in loaded.log_tail() and time.monotonic() - started < 30

    loaded.start()
    with SegmentsClient(loaded.target) as client:
        assert client.health() == "SERVING"
        assert client.count('city = "Drained"').count == 20
        assert {name: client.count(rule, as_of).count for name, rule in rules} == counts

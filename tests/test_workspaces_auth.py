"""Workspace isolation through the real server: `segments serve` in a subprocess (Ray shard actors), two
workspaces holding the same attribute values for different customers (so any leak would be counted),
and a read token of workspace A: counts, members, preview, insights, export, watch and saved segments
only ever show A's customers; B's segment id is NOT_FOUND; the read token cannot ingest; a revoked
token is refused; a workspace created while the server runs is opened by its first call."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from service.auth_tokens import create_token
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_segments import WatchMessage
from service.client_types import SegmentsError
from service.workspaces import create_workspace
from tests.service_process import ServerProcess

pytestmark = pytest.mark.timeout(300)
RULE = 'city = "Shared"'
TS_MS = 1_700_000_000_000
A_CUSTOMERS = [f"a-{i:03d}" for i in range(10)]
B_CUSTOMERS = [f"b-{i:03d}" for i in range(15)]
WAIT_S = 30.0
CALL_TIMEOUT_S = 60.0
REVOCATION_DEADLINE_S = 1.0


def profiles(customers: list[str]) -> list[dict[str, Any]]:
    return [{"customer_id": c, "ts": TS_MS, "properties": {"city": "Shared"}} for c in customers]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("tenants") / "data"
    data_dir.mkdir()
    for name in ("shop-a", "shop-b"):
        create_workspace(data_dir, name, shards=1, tz=None)
    tokens = {
        "a_writer": create_token(data_dir, "shop-a", ("read", "write", "admin"))[1],
        "a_reader": create_token(data_dir, "shop-a", ("read",)),
        "b_writer": create_token(data_dir, "shop-b", ("read", "write"))[1],
    }
    server = ServerProcess(data_dir, "--shards", "1")  # tokens.json exists: tokens required
    try:
        with SegmentsClient(server.target, token=tokens["a_writer"], timeout_s=CALL_TIMEOUT_S) as a:
            assert a.ingest(profiles(A_CUSTOMERS)).accepted == len(A_CUSTOMERS)
            a.create_segment("Shared city", RULE, segment_id="shared")
        with SegmentsClient(server.target, token=tokens["b_writer"], timeout_s=CALL_TIMEOUT_S) as b:
            assert b.ingest(profiles(B_CUSTOMERS)).accepted == len(B_CUSTOMERS)
            b.create_segment("Shared city", RULE, segment_id="shared")  # the same id, B's own
            b.create_segment("Only in B", RULE, segment_id="only-b")
        yield {"server": server, "data_dir": data_dir, "tokens": tokens}
    finally:
        if server.process is not None:
            assert server.stop() == 0, server.log_tail()


@pytest.fixture
def reader(served: dict[str, Any]) -> Iterator[SegmentsClient]:
    _, secret = served["tokens"]["a_reader"]
    with SegmentsClient(served["server"].target, token=secret, timeout_s=CALL_TIMEOUT_S) as client:
        yield client


def _status(call: Any) -> grpc.StatusCode:
    with pytest.raises(SegmentsError) as raised:
        call()
    return raised.value.code


def test_queries_see_only_the_tokens_workspace(reader: SegmentsClient) -> None:
    assert reader.count(RULE).count == len(A_CUSTOMERS)
    assert list(reader.members(RULE)) == A_CUSTOMERS
    preview = reader.preview(RULE, sample_size=100)
    assert preview.count == len(A_CUSTOMERS) and set(preview.sample_customer_ids) <= set(A_CUSTOMERS)
    insights = reader.insights(RULE)
    assert insights.members == len(A_CUSTOMERS)
    out = io.StringIO()
    outcome = reader.export(out, ["customer_id", "city"], RULE)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert outcome.rows == len(A_CUSTOMERS) and sorted(r["customer_id"] for r in rows) == A_CUSTOMERS
    assert reader.stats().data_dir.endswith("workspaces/shop-a")


def test_saved_segments_are_the_workspaces_own(reader: SegmentsClient) -> None:
    assert [s.id for s in reader.list_segments()] == ["shared"]
    assert reader.segment_count("shared").count == len(A_CUSTOMERS)
    assert sorted(reader.segment_members("shared")) == A_CUSTOMERS
    assert _status(lambda: reader.get_segment("only-b")) == grpc.StatusCode.NOT_FOUND
    assert _status(lambda: reader.segment_count("only-b")) == grpc.StatusCode.NOT_FOUND
    assert _status(lambda: list(reader.segment_members("only-b"))) == grpc.StatusCode.NOT_FOUND


def test_watch_streams_only_the_workspaces_changes(served: dict[str, Any], reader: SegmentsClient) -> None:
    target, tokens = served["server"].target, served["tokens"]
    received: list[WatchMessage] = []
    started = threading.Event()
    with reader.watch(heartbeat_ms=200, reconnect=False) as stream:

        def collect() -> None:
            for message in stream:  # ends when the stream is closed
                received.append(message)
                started.set()
                if any(c.customer_id == "a-new" for c in message.changes):
                    return

        thread = threading.Thread(target=collect, daemon=True)
        thread.start()
        assert started.wait(WAIT_S)
        with SegmentsClient(target, token=tokens["b_writer"], timeout_s=CALL_TIMEOUT_S) as b:
            b.ingest(profiles(["b-new-1", "b-new-2"]))  # joins B's "shared" and "only-b"
        with SegmentsClient(target, token=tokens["a_writer"], timeout_s=CALL_TIMEOUT_S) as a:
            a.ingest(profiles(["a-new"]))
        thread.join(WAIT_S)
        assert not thread.is_alive(), "A's change never arrived"
    changes = [c for m in received for c in m.changes]
    assert [(c.segment_id, c.customer_id) for c in changes] == [("shared", "a-new")]


def test_a_read_token_cannot_write_or_administer(reader: SegmentsClient) -> None:
    assert _status(lambda: reader.ingest(profiles(["a-sneaky"]))) == grpc.StatusCode.PERMISSION_DENIED
    assert _status(lambda: reader.create_segment("x", RULE)) == grpc.StatusCode.PERMISSION_DENIED
    assert _status(reader.snapshot) == grpc.StatusCode.PERMISSION_DENIED
    assert "a-sneaky" not in set(reader.members(RULE))


def test_cli_takes_the_token_from_the_environment(served: dict[str, Any], reader: SegmentsClient,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, secret = served["tokens"]["a_reader"]
    target = served["server"].target
    expected = reader.count(RULE).count
    assert cli_main(["count", "--server", target, RULE]) != 0  # no token
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    monkeypatch.setenv("SEGMENTS_TOKEN", secret)
    assert cli_main(["count", "--server", target, "--json", RULE]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == expected
    monkeypatch.delenv("SEGMENTS_TOKEN")
    assert cli_main(["count", "--server", target, "--token", secret, RULE]) == 0
    assert str(expected) in capsys.readouterr().out


def test_a_workspace_created_while_running_is_opened_on_first_use(served: dict[str, Any]) -> None:
    data_dir, target = served["data_dir"], served["server"].target
    create_workspace(data_dir, "shop-c", shards=1, tz=None)
    _, secret = create_token(data_dir, "shop-c", ("read", "write"))
    with SegmentsClient(target, token=secret, timeout_s=CALL_TIMEOUT_S) as c:
        assert c.ingest(profiles(["c-1"])).accepted == 1
        assert list(c.members(RULE)) == ["c-1"]


def test_a_revoked_token_is_refused_and_its_open_watch_ended(served: dict[str, Any], reader: SegmentsClient) -> None:
    record, _ = served["tokens"]["a_reader"]
    reader.count(RULE)
    ended: list[BaseException] = []
    started = threading.Event()
    with reader.watch(heartbeat_ms=200, reconnect=False) as stream:

        def follow() -> None:
            try:
                for _ in stream:  # heartbeats until the server ends the call
                    started.set()
            except SegmentsError as exc:
                ended.append(exc)

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        assert started.wait(WAIT_S)
        assert cli_main(["token", "revoke", record.id, "--data-dir", str(served["data_dir"])]) == 0
        revoked_at = time.monotonic()
        deadline = revoked_at + 5
        code = None
        while time.monotonic() < deadline and code is None:  # bounded: 5 s of retries
            try:
                reader.count(RULE)
                time.sleep(0.05)
            except SegmentsError as exc:
                code = exc.code
        refused_after_s = time.monotonic() - revoked_at
        thread.join(WAIT_S)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert refused_after_s < REVOCATION_DEADLINE_S + 0.5  # + one call on a busy machine
    assert len(ended) == 1 and isinstance(ended[0], SegmentsError)
    assert ended[0].code == grpc.StatusCode.UNAUTHENTICATED and "revoked during the call" in ended[0].message

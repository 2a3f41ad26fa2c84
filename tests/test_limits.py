"""Limits on what an outsider controls (issue 10, docs/LIMITS.md), driven through a real gRPC server.

Each limit is hit just past its value and must give the documented status with the field / rule path
named, and change nothing (the count after a refused ingest is the count before it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from indexes.engine import Engine
from indexes.rules.model import MAX_DEPTH, MAX_NODES, MAX_RULE_LIST_VALUES
from indexes.rules.text_shape import MAX_PAREN_DEPTH, MAX_RULE_TOKENS
from indexes.schema import MAX_ATTRIBUTES_PER_EVENT, MAX_EVENT_TYPES, MAX_PROPERTIES, Schema, SchemaError
from indexes.segments import commands as segment_commands
from indexes.segments import export_schedules
from indexes.segments.errors import SegmentError, SegmentLimitError
from indexes.values import MAX_STRING_BYTES
from proto.segments.v1 import (
    ingest_pb2,
    ingest_pb2_grpc,
    insights_pb2,
    insights_pb2_grpc,
    segments_pb2,
    segments_pb2_grpc,
)
from service.client import SegmentsClient, rule_pb
from service.client_types import SegmentsError
from service.convert_records import record_to_pb
from service.errors import status_of
from service.limits import (
    MAX_BATCH_RECORDS,
    MAX_FIELD_BYTES,
    MAX_REQUEST_MESSAGE_BYTES,
    MAX_RULE_BYTES,
    MAX_SEGMENT_IDS_PER_REQUEST,
    MAX_STREAMS_PER_CLIENT,
    clip,
)
from service.stream_limits import AUTHENTICATED_CLIENT, CLIENT_STREAMS, ClientStreams, client_key, peer_host
from tests.service_backend import DurableBackend
from tests.service_inprocess import InProcessServer

pytestmark = pytest.mark.timeout(120)
AS_OF = 1_793_000_000_000
LOCAL_CLIENT = "peer:ipv4:127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = InProcessServer(DurableBackend(Path(tmp_path_factory.mktemp("limits"))))
    yield running
    running.stop()


@pytest.fixture
def client(server: InProcessServer) -> Iterator[SegmentsClient]:
    with SegmentsClient(server.target) as c:
        yield c


def _leaf() -> dict[str, Any]:
    return {"property": "country", "op": "eq", "value": "TR"}


RULES = [
    ("not " * (MAX_DEPTH + 1) + 'country = "TR"', "rule." + ".".join(["not"] * MAX_DEPTH), f"{MAX_DEPTH} levels"),
    ("(" * (MAX_PAREN_DEPTH + 1) + 'country = "TR"' + ")" * (MAX_PAREN_DEPTH + 1), "rule.text",
     f"at most {MAX_PAREN_DEPTH}"),
    ("country exists or " * 40_000 + "country exists", "rule.text", f"more than {MAX_RULE_TOKENS} tokens"),
    ('{"not": ' * 100_000 + json.dumps(_leaf()) + "}" * 100_000, "rule.json", f"{MAX_DEPTH} levels"),
    ({"any": [_leaf()] * MAX_NODES}, "rule.json", f"more than {MAX_NODES} nodes"),
    ("count(order_created) > " + "9" * 5_000, "rule.text", "at most 19 digits"),
    ('{"event": "order_created", "count": {"op": "gt", "value": ' + "9" * 5_000 + "}}", "rule.count.value",
     "whole number"),
    ("country in (" + ", ".join(['"TR"'] * (MAX_RULE_LIST_VALUES + 1)) + ")", "rule.value",
     f"more than {MAX_RULE_LIST_VALUES} values"),
    ('country = "' + "x" * (MAX_STRING_BYTES + 1) + '"', "rule.value", f"longer than {MAX_STRING_BYTES} bytes"),
    ('email contains "\\ud800"', "rule.value", "lone surrogate"),
    ('country = "' + "x" * MAX_RULE_BYTES + '"', "rule.text", f"longer than {MAX_RULE_BYTES} bytes"),
]


@pytest.mark.parametrize(("rule", "field", "reason"), RULES, ids=[
    "text depth", "parenthesis depth", "text tokens", "json depth", "node count", "text integer", "json integer", "list length",
    "string bytes", "surrogate", "rule bytes"])
def test_rule_limits_name_the_rule_path(client: SegmentsClient, rule: Any, field: str, reason: str) -> None:
    with pytest.raises(SegmentsError) as caught:
        client.count(rule, AS_OF)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    violation = caught.value.violations[0]
    assert violation.field == clip(field, MAX_FIELD_BYTES) and reason in violation.description, violation


def _profile(customer_id: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "ts": AS_OF, "properties": {"country": "LM"}}


def test_batch_and_record_limits_change_nothing(server: InProcessServer, client: SegmentsClient) -> None:
    rule = 'country = "LM"'
    client.ingest([_profile("lm-0")])
    before = client.count(rule, AS_OF).count
    one = record_to_pb(_profile("lm-1"))
    with grpc.insecure_channel(server.target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Ingest(ingest_pb2.IngestRequest(records=[one] * (MAX_BATCH_RECORDS + 1)), timeout=60)
    error = SegmentsError.from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "records"
    for record, field in [({**_profile("x" * 257)}, "records[1].customer_id"),
                          ({**_profile("lm-2"), "properties": {"email": "e" * (MAX_STRING_BYTES + 1)}},
                           "records[1].properties.email")]:
        with pytest.raises(SegmentsError) as rejected:
            client.ingest([_profile("lm-3"), record])  # all or nothing: lm-3 is not stored either
        assert rejected.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert rejected.value.violations[0].field == field, rejected.value.violations
    assert client.count(rule, AS_OF).count == before


class _HeldStream:
    """An IngestStream whose client has not finished sending: the server holds it open."""

    def __init__(self, stub: ingest_pb2_grpc.IngestServiceStub) -> None:
        self.release = threading.Event()
        self.future = stub.IngestStream.future(self._requests(), timeout=60)

    def _requests(self) -> Iterator[ingest_pb2.IngestRequest]:
        self.release.wait(60)
        return
        yield  # a generator that sends nothing until released


def _wait_for(condition: Any, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_streams_per_client_beyond_the_limit_are_resource_exhausted(server: InProcessServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        held = [_HeldStream(stub) for _ in range(MAX_STREAMS_PER_CLIENT)]
        try:
            _wait_for(lambda: CLIENT_STREAMS.open_count(LOCAL_CLIENT) == MAX_STREAMS_PER_CLIENT)
            extra = _HeldStream(stub)
            extra.release.set()
            with pytest.raises(grpc.RpcError) as caught:
                extra.future.result(timeout=30)
            error = SegmentsError.from_rpc_error(caught.value)
            assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"at most {MAX_STREAMS_PER_CLIENT} per client" in error.message
            held[0].release.set()  # one ends: its slot is free again
            assert held[0].future.result(timeout=30).accepted == 0
            _wait_for(lambda: CLIENT_STREAMS.open_count(LOCAL_CLIENT) == MAX_STREAMS_PER_CLIENT - 1)
            again = _HeldStream(stub)
            again.release.set()
            assert again.future.result(timeout=30).accepted == 0
        finally:
            for stream in held:
                stream.release.set()
            for stream in held:
                stream.future.result(timeout=30)
    _wait_for(lambda: CLIENT_STREAMS.open_count(LOCAL_CLIENT) == 0)


class _Context:
    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer


def test_clients_are_keyed_by_token_else_by_peer_host() -> None:
    assert peer_host("ipv4:10.0.0.5:51234") == "ipv4:10.0.0.5"
    assert peer_host("ipv6:[::1]:5000") == "ipv6:[::1]"
    assert peer_host("unix:/tmp/socket") == "unix:/tmp/socket"
    assert client_key(_Context("ipv4:10.0.0.5:1")) == client_key(_Context("ipv4:10.0.0.5:2"))  # reconnecting
    token = AUTHENTICATED_CLIENT.set("tok-7")
    try:
        assert client_key(_Context("ipv4:10.0.0.5:1")) == "token:tok-7"
    finally:
        AUTHENTICATED_CLIENT.reset(token)
    streams = ClientStreams(max_per_client=1)
    with pytest.raises(RuntimeError), streams.hold(_Context("ipv4:1.2.3.4:9"), "Watch"):
        assert streams.open_count("peer:ipv4:1.2.3.4") == 1
        raise RuntimeError("the stream failed")
    assert streams.open_count("peer:ipv4:1.2.3.4") == 0  # released on failure too


def test_declarations_are_bounded(client: SegmentsClient) -> None:
    too_many = {"event": "limits_event", "attributes": {f"a{i}": "string" for i in range(MAX_ATTRIBUTES_PER_EVENT + 1)}}
    with pytest.raises(SegmentsError) as caught:
        client.declare([too_many])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field.endswith("attributes"), caught.value.violations
    assert f"more than {MAX_ATTRIBUTES_PER_EVENT} attributes" in caught.value.violations[0].description
    assert "limits_event" not in client.schema().event_types  # nothing declared


def test_declared_name_counts_are_bounded_in_the_schema() -> None:
    schema = Schema()
    for i in range(MAX_PROPERTIES - len(schema.properties)):
        schema.apply_declaration({"property": f"p{i}", "type": "string"})
    with pytest.raises(SchemaError, match=f"at most {MAX_PROPERTIES}") as caught:
        schema.apply_declaration({"property": "one_more", "type": "string"})
    assert caught.value.field == "declare.property"
    schema.apply_declaration({"property": "p0", "type": "string"})  # a re-declaration adds nothing: allowed
    for i in range(MAX_EVENT_TYPES - len(schema.events)):
        schema.apply_declaration({"event": f"e{i}"})
    with pytest.raises(SchemaError, match=f"at most {MAX_EVENT_TYPES}"):
        schema.apply_declaration({"event": "one_more"})


def test_live_segments_per_workspace_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_commands, "MAX_LIVE_SEGMENTS", 3)  # 10,000 creates would take a minute
    engine = Engine(tz="UTC")
    for i in range(3):
        engine.create_segment(f"S{i}", f"order_count >= {i}", now_ms=AS_OF)
    with pytest.raises(SegmentLimitError, match="at most 3"):
        engine.create_segment("S3", "order_count >= 3", now_ms=AS_OF)
    assert status_of(SegmentLimitError("", "full")).code == grpc.StatusCode.RESOURCE_EXHAUSTED
    engine.delete_segment("seg_1", now_ms=AS_OF)  # deleting one makes room
    # The refused create used up no generated id: it changed nothing.
    assert engine.create_segment("S3", "order_count >= 3", now_ms=AS_OF).id == "seg_4"


def test_request_lists_are_bounded(server: InProcessServer) -> None:
    too_many_ids = ["seg_1"] * (MAX_SEGMENT_IDS_PER_REQUEST + 1)
    calls = [
        (lambda channel: segments_pb2_grpc.SegmentServiceStub(channel).SegmentChanges(
            segments_pb2.SegmentChangesRequest(segment_ids=too_many_ids), timeout=10), "segment_ids"),
        (lambda channel: list(segments_pb2_grpc.SegmentServiceStub(channel).Watch(
            segments_pb2.WatchRequest(segment_ids=too_many_ids), timeout=10)), "segment_ids"),
        (lambda channel: list(insights_pb2_grpc.InsightsServiceStub(channel).Export(insights_pb2.ExportRequest(
            target=insights_pb2.Target(rule=rule_pb('country = "TR"')), columns=["customer_id"],
            mandatory=["customer_id"] * 2), timeout=10)), "mandatory"),
        (lambda channel: list(insights_pb2_grpc.InsightsServiceStub(channel).Export(insights_pb2.ExportRequest(
            target=insights_pb2.Target(rule=rule_pb('country = "TR"')), columns=["customer_id"] * 65), timeout=10)),
         "columns"),
    ]
    with grpc.insecure_channel(server.target) as channel:
        for call, field in calls:
            with pytest.raises(grpc.RpcError) as caught:
                call(channel)
            error = SegmentsError.from_rpc_error(caught.value)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
            assert error.violations[0].field == field, error.violations
    _wait_for(lambda: CLIENT_STREAMS.open_count(LOCAL_CLIENT) == 0)  # the refused streams were released


def test_export_schedules_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_schedules, "MAX_EXPORT_SCHEDULES", 2)
    engine = Engine(tz="UTC")
    segment = engine.create_segment("Exported", "order_count >= 1", now_ms=AS_OF)
    schedule = {"op": export_schedules.SCHEDULE, "id": segment.id, "every": "daily", "columns": ["customer_id"]}
    with pytest.raises(SegmentError) as caught:
        engine.segment_command({**schedule, "mandatory": ["customer_id"] * 2}, now_ms=AS_OF)
    assert caught.value.field == "mandatory"
    for _ in range(2):
        engine.segment_command(schedule, now_ms=AS_OF)
    with pytest.raises(SegmentLimitError, match="2 export schedules exist"):
        engine.segment_command(schedule, now_ms=AS_OF)


def test_a_request_message_over_64_mib_is_refused_by_grpc(server: InProcessServer) -> None:
    big = record_to_pb({"customer_id": "big", "ts": AS_OF, "properties": {"email": "x"}})
    big.profile.properties["email"].string_value = "x" * (MAX_REQUEST_MESSAGE_BYTES + 1024)
    options = [("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(server.target, options=options) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Ingest(ingest_pb2.IngestRequest(records=[big]), timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value

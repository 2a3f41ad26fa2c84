"""The gRPC handlers in process, on the tests-only one-shard backend (tests/service_backend.py):
statuses per record, field violations, paging tokens, error mapping, deadlines, health. The real
server (`segments serve`, Ray shards) is tested in tests/test_service_server.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from actors.api import OverloadedError, RecordStatus, ShardUnavailableError
from indexes.durable.engine import MAX_BATCH_RECORDS as ENGINE_MAX_BATCH_RECORDS
from indexes.shard.dense_ids import ShardFullError
from proto.segments.v1 import ingest_pb2, ingest_pb2_grpc, query_pb2, query_pb2_grpc, records_pb2
from service.client import SegmentsClient, rule_pb
from service.client_types import SegmentsError
from service.convert_records import record_to_pb
from service.limits import HEALTH_POLL_INTERVAL_S, MAX_BATCH_RECORDS, MAX_FIELD_VIOLATIONS, MAX_PAGE_SIZE
from tests.service_backend import DurableBackend
from tests.service_inprocess import InProcessServer

AS_OF = 1_800_000_000_000


class FaultyBackend(DurableBackend):
    """The one-shard backend, with failures and delays switched on by a test."""

    fault: BaseException | None = None
    delay_s = 0.0
    healthy = True
    ingest_calls = 0

    async def _gate(self) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fault is not None:
            raise self.fault

    async def ingest(self, raws: list[dict[str, Any]], *, partial: bool, timeout_ms: int | None) -> Any:
        self.ingest_calls += 1
        await self._gate()
        return await super().ingest(raws, partial=partial, timeout_ms=timeout_ms)

    async def count(self, rule: Any, as_of_ms: int | None) -> Any:
        await self._gate()
        return await super().count(rule, as_of_ms)

    def serving(self) -> bool:
        return self.healthy and super().serving()


def order(event_id: str, customer: str, amount: Any = "10.00", ts: int = AS_OF - 86_400_000) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": "order_created", "ts": ts,
            "attrs": {"amount": amount}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = InProcessServer(FaultyBackend(Path(tmp_path_factory.mktemp("handlers"))))
    yield running
    running.stop()


@pytest.fixture
def backend(server: InProcessServer) -> Iterator[FaultyBackend]:
    backend = server.backend
    assert isinstance(backend, FaultyBackend)
    yield backend
    backend.fault, backend.delay_s, backend.healthy = None, 0.0, True


@pytest.fixture
def client(server: InProcessServer) -> Iterator[SegmentsClient]:
    with SegmentsClient(server.target) as c:
        yield c


def test_partial_batch_reports_a_status_per_record(server: InProcessServer, client: SegmentsClient) -> None:
    client.ingest([order("p-0", "pc-0")])
    empty_value = record_to_pb(order("p-3", "pc-3"))
    empty_value.event.attrs["amount"].CopyFrom(records_pb2.Value())  # nothing set: cannot be decoded
    request = ingest_pb2.IngestRequest(partial=True, records=[
        record_to_pb(order("p-1", "pc-1")),
        record_to_pb(order("p-0", "pc-0")),  # accepted before: a duplicate
        record_to_pb(order("p-2", "pc-2", amount="1.001")),  # more digits than the scale
        empty_value,
        records_pb2.Record(),  # no kind
        record_to_pb({"customer_id": "pc-1", "ts": AS_OF, "properties": {"country": "TR"}}),
    ])
    with grpc.insecure_channel(server.target) as channel:
        reply = ingest_pb2_grpc.IngestServiceStub(channel).Ingest(request, timeout=10)
    assert [RecordStatus(s).name for s in reply.statuses] == [
        "ACCEPTED", "DUPLICATE", "REJECTED", "REJECTED", "REJECTED", "ACCEPTED"]
    assert (reply.accepted, reply.duplicates, reply.rejected, reply.errors_truncated) == (2, 1, 3, False)
    assert [(e.index, e.field) for e in reply.errors] == [(2, "attrs.amount"), (3, "attrs.amount"), (4, "")]
    assert client.count("country = \"TR\" and order_count >= 1", AS_OF).count == 1


def test_a_bad_batch_is_rejected_whole_with_field_violations(client: SegmentsClient) -> None:
    before = client.stats()
    with pytest.raises(SegmentsError) as caught:
        client.ingest([order("w-0", "wc-0"), order("w-1", "wc-1", amount="abc"),
                       {**order("w-2", "wc-2"), "type": "order_teleported"}])
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in error.violations] == [
        ("records[1].attrs.amount", "must be a number"), ("records[2].type", "unknown event type 'order_teleported'")]
    after = client.stats()
    assert (after.customers, after.events, after.shards[0].applied_lsn) == (
        before.customers, before.events, before.shards[0].applied_lsn)


def test_violations_are_capped_and_counted(client: SegmentsClient) -> None:
    with pytest.raises(SegmentsError) as caught:
        client.ingest([order(f"v-{i}", "vc", amount="x") for i in range(40)])
    assert len(caught.value.violations) == MAX_FIELD_VIOLATIONS
    assert f"{MAX_FIELD_VIOLATIONS} of 40 field violations" in caught.value.message


@pytest.mark.parametrize(("rule", "field", "reason"), [
    ("count(order_created) >= 1 and count(bogus) > 2", "rule.all[1].event", "unknown event type 'bogus'"),
    ({"all": [{"property": "country", "op": "exists"}, {"property": "tags", "op": "has", "value": "vip"},
              {"event": "order_created", "count": {"op": "gte", "value": "x"}}]},
     "rule.all[2].count.value", "must be a whole number >= 0"),
    ("order_count >= 1 and", "rule.text", "line 1, column 21"),
    ('{"all": [', "rule.json", "line 1, column 10"),
])
def test_bad_rules_name_the_rule_path(client: SegmentsClient, rule: Any, field: str, reason: str) -> None:
    with pytest.raises(SegmentsError) as caught:
        client.count(rule, AS_OF)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field == field and reason in caught.value.violations[0].description


def test_members_pages_cover_every_member_once(server: InProcessServer, client: SegmentsClient) -> None:
    client.ingest([{"customer_id": f"m-{i:05d}", "ts": AS_OF, "properties": {"city": "Paging"}} for i in range(2_345)])
    rule = 'city = "Paging"'
    listed = list(client.members(rule, as_of_ms=AS_OF, page_size=100))
    assert listed == sorted(f"m-{i:05d}" for i in range(2_345))
    first = client.members_page(rule, AS_OF, page_size=10 * MAX_PAGE_SIZE)  # lowered to the maximum
    assert len(first.customer_ids) == 2_345 and first.next_page_token == "" and first.total_count == 2_345

    page = client.members_page(rule, AS_OF, page_size=1_000)
    assert page.next_page_token and page.as_of_ms == AS_OF
    with grpc.insecure_channel(server.target) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        for request, field in [
            (query_pb2.MembersRequest(rule=rule_pb('city = "Elsewhere"'), page_token=page.next_page_token), "page_token"),
            (query_pb2.MembersRequest(rule=rule_pb(rule), page_token=page.next_page_token[:-4] + "AAAA"), "page_token"),
            (query_pb2.MembersRequest(rule=rule_pb(rule), page_token=page.next_page_token, as_of_ms=AS_OF + 1), "as_of_ms"),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                stub.Members(request, timeout=10)
            error = SegmentsError.from_rpc_error(caught.value)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == field
        second = stub.Members(query_pb2.MembersRequest(rule=rule_pb(rule), page_token=page.next_page_token), timeout=10)
    assert list(second.customer_ids) == listed[1_000:2_000] and second.as_of_ms == AS_OF


@pytest.mark.parametrize(("fault", "code"), [
    (OverloadedError("shard 0 has 64 batches queued"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ShardUnavailableError("shard 0 is recovering"), grpc.StatusCode.UNAVAILABLE),
    (ShardFullError("shard 0 is full"), grpc.StatusCode.FAILED_PRECONDITION),
    (TimeoutError("shard 0 did not answer"), grpc.StatusCode.UNAVAILABLE),  # not the caller's deadline
    (KeyError("internal detail"), grpc.StatusCode.INTERNAL),
])
def test_backend_errors_map_to_status_codes(
    client: SegmentsClient, backend: FaultyBackend, fault: BaseException, code: grpc.StatusCode
) -> None:
    backend.fault = fault
    with pytest.raises(SegmentsError) as caught:
        client.count("order_count >= 1", AS_OF)
    assert caught.value.code == code
    if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
        assert caught.value.retry_delay_s == 1
    if code == grpc.StatusCode.INTERNAL:
        assert "internal detail" not in caught.value.message


def test_deadlines_are_honoured(server: InProcessServer, backend: FaultyBackend) -> None:
    backend.delay_s = 1.0
    with SegmentsClient(server.target, timeout_s=0.3, ingest_timeout_s=0.3) as impatient:
        started = time.monotonic()
        with pytest.raises(SegmentsError) as caught:
            impatient.count("order_count >= 1", AS_OF)
        assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and time.monotonic() - started < 0.9
        with pytest.raises(SegmentsError) as caught:
            impatient.ingest([order("late-0", "late-c"), {"customer_id": "late-c", "ts": AS_OF,
                                                          "properties": {"city": "Late"}}])
        assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    backend.delay_s = 0.0
    # The ingest was handed to the backend before the deadline: it finishes (shielded), not half-way.
    with SegmentsClient(server.target) as client:
        deadline = time.monotonic() + 5
        while client.count('city = "Late"', AS_OF).count == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.ingest([order("late-0", "late-c")]).duplicates == 1


def test_health_follows_the_backend(client: SegmentsClient, backend: FaultyBackend) -> None:
    assert client.health() == "SERVING" and client.health("segments.v1.IngestService") == "SERVING"
    backend.healthy = False
    time.sleep(3 * HEALTH_POLL_INTERVAL_S)
    assert client.health() == "NOT_SERVING" and client.health("segments.v1.QueryService") == "NOT_SERVING"
    backend.healthy = True
    time.sleep(3 * HEALTH_POLL_INTERVAL_S)
    assert client.health() == "SERVING"
    with pytest.raises(SegmentsError) as caught:
        client.health("segments.v1.NoSuchService")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_stream_numbers_records_across_batches(client: SegmentsClient) -> None:
    progress: list[tuple[int, int]] = []
    batches = [[order(f"s-{b}-{i}", f"sc-{i}") for i in range(5)] for b in range(3)]
    batches[1][2]["attrs"]["amount"] = "1.234"
    result = client.ingest_stream(batches, partial=True, progress=lambda b, r: progress.append((b, r)))
    assert (result.batches, result.accepted, result.rejected) == (3, 14, 1)
    assert [(e.index, e.field) for e in result.errors] == [(7, "attrs.amount")]
    assert progress == [(1, 5), (2, 10), (3, 15)]

    bad = [[order(f"t-{b}-{i}", "tc") for i in range(4)] for b in range(3)]
    bad[2][1]["ts"] = "yesterday"
    with pytest.raises(SegmentsError) as caught:
        client.ingest_stream(bad)
    assert caught.value.violations[0].field == "records[9].ts" and "8 records of earlier batches" in caught.value.message
    assert client.count("count(order_created where amount = 10) >= 8", AS_OF).count == 1  # tc's 8 are stored


def test_stream_stores_nothing_after_a_failed_batch(client: SegmentsClient) -> None:
    # Batches are read ahead (STREAM_BATCHES_IN_FLIGHT) but stored in order: the batch after the
    # failing one was read, and must not be stored.
    batches = [[order(f"u-{b}-{i}", "uc", amount="3.00") for i in range(3)] for b in range(4)]
    batches[1][0]["ts"] = "yesterday"
    with pytest.raises(SegmentsError) as caught:
        client.ingest_stream(batches)
    assert caught.value.violations[0].field == "records[3].ts" and "3 records of earlier batches" in caught.value.message
    assert client.count("count(order_created where amount = 3) >= 3", AS_OF).count == 1
    assert client.count("count(order_created where amount = 3) >= 4", AS_OF).count == 0


def test_stream_merges_requests_while_busy_and_names_the_bad_one(client: SegmentsClient, backend: FaultyBackend) -> None:
    # A slow backend: requests read meanwhile are merged into larger batches (service/ingest_stream.py).
    backend.delay_s = 0.2
    calls_before = backend.ingest_calls
    good = [[order(f"m-{b}-{i}", f"mc-{b % 3}", amount="4.00") for i in range(2)] for b in range(12)]
    result = client.ingest_stream(good)
    assert (result.batches, result.accepted, result.rejected) == (12, 24, 0)
    assert backend.ingest_calls - calls_before < 12  # some requests went together
    assert client.count("count(order_created where amount = 4) >= 8", AS_OF).count == 3

    # A bad record in a merged batch: the requests before it are stored, the rest are not.
    bad = [[order(f"n-{b}-{i}", "nc", amount="6.00") for i in range(2)] for b in range(12)]
    bad[7][1]["ts"] = "yesterday"
    with pytest.raises(SegmentsError) as caught:
        client.ingest_stream(bad)
    assert caught.value.violations[0].field == "records[15].ts" and "14 records of earlier batches" in caught.value.message
    assert "batch 7 of the stream" in caught.value.message
    assert client.count("count(order_created where amount = 6) >= 14", AS_OF).count == 1
    assert client.count("count(order_created where amount = 6) >= 15", AS_OF).count == 0


def test_declare_and_schema(client: SegmentsClient) -> None:
    assert client.declare([{"property": "tier", "type": "enum", "values": ["gold", "silver"]},
                           {"event": "ticket_opened", "attributes": {"priority": {"type": "number", "scale": 0}}}]) == 2
    schema = client.schema()
    assert schema.properties["tier"] == {"type": "enum", "values": ["gold", "silver"]}
    assert schema.event_types["ticket_opened"] == {"priority": {"type": "number", "scale": 0}}
    assert "order_count" in schema.computed and schema.time_zone == "UTC"
    with pytest.raises(SegmentsError) as caught:
        client.declare([{"property": "tier2", "type": "string"}, {"property": "tier", "type": "string"}])
    assert caught.value.violations[0].field == "declarations[1].property.type.type"
    assert "tier2" not in client.schema().properties  # all or none


def test_oversized_batches_are_refused_before_decoding(server: InProcessServer) -> None:
    assert MAX_BATCH_RECORDS == ENGINE_MAX_BATCH_RECORDS  # the service's bound is the engine's
    erasure = record_to_pb({"forget_customer": "nobody", "ts": 1})
    request = ingest_pb2.IngestRequest(records=[erasure] * 100_001)
    options = [("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel(server.target, options=options) as channel, pytest.raises(grpc.RpcError) as caught:
        ingest_pb2_grpc.IngestServiceStub(channel).Ingest(request, timeout=30)
    error = SegmentsError.from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "records"

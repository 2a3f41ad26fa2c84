"""service/wire_requests.py and actors/placement.py route_wire: records cut out of the bytes requests
came in, routed by customer, arrive at each shard as a serialized IngestRequest of exactly its records,
in order; requests whose top level holds other fields are serialized again, with the same result."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.placement import owners, route_wire
from proto.segments.v1 import ingest_pb2, records_pb2
from service.wire_requests import ReceivedRequest, receive, record_fields, wire_batch
from tests.test_wire_records import wire_records

UNKNOWN_FIELD = b"\x78\x01"  # field 15, varint 1: what a newer client might send


@st.composite
def requests(draw: st.DrawFn) -> ReceivedRequest:
    message = ingest_pb2.IngestRequest(records=draw(st.lists(wire_records(), max_size=8)),
                                       partial=draw(st.booleans()))
    data = message.SerializeToString()
    where = draw(st.sampled_from(["as is", "partial first", "unknown field"]))
    if where == "partial first" and message.partial:
        data = b"\x10\x01" + ingest_pb2.IngestRequest(records=message.records).SerializeToString()
    elif where == "unknown field":
        data += UNKNOWN_FIELD
    return receive(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=3), st.integers(1, 4))
def test_each_shard_gets_its_records_in_order(batch_requests: list[ReceivedRequest], shards: int) -> None:
    records = [record for request in batch_requests for record in request.records]
    batch = wire_batch(batch_requests)
    assert len(batch) == len(records)
    for index, record in enumerate(records):
        assert records_pb2.Record.FromString(batch.record(index)) == record
    routed = route_wire(batch, shards)
    owner_of = owners(batch.customers, shards)
    assert routed.unroutable == [i for i, owner in enumerate(owner_of) if owner < 0]
    for shard in range(shards):
        assert routed.indexes[shard] == [i for i, owner in enumerate(owner_of) if owner == shard]
        received = list(ingest_pb2.IngestRequest.FromString(routed.raws[shard]).records)
        assert received == [records[i] for i in routed.indexes[shard]]
    assert sorted(routed.unroutable + [i for s in range(shards) for i in routed.indexes[s]]) == list(range(len(records)))


def test_customers_are_those_the_records_name() -> None:
    event, profile, erasure, nothing, no_customer = (records_pb2.Record() for _ in range(5))
    event.event.event_id, event.event.customer_id = "e", "c-1"
    profile.profile.customer_id = "c-2"
    profile.profile.SetInParent()
    erasure.erasure.forget_customer = "c-3"
    no_customer.event.event_id = "e-2"
    message = ingest_pb2.IngestRequest(records=[event, profile, erasure, nothing, no_customer])
    assert wire_batch([receive(message.SerializeToString())]).customers == ["c-1", "c-2", "c-3", None, None]


def test_record_fields_read_multi_byte_lengths_and_refuse_other_fields() -> None:
    record = records_pb2.Record()
    record.event.event_id = "x" * 300  # a length of two varint bytes, nested in one of three
    record.event.attrs["note"].string_value = "y" * 20_000
    data = ingest_pb2.IngestRequest(records=[record, record], partial=True).SerializeToString()
    fields = record_fields(data)
    assert fields is not None
    starts, ends = fields
    assert len(starts) == 2 and ends[-1] == len(data) - 2  # the partial field comes last
    assert record_fields(data + UNKNOWN_FIELD) is None

"""IngestRequests as received: the parsed message and the bytes it came in, and the WireBatch the router
routes (actors/api.py), cut from those bytes instead of serializing every record again.

A serialized IngestRequest is a run of fields: each record is one `records` field (tag 0x0a, a varint
length, the serialized Record), and `partial` is a varint field (tag 0x10). Any concatenation of
`records` fields is itself a serialized IngestRequest holding those records in that order, which is
what the router sends each shard: the bytes of its records, cut out of the requests and joined (the
shard parses them in one call, service/wire_records.py reads them). Finding where each record's field
starts and ends costs one look at its tag and length (~0.3 us a record), against ~0.5 us to serialize
a Record again and ~0.7 us to parse it alone on the shard.

The server parses every request anyway (customers for routing, `partial`, a malformed request is
refused before anything is routed), so the bytes are known to be a valid IngestRequest when they are
cut. A request with any other field at its top level (a newer client's) has its records serialized
again instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actors.api import WireBatch
from proto.segments.v1 import ingest_pb2, records_pb2

RECORDS_TAG = 0x0A  # field 1 (records), wire type 2 (length-delimited)
PARTIAL_TAG = 0x10  # field 2 (partial), wire type 0 (varint)


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """An IngestRequest and the bytes it was parsed from (the gRPC handlers' request type)."""

    message: ingest_pb2.IngestRequest
    data: bytes

    @property
    def records(self) -> Sequence[records_pb2.Record]:
        return self.message.records  # type: ignore[no-any-return]

    @property
    def partial(self) -> bool:
        return self.message.partial  # type: ignore[no-any-return]


def receive(data: bytes) -> ReceivedRequest:
    """The request deserializer of Ingest and IngestStream (raises on bytes that are no IngestRequest,
    as the generated one does)."""
    return ReceivedRequest(ingest_pb2.IngestRequest.FromString(data), data)


def received(message: ingest_pb2.IngestRequest) -> ReceivedRequest:
    """A request built in process (tests, tools) as if it had been received."""
    return ReceivedRequest(message, message.SerializeToString())


def record_fields(data: bytes) -> tuple[list[int], list[int]] | None:
    """Start and end offsets of each `records` field in a serialized IngestRequest, in order; None when
    the bytes hold a field other than `records` and `partial` at the top level."""
    starts: list[int] = []
    ends: list[int] = []
    position, size = 0, len(data)
    # Bounded: every turn moves `position` forward by at least two bytes.
    while position < size:
        tag = data[position]
        if tag == RECORDS_TAG:
            start = position
            length = data[position + 1]
            position += 2
            if length >= 0x80:  # a multi-byte varint length (records of 128 bytes or more)
                length &= 0x7F
                shift = 7
                while True:
                    byte = data[position]
                    position += 1
                    length |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
            position += length
            starts.append(start)
            ends.append(position)
        elif tag == PARTIAL_TAG:
            position += 1
            while data[position] >= 0x80:
                position += 1
            position += 1
        else:
            return None
    return (starts, ends) if position == size else None


def _field(record: records_pb2.Record) -> bytes:
    """A Record serialized as one `records` field: tag, varint length, body."""
    body = record.SerializeToString()
    header = bytearray((RECORDS_TAG,))
    length = len(body)
    while length >= 0x80:
        header.append(length & 0x7F | 0x80)
        length >>= 7
    header.append(length)
    return bytes(header) + body


def _customer(record: records_pb2.Record) -> str | None:
    # Of a oneof only the member set reads non-empty, so the first non-empty one is the record's.
    return record.event.customer_id or record.profile.customer_id or record.erasure.forget_customer or None


def wire_batch(requests: Sequence[ReceivedRequest]) -> WireBatch:
    """The records of `requests`, in order, as the router ships them (actors/api.py WireBatch)."""
    parts: list[bytes] = []
    starts: list[int] = []
    ends: list[int] = []
    customers: list[str | None] = []
    offset = 0
    for request in requests:
        records = request.records
        fields = record_fields(request.data)
        if fields is None or len(fields[0]) != len(records):
            data = b"".join(map(_field, records))
            fields = record_fields(data)
            assert fields is not None and len(fields[0]) == len(records)
        else:
            data = request.data
        parts.append(data)
        starts.extend([start + offset for start in fields[0]] if offset else fields[0])
        ends.extend([end + offset for end in fields[1]] if offset else fields[1])
        customers.extend(map(_customer, records))
        offset += len(data)
    return WireBatch(parts[0] if len(parts) == 1 else b"".join(parts), starts, ends, customers)

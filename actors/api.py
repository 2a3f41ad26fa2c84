"""What `service/` may call on the sharded engine: plain Python values in and out, no Ray, no protobuf.

The gRPC handlers (service/) decode protobuf into rule text/JSON and declaration bodies (ingest records
travel on as the bytes they came in, WireBatch, decoded by the shards), call a `SegmentsBackend`, and map
its results and exceptions to messages and status codes:

| raised here | gRPC status |
| --- | --- |
| indexes.records.RecordBatchError (errors name record index, field, reason) | INVALID_ARGUMENT |
| indexes.rules.errors.RuleError (path, reason), indexes.schema.SchemaError | INVALID_ARGUMENT |
| PageTokenError | INVALID_ARGUMENT |
| PredecessorFailedError (an earlier batch of the stream failed: this one was not stored) | the earlier batch's |
| OverloadedError (a shard's bounded queue of work is full) | RESOURCE_EXHAUSTED |
| ShardUnavailableError (a shard is restarting / recovering) | UNAVAILABLE |
| indexes.shard.dense_ids.ShardFullError, indexes.log.LogFailedError | FAILED_PRECONDITION |

`actors.cluster.Cluster` is the implementation (one Ray actor per shard, docs/SERVICE.md).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from indexes.records import RecordError

Rule = str | dict[str, Any]  # text form, JSON text, or the JSON form as a dict


class RecordStatus(enum.IntEnum):
    """Per input record; the values equal segments.v1.RecordStatus."""

    ACCEPTED = 1
    DUPLICATE = 2
    REJECTED = 3


class ShardUnavailableError(RuntimeError):
    """A shard is restarting or replaying its log; retry after a moment."""


class OverloadedError(RuntimeError):
    """A shard has its maximum of in-flight work queued; retry later (backpressure)."""


class PageTokenError(ValueError):
    """A members page token that this server did not issue for this rule."""


class PredecessorFailedError(RuntimeError):
    """An ingest batch given `after` was not stored because that earlier batch failed (or gave up)."""


@dataclass(frozen=True)
class WireBatch:
    """An ingest batch as it came off the wire, with the customer each record names. Routing needs only
    the customer, so the router does not decode the records: it cuts each shard's records out of `data`
    and joins them, and each shard decodes its own (service/wire_records.py), both shards at once.

    `data` is a serialized segments.v1.IngestRequest (or several, back to back); record i is its
    `records` field at data[starts[i]:ends[i]] (tag, length, serialized Record), so any concatenation
    of such fields is a serialized IngestRequest of those records (service/wire_requests.py)."""

    data: bytes
    starts: list[int]
    ends: list[int]
    customers: list[str | None]  # per record: the customer it names; None or "" when it names none

    def __post_init__(self) -> None:
        assert len(self.starts) == len(self.ends) == len(self.customers)

    def __len__(self) -> int:
        return len(self.starts)

    def record(self, index: int) -> bytes:
        """Record `index` as a serialized segments.v1.Record (its field's tag and length cut off)."""
        start, end = self.starts[index], self.ends[index]
        position = start + 1
        while self.data[position] >= 0x80:  # the varint length
            position += 1
        return self.data[position + 1 : end]


@dataclass(frozen=True)
class IngestOutcome:
    accepted: int  # records durable and applied
    duplicates: int  # events whose event_id was accepted before: acknowledged, ignored
    statuses: list[RecordStatus]  # one per input record, in input order
    errors: list[RecordError] = field(default_factory=list)  # rejected records (partial mode), by index

    @property
    def rejected(self) -> int:
        return len(self.errors)


@dataclass(frozen=True)
class CountOutcome:
    count: int
    as_of_ms: int


@dataclass(frozen=True)
class PreviewOutcome:
    count: int
    sample_customer_ids: list[str]  # the smallest member ids in byte order
    rule_text: str  # canonical text form of the rule
    as_of_ms: int


@dataclass(frozen=True)
class MembersPage:
    customer_ids: list[str]  # ascending in UTF-8 byte order, all > `after` of the request
    has_more: bool  # members greater than the last id of this page exist
    total_count: int  # members at as_of_ms over all shards
    as_of_ms: int


@dataclass(frozen=True)
class ShardSnapshotInfo:
    shard: int
    lsn: int
    size_bytes: int
    path: str  # relative to the service's data directory


@dataclass(frozen=True)
class ShardCompactionInfo:
    shard: int
    records_before: int
    records_after: int
    size_bytes_before: int
    size_bytes_after: int


@dataclass(frozen=True)
class ShardStatsInfo:
    shard: int
    state: str  # SERVING, RECOVERING or FAILED
    customers: int
    events: int
    event_ids: int
    applied_lsn: int
    log_size_bytes: int
    snapshot_age_ms: int | None
    records_since_snapshot: int
    path: str  # the shard's directory, relative to the service's data directory
    rss_bytes: int = 0  # resident memory of the shard's process (0: unknown); metrics, deploy/README.md


@dataclass(frozen=True)
class ClusterStats:
    data_dir: str
    time_zone: str
    shards: list[ShardStatsInfo]

    @property
    def customers(self) -> int:
        return sum(s.customers for s in self.shards)

    @property
    def events(self) -> int:
        return sum(s.events for s in self.shards)

    @property
    def log_size_bytes(self) -> int:
        return sum(s.log_size_bytes for s in self.shards)


class SegmentsBackend(Protocol):
    """Coroutines, safe to call concurrently from one asyncio loop (the grpc.aio server's)."""

    async def ingest(self, raws: list[dict[str, Any]], *, partial: bool, timeout_ms: int | None) -> IngestOutcome:
        """RECORDS.md event/profile/erasure dicts. Returns once every accepted record is durable on its
        shard and applied. Without `partial`, one bad record raises RecordBatchError and nothing is
        stored on any shard."""
        ...

    async def ingest_wire(self, batch: WireBatch, *, partial: bool, timeout_ms: int | None,
                          after: asyncio.Future[Any] | None = None) -> IngestOutcome:
        """`ingest` of records still in their wire form (what the gRPC server receives).

        `after` orders batches of one stream: this batch may be validated and reserved at once, but is
        stored only once `after` (the previous batch's ingest) has succeeded; when `after` fails, this
        batch is released and PredecessorFailedError raised, with nothing of it stored."""
        ...

    async def declare(self, bodies: list[dict[str, Any]], ts_ms: int | None) -> int:
        """Schema declaration bodies (docs/SEMANTICS.md), all or none, durable on every shard."""
        ...

    async def schema(self) -> Any:
        """The current indexes.schema.Schema."""
        ...

    async def count(self, rule: Rule, as_of_ms: int | None) -> CountOutcome: ...

    async def preview(self, rule: Rule, as_of_ms: int | None, sample_size: int) -> PreviewOutcome: ...

    async def members_page(self, rule: Rule, as_of_ms: int, after: str | None, page_size: int) -> MembersPage:
        """Members with customer id > `after` (None: from the start), at most `page_size` of them."""
        ...

    async def snapshot(self) -> list[ShardSnapshotInfo]: ...

    async def compact(self) -> list[ShardCompactionInfo]: ...

    async def stats(self) -> ClusterStats: ...

    def serving(self) -> bool:
        """Every shard is up and recovered (the health check's SERVING)."""
        ...

    async def close(self) -> None:
        """Stop accepting work, drain what is in flight, sync logs, stop the shard actors."""
        ...

"""A small typed, synchronous client of the segments gRPC service.

    from service.client import SegmentsClient

    with SegmentsClient("127.0.0.1:50051") as client:
        client.ingest([{"event_id": "e-1", "customer_id": "c-1", "type": "order_created", "ts": 0}])
        client.count("count(order_created) >= 1").count
        for customer_id in client.members("order_count >= 5"):
            ...

Records are RECORDS.md dicts; rules are the text form, JSON text, or the JSON form as a dict.
Every failed call raises SegmentsError (status code, message, field violations). Queries retry
UNAVAILABLE a few times with backoff (a shard restarting); mutations are not retried here: resend
them yourself (ingest is idempotent by event_id, RECORDS.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.api import (
    ClusterStats,
    CountOutcome,
    PreviewOutcome,
    RecordStatus,
    ShardCompactionInfo,
    ShardSnapshotInfo,
    ShardStatsInfo,
)
from indexes.records import RecordBatchError, RecordError
from proto.segments.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
)
from service.auth_channel import open_channel
from service.client_insights import InsightsCalls
from service.client_segments import SegmentCalls
from service.client_types import (
    IngestResult,
    IngestStreamResult,
    MembersPageResult,
    SchemaInfo,
    SegmentsError,
)
from service.convert_records import records_to_pb
from service.convert_schema import declaration_from_body
from service.convert_values import ConversionError
from service.limits import (
    DEFAULT_INGEST_TIMEOUT_S,
    DEFAULT_PAGE_SIZE,
    DEFAULT_QUERY_TIMEOUT_S,
    DEFAULT_SAMPLE_SIZE,
    MAX_BATCH_RECORDS,
    MAX_METADATA_BYTES,
    MAX_REPLY_MESSAGE_BYTES,
    MAX_REQUEST_MESSAGE_BYTES,
)

__all__ = ["SegmentsClient", "SegmentsError"]

T = TypeVar("T")
Rule = str | dict[str, Any]
Progress = Callable[[int, int], None]  # (batches sent, records sent)

SEGMENT_READS = ("GetSegment", "ListSegmentVersions", "ListSegments", "ListTemplates", "SegmentCount",
                 "SegmentMembers", "SegmentSizeHistory", "SegmentChanges", "DryRunEdit")
_RETRY_UNAVAILABLE = {
    "methodConfig": [{
        "name": [
            {"service": "segments.v1.QueryService"},
            {"service": "segments.v1.SchemaService", "method": "GetSchema"},
            {"service": "segments.v1.AdminService", "method": "Stats"},
            *({"service": "segments.v1.SegmentService", "method": m} for m in SEGMENT_READS),
        ],
        "retryPolicy": {
            "maxAttempts": 4, "initialBackoff": "0.2s", "maxBackoff": "2s", "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]
}
CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_REQUEST_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_REPLY_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(_RETRY_UNAVAILABLE)),
)


def rule_pb(rule: Rule) -> query_pb2.Rule:
    """Text form -> Rule.text; JSON text (starting with '{') or a dict -> Rule.json."""
    if isinstance(rule, dict):
        return query_pb2.Rule(json=json.dumps(rule, ensure_ascii=False, sort_keys=True))
    if not isinstance(rule, str):
        raise TypeError("a rule is its text form, JSON text, or the JSON form as a dict")
    return query_pb2.Rule(json=rule) if rule.lstrip().startswith("{") else query_pb2.Rule(text=rule)


def _errors(messages: Iterable[ingest_pb2.RecordError]) -> list[RecordError]:
    return [RecordError(e.index, e.field, e.reason) for e in messages]


class SegmentsClient(SegmentCalls, InsightsCalls):
    def __init__(
        self,
        target: str,
        *,
        timeout_s: float | None = DEFAULT_QUERY_TIMEOUT_S,
        ingest_timeout_s: float | None = DEFAULT_INGEST_TIMEOUT_S,
        channel: grpc.Channel | None = None,
        token: str | None = None,
        tls: bool = False,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        """`target` is HOST:PORT. `timeout_s` is the deadline of queries and admin calls,
        `ingest_timeout_s` of one ingest batch (None: no deadline). `token` is sent on every call;
        TLS is on with `tls` or any TLS file: `tls_ca` checks the server (default: the system's roots),
        `tls_cert`/`tls_key` are this client's certificate for mutual TLS (docs/SECURITY.md)."""
        self.target = target
        self.timeout_s = timeout_s
        self.ingest_timeout_s = ingest_timeout_s
        self._channel = channel if channel is not None else open_channel(
            target, CHANNEL_OPTIONS, token=token, tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key)
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._query = query_pb2_grpc.QueryServiceStub(self._channel)
        self._schema = schema_pb2_grpc.SchemaServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    # --- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SegmentsClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _call(self, method: Callable[..., T], request: Any, timeout_s: float | None) -> T:
        try:
            return method(request, timeout=timeout_s)
        except grpc.RpcError as error:
            raise SegmentsError.from_rpc_error(error) from None

    # --- ingest -----------------------------------------------------------------------------------
    @staticmethod
    def _request(records: list[dict[str, Any]], partial: bool) -> ingest_pb2.IngestRequest:
        if len(records) > MAX_BATCH_RECORDS:
            raise ValueError(f"{len(records)} records in one batch; at most {MAX_BATCH_RECORDS}: split it")
        return ingest_pb2.IngestRequest(records=records_to_pb(records), partial=partial)

    def ingest(self, records: list[dict[str, Any]], partial: bool = False) -> IngestResult:
        """One batch, durable and applied when this returns. Without `partial`, one bad record fails
        the call (SegmentsError INVALID_ARGUMENT, violations `records[i].field`) and nothing is stored.
        A record that cannot be encoded at all raises RecordBatchError before anything is sent."""
        reply = self._call(self._ingest.Ingest, self._request(records, partial), self.ingest_timeout_s)
        return IngestResult(
            accepted=reply.accepted, duplicates=reply.duplicates, rejected=reply.rejected,
            statuses=[RecordStatus(s) for s in reply.statuses], errors=_errors(reply.errors),
            errors_truncated=reply.errors_truncated,
        )

    def ingest_stream(
        self,
        batches: Iterable[list[dict[str, Any]]],
        *,
        partial: bool = False,
        progress: Progress | None = None,
        timeout_s: float | None = None,
    ) -> IngestStreamResult:
        """Many batches on one stream; the server stores each durably before it reads the next.

        Batches are encoded lazily, as gRPC's flow control lets them go, so memory stays at a few
        batches whatever the input. `progress(batches, records)` is called (from gRPC's sending
        thread) as each batch is handed over. `timeout_s` bounds the whole stream (default none).
        An unencodable record raises RecordBatchError with its index in the whole stream; a batch
        the server rejects ends the stream with SegmentsError, the batches before it stay stored."""
        failure: list[BaseException] = []

        def requests() -> Iterator[ingest_pb2.IngestRequest]:
            sent_records = 0
            for sent_batches, batch in enumerate(batches, start=1):
                try:
                    request = self._request(batch, partial)
                except RecordBatchError as exc:
                    shifted = [RecordError(e.index + sent_records, e.field, e.reason) for e in exc.errors]
                    failure.append(RecordBatchError(shifted))
                    return  # the stream ends early; the error is raised below, not the summary
                except ValueError as exc:
                    failure.append(exc)
                    return
                yield request
                sent_records += len(batch)
                if progress is not None:
                    progress(sent_batches, sent_records)

        reply = self._call(self._ingest.IngestStream, requests(), timeout_s)
        if failure:
            failure[0].add_note(f"the {reply.batches} batches sent before it were stored "
                                f"({reply.accepted} records accepted, {reply.duplicates} duplicates)")
            raise failure[0]
        return IngestStreamResult(
            accepted=reply.accepted, duplicates=reply.duplicates, rejected=reply.rejected, batches=reply.batches,
            errors=_errors(reply.errors), errors_truncated=reply.errors_truncated,
        )

    # --- queries ----------------------------------------------------------------------------------
    def count(self, rule: Rule, as_of_ms: int | None = None) -> CountOutcome:
        reply = self._call(self._query.Count, query_pb2.CountRequest(rule=rule_pb(rule), as_of_ms=as_of_ms),
                           self.timeout_s)
        return CountOutcome(reply.count, reply.as_of_ms)

    def preview(self, rule: Rule, as_of_ms: int | None = None, sample_size: int = DEFAULT_SAMPLE_SIZE) -> PreviewOutcome:
        request = query_pb2.PreviewRequest(rule=rule_pb(rule), as_of_ms=as_of_ms, sample_size=sample_size)
        reply = self._call(self._query.Preview, request, self.timeout_s)
        return PreviewOutcome(reply.count, list(reply.sample_customer_ids), reply.rule_text, reply.as_of_ms)

    def members_page(
        self, rule: Rule, as_of_ms: int | None = None, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
    ) -> MembersPageResult:
        """One page; pass `next_page_token` back with the same rule for the next one."""
        request = query_pb2.MembersRequest(
            rule=rule_pb(rule), as_of_ms=None if page_token else as_of_ms, page_size=page_size, page_token=page_token
        )
        reply = self._call(self._query.Members, request, self.timeout_s)
        return MembersPageResult(list(reply.customer_ids), reply.next_page_token, reply.total_count, reply.as_of_ms)

    def members(self, rule: Rule, as_of_ms: int | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[str]:
        """Every member id in byte order, fetched page by page at one instant (the first page's)."""
        wire_rule = rule_pb(rule)  # encoded once: the page token is bound to the rule's exact text
        token = ""
        while True:
            request = query_pb2.MembersRequest(
                rule=wire_rule, as_of_ms=None if token else as_of_ms, page_size=page_size, page_token=token
            )
            reply = self._call(self._query.Members, request, self.timeout_s)
            yield from reply.customer_ids
            token = reply.next_page_token
            if not token:
                return

    # --- schema -----------------------------------------------------------------------------------
    def declare(self, declarations: list[dict[str, Any]], ts_ms: int | None = None) -> int:
        """Declaration bodies (docs/SEMANTICS.md), applied together on every shard or not at all."""
        messages = []
        for index, body in enumerate(declarations):
            try:
                messages.append(declaration_from_body(body))
            except ConversionError as exc:
                raise ValueError(f"declarations[{index}]{'.' + exc.field if exc.field else ''}: {exc.reason}") from None
        reply = self._call(self._schema.Declare, schema_pb2.DeclareRequest(declarations=messages, ts_ms=ts_ms),
                           self.timeout_s)
        return reply.accepted

    def schema(self) -> SchemaInfo:
        reply = self._call(self._schema.GetSchema, schema_pb2.GetSchemaRequest(), self.timeout_s)

        def spec(message: schema_pb2.TypeSpec) -> dict[str, Any]:
            out: dict[str, Any] = {"type": message.type}
            if message.HasField("scale"):
                out["scale"] = message.scale
            if message.values:
                out["values"] = list(message.values)
            return out

        return SchemaInfo(
            properties={p.name: spec(p.type) for p in reply.properties},
            computed=frozenset(p.name for p in reply.properties if p.computed),
            event_types={e.name: {a: spec(s) for a, s in sorted(e.attributes.items())} for e in reply.event_types},
            time_zone=reply.time_zone,
        )

    # --- admin ------------------------------------------------------------------------------------
    def snapshot(self) -> list[ShardSnapshotInfo]:
        reply = self._call(self._admin.Snapshot, admin_pb2.SnapshotRequest(), self.timeout_s)
        return [ShardSnapshotInfo(s.shard, s.lsn, s.size_bytes, s.path) for s in reply.shards]

    def compact(self) -> list[ShardCompactionInfo]:
        reply = self._call(self._admin.Compact, admin_pb2.CompactRequest(), self.timeout_s)
        return [
            ShardCompactionInfo(s.shard, s.records_before, s.records_after, s.size_bytes_before, s.size_bytes_after)
            for s in reply.shards
        ]

    def stats(self) -> ClusterStats:
        reply = self._call(self._admin.Stats, admin_pb2.StatsRequest(), self.timeout_s)
        shards = [
            ShardStatsInfo(
                s.shard, s.state, s.customers, s.events, s.event_ids, s.applied_lsn, s.log_size_bytes,
                s.snapshot_age_ms if s.HasField("snapshot_age_ms") else None, s.records_since_snapshot, s.path,
            )
            for s in reply.shards
        ]
        return ClusterStats(reply.data_dir, reply.time_zone, shards)

    # --- health -----------------------------------------------------------------------------------
    def health(self, service: str = "") -> str:
        """SERVING, NOT_SERVING (a shard is recovering, or the server is shutting down), ...;
        `service` is "" for the whole server or a full name such as segments.v1.QueryService."""
        reply = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), self.timeout_s)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

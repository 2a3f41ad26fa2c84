"""What SegmentsClient returns and raises: plain dataclasses, no protobuf.

Results that have the same shape on both sides of the wire reuse actors/api.py's dataclasses
(CountOutcome, PreviewOutcome, ClusterStats, ShardSnapshotInfo, ShardCompactionInfo).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from actors.api import RecordStatus
from indexes.records import RecordError


@dataclass(frozen=True)
class FieldViolation:
    field: str  # e.g. "records[3].attrs.amount" or "rule.all[2].count.value"
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    type: str  # "campaign" or "segment": what uses a segment that was to be deleted
    subject: str  # its id
    description: str


class SegmentsError(Exception):
    """A call that ended with a status other than OK: the code, the server's message, and the
    BadRequest field violations, RetryInfo delay and PreconditionFailure violations when the server
    sent them."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: list[FieldViolation] | None = None,
        retry_delay_s: float | None = None,
        preconditions: list[PreconditionViolation] | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.violations = violations or []
        self.retry_delay_s = retry_delay_s
        self.preconditions = preconditions or []

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> SegmentsError:
        call: Any = error
        code = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
        message = (call.details() if hasattr(call, "details") else None) or str(error)
        violations: list[FieldViolation] = []
        preconditions: list[PreconditionViolation] = []
        retry_delay_s = None
        status = rpc_status.from_call(call) if hasattr(call, "trailing_metadata") else None
        for detail in status.details if status is not None else ():
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                request = error_details_pb2.BadRequest()
                detail.Unpack(request)
                violations.extend(FieldViolation(v.field, v.description) for v in request.field_violations)
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                retry_delay_s = info.retry_delay.ToTimedelta().total_seconds()
            elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
                failure = error_details_pb2.PreconditionFailure()
                detail.Unpack(failure)
                preconditions.extend(PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations)
        return cls(code, message, violations, retry_delay_s, preconditions)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    rejected: int
    statuses: list[RecordStatus]  # one per record sent, in order
    errors: list[RecordError]  # rejected records (partial mode), at most 1000 listed
    errors_truncated: bool


@dataclass(frozen=True)
class IngestStreamResult:
    accepted: int
    duplicates: int
    rejected: int
    batches: int
    errors: list[RecordError]  # index = position in the whole stream; at most 1000 listed
    errors_truncated: bool


@dataclass(frozen=True)
class MembersPageResult:
    customer_ids: list[str]
    next_page_token: str  # "" on the last page
    total_count: int
    as_of_ms: int


@dataclass(frozen=True)
class SchemaInfo:
    properties: dict[str, dict[str, Any]]  # name -> {"type": .., "scale"?: .., "values"?: ..}
    computed: frozenset[str]  # the properties the engine computes from events
    event_types: dict[str, dict[str, dict[str, Any]]]  # event type -> attribute -> type spec
    time_zone: str

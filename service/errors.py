"""Exceptions -> gRPC status codes with google.rpc details (the table in actors/api.py).

| raised | status | details |
| --- | --- | --- |
| InvalidArgument (handlers), RecordBatchError, RuleError, SchemaError, PageTokenError | INVALID_ARGUMENT | BadRequest |
| OverloadedError, LogBackpressureError | RESOURCE_EXHAUSTED | RetryInfo |
| ShardUnavailableError | UNAVAILABLE | RetryInfo |
| ShardFullError, LogFailedError | FAILED_PRECONDITION | |
| SegmentNotFoundError | NOT_FOUND | |
| SegmentConflictError | ALREADY_EXISTS | |
| SegmentLimitError (a workspace holds the most live segments it may) | RESOURCE_EXHAUSTED | |
| SegmentInUseError | FAILED_PRECONDITION | PreconditionFailure: one violation per user (type "campaign" or "segment") |
| SegmentError (any other) | INVALID_ARGUMENT | BadRequest (the request field: handlers_segments.py names it) |
| PositionExpiredError | OUT_OF_RANGE | |
| DeadlineExceeded (the call's deadline ran out, service/calls.py) | DEADLINE_EXCEEDED | |
| TimeoutError raised by the backend itself (it gave up waiting for a shard) | UNAVAILABLE | RetryInfo |
| anything else | INTERNAL (logged with its traceback; the client sees no internals) | |

Details are built with grpcio-status (`rpc_status.to_status`) and bounded (service/limits.py) so
that they fit any client's metadata limit; the message counts what was left out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from actors.api import OverloadedError, PageTokenError, ShardUnavailableError
from indexes.log import LogBackpressureError, LogFailedError
from indexes.records import RecordBatchError, RecordError
from indexes.rules.errors import RuleError, join
from indexes.schema import SchemaError
from indexes.segments.errors import (
    PositionExpiredError,
    SegmentConflictError,
    SegmentError,
    SegmentInUseError,
    SegmentLimitError,
    SegmentNotFoundError,
)
from indexes.shard.dense_ids import ShardFullError
from service.calls import DeadlineExceeded
from service.limits import (
    MAX_FIELD_BYTES,
    MAX_FIELD_VIOLATIONS,
    MAX_STATUS_MESSAGE_BYTES,
    MAX_VIOLATION_DESCRIPTION_BYTES,
    clip,
)

log = logging.getLogger("segments.service")
Violation = tuple[str, str]  # (field path in the request, what is wrong there)
RETRY_DELAY_S = 1  # suggested to clients in RetryInfo for overload and unavailable shards


class InvalidArgument(Exception):
    """A request field the server cannot use; `violations` name each field (BadRequest)."""

    def __init__(self, violations: Sequence[Violation], message: str | None = None) -> None:
        assert violations
        self.violations = list(violations)
        first_field, first_reason = self.violations[0]
        more = f" (and {len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        super().__init__(message or f"{first_field}: {first_reason}{more}")


def record_violations(errors: Sequence[RecordError], offset: int = 0, name: str = "records") -> list[Violation]:
    """`records[INDEX].FIELD` per rejected record; `offset` turns batch indexes into stream indexes."""
    return [(join(f"{name}[{e.index + offset}]", e.field), e.reason) for e in errors]


def invalid_records(errors: Sequence[RecordError], offset: int = 0, context: str = "") -> InvalidArgument:
    violations = record_violations(errors, offset)
    head = f"{len(errors)} rejected record(s), nothing of the batch was stored"
    first_field, first_reason = violations[0]
    return InvalidArgument(violations, f"{head}{context}: {first_field}: {first_reason}")


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _status(code: int, message: str, details: Sequence[Any] = ()) -> grpc.Status:
    status = status_pb2.Status(code=code, message=clip(message, MAX_STATUS_MESSAGE_BYTES))
    status.details.extend(_pack(d) for d in details)
    return rpc_status.to_status(status)


def bad_request(exc: InvalidArgument) -> grpc.Status:
    shown = exc.violations[:MAX_FIELD_VIOLATIONS]
    request = error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(
            field=clip(field, MAX_FIELD_BYTES), description=clip(reason, MAX_VIOLATION_DESCRIPTION_BYTES)
        )
        for field, reason in shown
    ])
    message = str(exc)
    if len(exc.violations) > len(shown):
        message += f" [{len(shown)} of {len(exc.violations)} field violations in the details]"
    return _status(code_pb2.INVALID_ARGUMENT, message, [request])


def _retry_later(code: int, message: str) -> grpc.Status:
    return _status(code, message, [error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=RETRY_DELAY_S))])


def status_of(exc: BaseException) -> grpc.Status:
    """The status a failed call ends with."""
    if isinstance(exc, InvalidArgument):
        return bad_request(exc)
    if isinstance(exc, RecordBatchError):
        return bad_request(invalid_records(exc.errors))
    if isinstance(exc, RuleError):
        return bad_request(InvalidArgument([(join("rule", exc.path), exc.reason)]))
    if isinstance(exc, SchemaError):
        return bad_request(InvalidArgument([(exc.field, exc.reason)]))
    if isinstance(exc, PageTokenError):
        return bad_request(InvalidArgument([("page_token", str(exc))]))
    if isinstance(exc, OverloadedError | LogBackpressureError):
        return _retry_later(code_pb2.RESOURCE_EXHAUSTED, f"overloaded, retry later: {exc}")
    if isinstance(exc, ShardUnavailableError):
        return _retry_later(code_pb2.UNAVAILABLE, f"unavailable, retry shortly: {exc}")
    if isinstance(exc, ShardFullError | LogFailedError):
        return _status(code_pb2.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, SegmentError | PositionExpiredError):
        return _segment_status(exc)
    if isinstance(exc, DeadlineExceeded):
        return _status(code_pb2.DEADLINE_EXCEEDED, "the call's deadline passed before the server finished")
    if isinstance(exc, TimeoutError):  # the backend's own wait (for a shard), not the caller's deadline
        return _retry_later(code_pb2.UNAVAILABLE, f"the backend timed out, retry shortly: {exc}")
    log.error("internal error", exc_info=exc)
    return _status(code_pb2.INTERNAL, f"internal error ({type(exc).__name__}; logged on the server)")


def _segment_status(exc: SegmentError | PositionExpiredError) -> grpc.Status:
    if isinstance(exc, PositionExpiredError):
        return _status(code_pb2.OUT_OF_RANGE, f"position expired: {exc}")
    if isinstance(exc, SegmentInUseError):
        users = [("campaign", c) for c in exc.campaigns] + [("segment", s) for s in exc.segments]
        failure = error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=kind, subject=clip(subject, MAX_FIELD_BYTES), description=f"{kind} {subject} uses the segment")
            for kind, subject in users[:MAX_FIELD_VIOLATIONS]
        ])
        more = f" [{MAX_FIELD_VIOLATIONS} of {len(users)} users in the details]" if len(users) > MAX_FIELD_VIOLATIONS else ""
        return _status(code_pb2.FAILED_PRECONDITION, str(exc) + more, [failure])
    if isinstance(exc, SegmentNotFoundError):
        return _status(code_pb2.NOT_FOUND, str(exc))
    if isinstance(exc, SegmentConflictError):
        return _status(code_pb2.ALREADY_EXISTS, str(exc))
    if isinstance(exc, SegmentLimitError):
        return _status(code_pb2.RESOURCE_EXHAUSTED, str(exc))
    return bad_request(InvalidArgument([(exc.field or "request", exc.reason)]))


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def rpc(handler: Handler) -> Handler:
    """Run a servicer method; an exception ends the call with its status (status_of) instead."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must become a status; CancelledError passes
            status = status_of(exc)
        await context.abort(status.code, status.details, status.trailing_metadata)

    return wrapped  # type: ignore[return-value]

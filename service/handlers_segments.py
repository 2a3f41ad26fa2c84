"""SegmentService: saved segments, their membership, change log and Watch (segments.proto).

Commands (create, edit, rollback, delete, campaigns) are mutations: shielded once handed to the
backend (service/calls.py). Everything else is a query. Errors: the backend's segment errors map to
NOT_FOUND / ALREADY_EXISTS / FAILED_PRECONDITION / OUT_OF_RANGE in service/errors.py; the other
SegmentErrors and rule errors become BadRequest violations named after the request's fields here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import grpc

from actors.api import OverloadedError, PageTokenError, SegmentsBackend
from actors.api_segments import ChangePosition, SavedSegmentsBackend
from indexes.rules import format_rule
from indexes.rules.errors import RuleError
from indexes.rules.json_form import rule_from_json
from indexes.segments.errors import (
    SegmentConflictError,
    SegmentError,
    SegmentInUseError,
    SegmentNotFoundError,
)
from indexes.segments.templates import template
from indexes.segments.views import SegmentView
from proto.segments.v1 import segments_pb2, segments_pb2_grpc
from service import cursor_token
from service.calls import BackendCalls
from service.convert_rules import DecodedRule, rule_error
from service.convert_segments import (
    change_pb,
    create_command,
    decoded_rule,
    edit_command,
    request_field,
    segment_pb,
    template_pb,
)
from service.errors import InvalidArgument, rpc, status_of
from service.handlers_query import now_ms, page_size_of
from service.limits import (
    DEFAULT_CHANGES_PAGE_SIZE,
    DEFAULT_DRY_RUN_SAMPLES,
    DEFAULT_HEARTBEAT_MS,
    DEFAULT_SEGMENTS_PAGE_SIZE,
    MAX_CHANGES_PAGE_SIZE,
    MAX_HEARTBEAT_MS,
    MAX_SEGMENT_IDS_PER_REQUEST,
    MAX_SEGMENT_REPLY_BYTES,
    MAX_SEGMENTS_PAGE_SIZE,
    MAX_WATCH_STREAMS,
    MIN_HEARTBEAT_MS,
    WATCH_BATCH_CHANGES,
    WATCH_QUEUE_MESSAGES,
    WATCH_SLOW_CONSUMER_S,
)
from service.stream_limits import CLIENT_STREAMS
from service.time_zone import TimeZoneCache
from service.watch_stream import WatchStream

T = TypeVar("T")


class Backend(SegmentsBackend, SavedSegmentsBackend):
    """What this servicer needs: actors.cluster.Cluster is both."""


async def _mapped(call: Awaitable[T], rule: DecodedRule | None = None, rule_field: str = "rule",
                  token_field: str = "page_token") -> T:
    """`call`'s result; a plain SegmentError becomes BadRequest at the request's field, a RuleError at
    the rule's node path (the SegmentError subclasses keep their own codes, service/errors.py), a
    PageTokenError (a position of another cluster) at `token_field`."""
    try:
        return await call
    except RuleError as exc:
        if rule is None:
            raise InvalidArgument([(rule_field, exc.reason)]) from exc
        raise rule_error(exc, rule, rule_field) from exc
    except (SegmentNotFoundError, SegmentConflictError, SegmentInUseError):
        raise
    except SegmentError as exc:
        raise InvalidArgument([(request_field(exc.field) or "request", exc.reason)]) from exc
    except PageTokenError as exc:
        raise InvalidArgument([(token_field, str(exc))]) from exc


def _bounded_page(messages: Sequence[Any], page_size: int) -> int:
    """How many of `messages` a page holds: page_size, fewer when the reply would exceed its bytes."""
    size = 0
    for count, message in enumerate(messages[:page_size]):
        size += message.ByteSize() + 8
        if count > 0 and size > MAX_SEGMENT_REPLY_BYTES:
            return count
    return min(page_size, len(messages))


def _listing_size(requested: int) -> int:
    return DEFAULT_SEGMENTS_PAGE_SIZE if requested == 0 else min(requested, MAX_SEGMENTS_PAGE_SIZE)


def _token(text: str, kind: str, binding: bytes, field: str = "page_token") -> list[Any]:
    try:
        return cursor_token.decode(text, kind, binding)
    except PageTokenError as exc:
        raise InvalidArgument([(field, str(exc))]) from None


def _position(text: str, field: str) -> ChangePosition | None:
    if not text:
        return None
    try:
        return cursor_token.decode_position(text)
    except PageTokenError as exc:
        raise InvalidArgument([(field, str(exc))]) from None


class SegmentServicer(segments_pb2_grpc.SegmentServiceServicer):
    def __init__(self, backend: Backend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls
        self._watch_streams = 0
        self._time_zone = TimeZoneCache(backend, calls)

    # --- commands -------------------------------------------------------------------------------
    async def _command(self, context: grpc.aio.ServicerContext, command: dict, rule: DecodedRule | None,
                       rule_field: str = "rule") -> segments_pb2.Segment:
        view: SegmentView = await self._calls.mutation(
            context, _mapped(self._backend.segment_command(command), rule, rule_field))
        return segment_pb(view)

    @rpc
    async def CreateSegment(self, request: segments_pb2.CreateSegmentRequest,
                            context: grpc.aio.ServicerContext) -> segments_pb2.CreateSegmentResponse:
        found = template(request.template_id) if request.template_id else None
        command, rule = create_command(request, found)
        field = "rule" if found is None else "template_id"
        return segments_pb2.CreateSegmentResponse(segment=await self._command(context, command, rule, field))

    @rpc
    async def EditSegment(self, request: segments_pb2.EditSegmentRequest,
                          context: grpc.aio.ServicerContext) -> segments_pb2.EditSegmentResponse:
        command, rule = edit_command(request)
        return segments_pb2.EditSegmentResponse(segment=await self._command(context, command, rule))

    @rpc
    async def RollbackSegment(self, request: segments_pb2.RollbackSegmentRequest,
                              context: grpc.aio.ServicerContext) -> segments_pb2.RollbackSegmentResponse:
        command = {"op": "rollback", "id": request.segment_id, "version": request.version}
        return segments_pb2.RollbackSegmentResponse(segment=await self._command(context, command, None, "version"))

    @rpc
    async def DeleteSegment(self, request: segments_pb2.DeleteSegmentRequest,
                            context: grpc.aio.ServicerContext) -> segments_pb2.DeleteSegmentResponse:
        command = {"op": "delete", "id": request.segment_id}
        return segments_pb2.DeleteSegmentResponse(segment=await self._command(context, command, None))

    @rpc
    async def AttachCampaign(self, request: segments_pb2.AttachCampaignRequest,
                             context: grpc.aio.ServicerContext) -> segments_pb2.AttachCampaignResponse:
        command = {"op": "attach_campaign", "id": request.segment_id, "campaign": request.campaign_id,
                   "active": request.active if request.HasField("active") else True}
        return segments_pb2.AttachCampaignResponse(segment=await self._command(context, command, None))

    @rpc
    async def DetachCampaign(self, request: segments_pb2.DetachCampaignRequest,
                             context: grpc.aio.ServicerContext) -> segments_pb2.DetachCampaignResponse:
        command = {"op": "detach_campaign", "id": request.segment_id, "campaign": request.campaign_id}
        return segments_pb2.DetachCampaignResponse(segment=await self._command(context, command, None))

    # --- definitions ----------------------------------------------------------------------------
    async def _query(self, context: grpc.aio.ServicerContext, call: Awaitable[T], token_field: str = "page_token") -> T:
        return await self._calls.query(context, _mapped(call, token_field=token_field))

    @rpc
    async def GetSegment(self, request: segments_pb2.GetSegmentRequest,
                         context: grpc.aio.ServicerContext) -> segments_pb2.GetSegmentResponse:
        version = request.version if request.HasField("version") else None
        view = await self._query(context, self._backend.get_segment(request.segment_id, version, request.include_deleted))
        return segments_pb2.GetSegmentResponse(segment=segment_pb(view))

    @rpc
    async def ListSegmentVersions(self, request: segments_pb2.ListSegmentVersionsRequest,
                                  context: grpc.aio.ServicerContext) -> segments_pb2.ListSegmentVersionsResponse:
        views = await self._query(context, self._backend.segment_versions(request.segment_id, request.include_deleted))
        binding = cursor_token.binding_of("versions", request.segment_id, request.include_deleted)
        start = int(_token(request.page_token, "versions", binding)[0]) if request.page_token else 0
        rest = [segment_pb(v) for v in views[start : start + _listing_size(request.page_size)]]
        taken = _bounded_page(rest, len(rest))
        end = start + taken
        token = cursor_token.encode("versions", binding, [end]) if end < len(views) else ""
        return segments_pb2.ListSegmentVersionsResponse(versions=rest[:taken], next_page_token=token)

    @rpc
    async def ListSegments(self, request: segments_pb2.ListSegmentsRequest,
                           context: grpc.aio.ServicerContext) -> segments_pb2.ListSegmentsResponse:
        name, tag = request.name_contains or None, request.tag or None
        found = await self._query(context, self._backend.list_segments(name, tag, request.include_deleted))
        # Creation order over every segment ever made: stable while segments are created and deleted.
        order = {v.id: i for i, v in enumerate(await self._query(context, self._backend.list_segments(None, None, True)))}
        binding = cursor_token.binding_of("segments", name, tag, request.include_deleted)
        after = int(_token(request.page_token, "segments", binding)[0]) if request.page_token else -1
        rest = [v for v in found if order[v.id] > after]
        page = [segment_pb(v) for v in rest[: _listing_size(request.page_size)]]
        taken = _bounded_page(page, len(page))
        token = cursor_token.encode("segments", binding, [order[rest[taken - 1].id]]) if taken < len(rest) else ""
        return segments_pb2.ListSegmentsResponse(segments=page[:taken], next_page_token=token, total_count=len(found))

    @rpc
    async def ListTemplates(self, request: segments_pb2.ListTemplatesRequest,
                            context: grpc.aio.ServicerContext) -> segments_pb2.ListTemplatesResponse:
        schema = await self._calls.query(context, self._backend.schema())
        out = []
        for found in self._backend.segment_templates():
            try:
                text = format_rule(rule_from_json(found.rule, schema))
            except RuleError:  # a template naming something this workspace's schema lacks
                text = ""
            out.append(template_pb(found, text))
        return segments_pb2.ListTemplatesResponse(templates=out)

    # --- membership -----------------------------------------------------------------------------
    @rpc
    async def SegmentCount(self, request: segments_pb2.SegmentCountRequest,
                           context: grpc.aio.ServicerContext) -> segments_pb2.SegmentCountResponse:
        as_of = request.as_of_ms if request.HasField("as_of_ms") else None
        outcome = await self._query(context, self._backend.segment_count(request.segment_id, as_of))
        reply = segments_pb2.SegmentCountResponse(count=outcome.count, as_of_ms=outcome.as_of_ms,
                                                  clock_ms=outcome.clock_ms, active=outcome.active)
        if outcome.last_update_ms is not None:
            reply.last_update_ms = outcome.last_update_ms
        return reply

    @rpc
    async def SegmentMembers(self, request: segments_pb2.SegmentMembersRequest,
                             context: grpc.aio.ServicerContext) -> segments_pb2.SegmentMembersResponse:
        binding = cursor_token.binding_of("members", request.segment_id)
        if request.page_token:
            as_of, after = _token(request.page_token, "members", binding)
            if request.HasField("as_of_ms") and request.as_of_ms != as_of:
                raise InvalidArgument([("as_of_ms", "differs from the page token's; leave it unset on later pages")])
        else:
            as_of, after = (request.as_of_ms if request.HasField("as_of_ms") else now_ms()), None
        size = page_size_of(request.page_size)
        page = await self._query(context, self._backend.segment_members_page(request.segment_id, as_of, after, size))
        token = ""
        if page.has_more:
            assert page.customer_ids, "a page with more to come holds at least one id"
            token = cursor_token.encode("members", binding, [as_of, page.customer_ids[-1]])
        return segments_pb2.SegmentMembersResponse(customer_ids=page.customer_ids, next_page_token=token,
                                                   total_count=page.total_count, as_of_ms=as_of)

    @rpc
    async def SegmentSizeHistory(self, request: segments_pb2.SegmentSizeHistoryRequest,
                                 context: grpc.aio.ServicerContext) -> segments_pb2.SegmentSizeHistoryResponse:
        days = await self._query(context, self._backend.segment_size_history(request.segment_id))
        return segments_pb2.SegmentSizeHistoryResponse(
            days=[segments_pb2.DailySize(date=day.isoformat(), count=count) for day, count in days],
            time_zone=await self._time_zone.get(context))

    @rpc
    async def DryRunEdit(self, request: segments_pb2.DryRunEditRequest,
                         context: grpc.aio.ServicerContext) -> segments_pb2.DryRunEditResponse:
        rule = decoded_rule(request)
        if rule is None:
            raise InvalidArgument([("rule", "required: the rule the segment would get")])
        as_of = request.as_of_ms if request.HasField("as_of_ms") else None
        samples = request.samples if request.HasField("samples") else DEFAULT_DRY_RUN_SAMPLES
        run = await self._calls.query(context, _mapped(self._backend.dry_run_edit(request.segment_id, rule.value, as_of,
                                                                                 samples), rule))
        return segments_pb2.DryRunEditResponse(
            as_of_ms=run.as_of_ms, before_count=run.before_count, after_count=run.after_count, entering=run.entering,
            exiting=run.exiting, entering_samples=run.entering_samples, exiting_samples=run.exiting_samples)

    # --- the change log -------------------------------------------------------------------------
    @rpc
    async def SegmentChanges(self, request: segments_pb2.SegmentChangesRequest,
                             context: grpc.aio.ServicerContext) -> segments_pb2.SegmentChangesResponse:
        ids = _segment_ids(request.segment_ids)
        customer = request.customer_id or None
        from_ms = request.from_ms if request.HasField("from_ms") else None
        to_ms = request.to_ms if request.HasField("to_ms") else None
        binding = cursor_token.binding_of("changes", ids, customer, from_ms, to_ms)
        if request.page_token:
            if request.position_token:
                raise InvalidArgument([("position_token", "give either page_token or position_token")])
            position: ChangePosition | None = _position_values(_token(request.page_token, "changes", binding))
        else:
            position = _position(request.position_token, "position_token")
        size = DEFAULT_CHANGES_PAGE_SIZE if request.page_size == 0 else min(request.page_size, MAX_CHANGES_PAGE_SIZE)
        changes = self._backend.segment_changes(ids, position, customer, from_ms, to_ms, size)
        outcome = await self._query(context, changes, "page_token" if request.page_token else "position_token")
        values = cursor_token.position_values(outcome.position)
        return segments_pb2.SegmentChangesResponse(
            changes=[change_pb(c) for c in outcome.changes],
            next_page_token=cursor_token.encode("changes", binding, values) if outcome.has_more else "",
            position_token=cursor_token.encode_position(outcome.position))

    async def Watch(self, request: segments_pb2.WatchRequest, context: grpc.aio.ServicerContext) -> None:
        try:
            ids = _segment_ids(request.segment_ids)
            start = _position(request.position_token, "position_token")
            heartbeat_ms = request.heartbeat_interval_ms or DEFAULT_HEARTBEAT_MS
            if not MIN_HEARTBEAT_MS <= heartbeat_ms <= MAX_HEARTBEAT_MS:
                raise InvalidArgument([("heartbeat_interval_ms", f"must be {MIN_HEARTBEAT_MS}..{MAX_HEARTBEAT_MS} (or 0)")])
            if self._watch_streams >= MAX_WATCH_STREAMS:
                raise OverloadedError(f"{MAX_WATCH_STREAMS} Watch streams are open on this server; retry later")
            async def next_changes(position: ChangePosition | None, wait_ms: int) -> Any:
                return await _mapped(self._backend.next_changes(ids, position, wait_ms, WATCH_BATCH_CHANGES),
                                     token_field="position_token")

            stream = WatchStream(next_changes, start, heartbeat_ms=heartbeat_ms, queue_messages=WATCH_QUEUE_MESSAGES,
                                 slow_consumer_s=WATCH_SLOW_CONSUMER_S, closing=self._calls.closing)
            with CLIENT_STREAMS.hold(context, "Watch"):
                self._watch_streams += 1
                try:
                    await stream.run(context.write)
                finally:
                    self._watch_streams -= 1
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must become a status; CancelledError passes
            if isinstance(exc, PageTokenError):
                exc = InvalidArgument([("position_token", str(exc))])
            status = status_of(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)


def _segment_ids(requested: Any) -> list[str] | None:
    """The segment ids a change-log read or Watch filters on (none: every segment)."""
    if len(requested) > MAX_SEGMENT_IDS_PER_REQUEST:
        raise InvalidArgument([("segment_ids", f"{len(requested)} ids; at most {MAX_SEGMENT_IDS_PER_REQUEST}")])
    return list(requested) or None


def _position_values(values: list[Any]) -> ChangePosition:
    try:
        return cursor_token.position_from_values(values, "page token")
    except PageTokenError as exc:
        raise InvalidArgument([("page_token", str(exc))]) from None

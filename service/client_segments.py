"""The saved-segment calls of SegmentsClient (service/client.py), and what they return.

    with SegmentsClient("127.0.0.1:50051") as client:
        vip = client.create_segment("VIP", "order_count > 10 and lifetime_value > 1000", tags=["vip"])
        client.segment_count(vip.id).count
        for change in client.segment_changes([vip.id]):            # the whole log, page by page
            ...
        with client.watch([vip.id]) as stream:                      # live, resumable
            for message in stream:
                save(message.position_token)                        # resume later: watch(..., position_token=)

Segments come back as indexes.segments.views.SegmentView, dry runs as DryRun, counts as
actors.api_segments.SegmentCountOutcome; errors as SegmentsError (NOT_FOUND, ALREADY_EXISTS,
FAILED_PRECONDITION with `.preconditions` naming what uses a segment, OUT_OF_RANGE for an expired
position).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import grpc

from actors.api_segments import SegmentCountOutcome
from indexes.segments.views import DryRun, SegmentView
from proto.segments.v1 import segments_pb2, segments_pb2_grpc
from service.client_types import SegmentsError
from service.convert_segments import REASON_NAMES
from service.limits import DEFAULT_CHANGES_PAGE_SIZE, DEFAULT_PAGE_SIZE, DEFAULT_SEGMENTS_PAGE_SIZE

T = TypeVar("T")
Rule = str | dict[str, Any]
# Watch reconnects after these (the server restarted or shut down, or this client read too slowly),
# from the last position it received.
RESUMABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
MAX_WATCH_RECONNECTS = 20
WATCH_RECONNECT_DELAY_S = 0.5


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    rule: dict[str, Any]
    rule_text: str


@dataclass(frozen=True)
class Change:
    segment_id: str
    customer_id: str | None  # None: erased since
    entered: bool
    at_ms: int
    reason: str  # event, profile, erasure, time, rule_edit, activated, dependency
    event_id: str | None
    version: int | None
    upstream: str | None
    shard: int
    seq: int


@dataclass(frozen=True)
class ChangesPageResult:
    changes: list[Change]
    next_page_token: str  # "" when the log held nothing more
    position_token: str  # the position after this page (for watch)


@dataclass(frozen=True)
class WatchMessage:
    changes: list[Change]  # empty for a heartbeat
    heartbeat: bool
    server_time_ms: int | None  # heartbeats only
    position_token: str  # after this message


def segment_of(message: segments_pb2.Segment) -> SegmentView:
    return SegmentView(
        id=message.segment_id, version=message.version, latest_version=message.latest_version, name=message.name,
        description=message.description, rule=json.loads(message.rule.json), rule_text=message.rule_text,
        tags=tuple(message.tags), active=message.active, created_at_ms=message.created_at_ms,
        version_at_ms=message.version_at_ms, updated_at_ms=message.updated_at_ms, op=message.op,
        from_version=message.from_version if message.HasField("from_version") else None, deleted=message.deleted,
        campaigns=tuple((c.campaign_id, c.active) for c in message.campaigns),
    )


def change_of(message: segments_pb2.SegmentChange) -> Change:
    return Change(
        segment_id=message.segment_id, customer_id=message.customer_id or None, entered=message.entered,
        at_ms=message.at_ms, reason=REASON_NAMES[message.reason], event_id=message.event_id or None,
        version=message.version if message.HasField("version") else None,
        upstream=message.upstream_segment_id or None, shard=message.shard, seq=message.seq,
    )


class SegmentCalls:
    """Mixed into SegmentsClient, which sets these."""

    timeout_s: float | None
    _channel: grpc.Channel

    def _call(self, method: Callable[..., T], request: Any, timeout_s: float | None) -> T: ...  # type: ignore[empty-body]

    def _rule_pb(self, rule: Rule) -> Any:
        from service.client import rule_pb

        return rule_pb(rule)

    @property
    def _segments_stub(self) -> segments_pb2_grpc.SegmentServiceStub:
        stub = self.__dict__.get("_segments_stub_")
        if stub is None:
            stub = self.__dict__["_segments_stub_"] = segments_pb2_grpc.SegmentServiceStub(self._channel)
        return stub

    def _segment_call(self, name: str, request: Any) -> Any:
        return self._call(getattr(self._segments_stub, name), request, self.timeout_s)

    # --- commands -------------------------------------------------------------------------------
    def create_segment(self, name: str, rule: Rule, *, segment_id: str = "", description: str = "",
                       tags: Sequence[str] = (), active: bool = True) -> SegmentView:
        request = segments_pb2.CreateSegmentRequest(segment_id=segment_id, name=name, description=description,
                                                    rule=self._rule_pb(rule), tags=list(tags), active=active)
        return segment_of(self._segment_call("CreateSegment", request).segment)

    def create_from_template(self, template_id: str, *, segment_id: str = "", name: str = "", description: str = "",
                             tags: Sequence[str] = (), active: bool = True) -> SegmentView:
        """A copy of a template; name, description and tags default to the template's."""
        request = segments_pb2.CreateSegmentRequest(template_id=template_id, segment_id=segment_id, name=name,
                                                    description=description, tags=list(tags), active=active)
        return segment_of(self._segment_call("CreateSegment", request).segment)

    def edit_segment(self, segment_id: str, *, name: str | None = None, description: str | None = None,
                     rule: Rule | None = None, tags: Sequence[str] | None = None,
                     active: bool | None = None) -> SegmentView:
        request = segments_pb2.EditSegmentRequest(segment_id=segment_id, name=name, description=description,
                                                  active=active)
        if rule is not None:
            request.rule.CopyFrom(self._rule_pb(rule))
        if tags is not None:
            request.tags.extend(tags)
            request.set_tags = True
        return segment_of(self._segment_call("EditSegment", request).segment)

    def rollback_segment(self, segment_id: str, version: int) -> SegmentView:
        request = segments_pb2.RollbackSegmentRequest(segment_id=segment_id, version=version)
        return segment_of(self._segment_call("RollbackSegment", request).segment)

    def delete_segment(self, segment_id: str) -> SegmentView:
        """FAILED_PRECONDITION (SegmentsError.preconditions) while something active uses it."""
        request = segments_pb2.DeleteSegmentRequest(segment_id=segment_id)
        return segment_of(self._segment_call("DeleteSegment", request).segment)

    def attach_campaign(self, segment_id: str, campaign_id: str, active: bool = True) -> SegmentView:
        request = segments_pb2.AttachCampaignRequest(segment_id=segment_id, campaign_id=campaign_id, active=active)
        return segment_of(self._segment_call("AttachCampaign", request).segment)

    def detach_campaign(self, segment_id: str, campaign_id: str) -> SegmentView:
        request = segments_pb2.DetachCampaignRequest(segment_id=segment_id, campaign_id=campaign_id)
        return segment_of(self._segment_call("DetachCampaign", request).segment)

    # --- definitions ----------------------------------------------------------------------------
    def get_segment(self, segment_id: str, version: int | None = None, include_deleted: bool = False) -> SegmentView:
        request = segments_pb2.GetSegmentRequest(segment_id=segment_id, version=version, include_deleted=include_deleted)
        return segment_of(self._segment_call("GetSegment", request).segment)

    def segment_versions(self, segment_id: str, include_deleted: bool = False) -> list[SegmentView]:
        """Every version, oldest first (fetched page by page)."""
        out: list[SegmentView] = []
        token = ""
        while True:  # bounded: every page advances, the last has no token
            request = segments_pb2.ListSegmentVersionsRequest(segment_id=segment_id, include_deleted=include_deleted,
                                                              page_token=token)
            reply = self._segment_call("ListSegmentVersions", request)
            out.extend(segment_of(v) for v in reply.versions)
            token = reply.next_page_token
            if not token:
                return out

    def list_segments(self, name_contains: str = "", tag: str = "", include_deleted: bool = False,
                      page_size: int = DEFAULT_SEGMENTS_PAGE_SIZE) -> list[SegmentView]:
        """Every matching segment in creation order (fetched page by page)."""
        out: list[SegmentView] = []
        token = ""
        while True:  # bounded: every page advances, the last has no token
            request = segments_pb2.ListSegmentsRequest(name_contains=name_contains, tag=tag,
                                                       include_deleted=include_deleted, page_size=page_size,
                                                       page_token=token)
            reply = self._segment_call("ListSegments", request)
            out.extend(segment_of(s) for s in reply.segments)
            token = reply.next_page_token
            if not token:
                return out

    def segment_templates(self) -> list[TemplateInfo]:
        reply = self._segment_call("ListTemplates", segments_pb2.ListTemplatesRequest())
        return [TemplateInfo(t.template_id, t.name, t.description, tuple(t.tags), json.loads(t.rule.json), t.rule_text)
                for t in reply.templates]

    # --- membership -----------------------------------------------------------------------------
    def segment_count(self, segment_id: str, as_of_ms: int | None = None) -> SegmentCountOutcome:
        reply = self._segment_call("SegmentCount", segments_pb2.SegmentCountRequest(segment_id=segment_id,
                                                                                    as_of_ms=as_of_ms))
        return SegmentCountOutcome(reply.count, reply.as_of_ms, reply.clock_ms,
                                   reply.last_update_ms if reply.HasField("last_update_ms") else None, reply.active)

    def segment_members(self, segment_id: str, as_of_ms: int | None = None,
                        page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[str]:
        """Every member id in byte order, page by page at one instant (the first page's)."""
        token = ""
        while True:  # bounded: every page advances, the last has no token
            request = segments_pb2.SegmentMembersRequest(segment_id=segment_id, as_of_ms=None if token else as_of_ms,
                                                         page_size=page_size, page_token=token)
            reply = self._segment_call("SegmentMembers", request)
            yield from reply.customer_ids
            token = reply.next_page_token
            if not token:
                return

    def segment_size_history(self, segment_id: str) -> list[tuple[dt.date, int]]:
        reply = self._segment_call("SegmentSizeHistory", segments_pb2.SegmentSizeHistoryRequest(segment_id=segment_id))
        return [(dt.date.fromisoformat(d.date), d.count) for d in reply.days]

    def dry_run_edit(self, segment_id: str, rule: Rule, as_of_ms: int | None = None, samples: int = 10) -> DryRun:
        request = segments_pb2.DryRunEditRequest(segment_id=segment_id, rule=self._rule_pb(rule), as_of_ms=as_of_ms,
                                                 samples=samples)
        reply = self._segment_call("DryRunEdit", request)
        return DryRun(reply.as_of_ms, reply.before_count, reply.after_count, reply.entering, reply.exiting,
                      list(reply.entering_samples), list(reply.exiting_samples))

    # --- the change log -------------------------------------------------------------------------
    def segment_changes_page(self, segment_ids: Sequence[str] = (), *, customer_id: str = "",
                             from_ms: int | None = None, to_ms: int | None = None,
                             page_size: int = DEFAULT_CHANGES_PAGE_SIZE, page_token: str = "",
                             position_token: str = "") -> ChangesPageResult:
        request = segments_pb2.SegmentChangesRequest(segment_ids=list(segment_ids), customer_id=customer_id,
                                                     from_ms=from_ms, to_ms=to_ms, page_size=page_size,
                                                     page_token=page_token, position_token=position_token)
        reply = self._segment_call("SegmentChanges", request)
        return ChangesPageResult([change_of(c) for c in reply.changes], reply.next_page_token, reply.position_token)

    def segment_changes(self, segment_ids: Sequence[str] = (), *, customer_id: str = "", from_ms: int | None = None,
                        to_ms: int | None = None, page_size: int = DEFAULT_CHANGES_PAGE_SIZE,
                        position_token: str = "") -> Iterator[Change]:
        """Every entry of the log matching the filters (from the oldest kept, or after position_token)."""
        token = ""
        while True:  # bounded: every page advances, the last has no token
            page = self.segment_changes_page(segment_ids, customer_id=customer_id, from_ms=from_ms, to_ms=to_ms,
                                             page_size=page_size, page_token=token,
                                             position_token="" if token else position_token)
            yield from page.changes
            token = page.next_page_token
            if not token:
                return

    def watch(self, segment_ids: Sequence[str] = (), *, position_token: str = "", heartbeat_ms: int = 0,
              reconnect: bool = True) -> WatchStream:
        """Membership changes as they happen (from now, or after position_token). With `reconnect`,
        the stream resumes by itself from the last position received after UNAVAILABLE or
        RESOURCE_EXHAUSTED (a server restart, a slow read), up to MAX_WATCH_RECONNECTS times in a row."""
        return WatchStream(self._segments_stub, list(segment_ids), position_token, heartbeat_ms, reconnect)


class WatchStream:
    """An iterator of WatchMessage; `position_token` is the position after the last one. Close it (or use
    `with`) to end the call; `close()` may be called from another thread."""

    def __init__(self, stub: segments_pb2_grpc.SegmentServiceStub, segment_ids: list[str], position_token: str,
                 heartbeat_ms: int, reconnect: bool) -> None:
        self._stub = stub
        self._segment_ids = segment_ids
        self.position_token = position_token
        self._heartbeat_ms = heartbeat_ms
        self._reconnect = reconnect
        self._call: Any = None
        self._closed = threading.Event()
        self.reconnects = 0

    def _open(self) -> Any:
        request = segments_pb2.WatchRequest(segment_ids=self._segment_ids, position_token=self.position_token,
                                            heartbeat_interval_ms=self._heartbeat_ms)
        return self._stub.Watch(request)

    def __iter__(self) -> Iterator[WatchMessage]:
        failures = 0
        while not self._closed.is_set():  # bounded: at most MAX_WATCH_RECONNECTS failures in a row
            self._call = self._open()
            try:
                for reply in self._call:
                    failures = 0
                    self.position_token = reply.position_token
                    if reply.HasField("heartbeat"):
                        yield WatchMessage([], True, reply.heartbeat.server_time_ms, reply.position_token)
                    else:
                        yield WatchMessage([change_of(c) for c in reply.changes.changes], False, None,
                                           reply.position_token)
                return
            except grpc.RpcError as error:
                if self._closed.is_set():
                    return
                failed = SegmentsError.from_rpc_error(error)
                failures += 1
                if not self._reconnect or failed.code not in RESUMABLE or failures > MAX_WATCH_RECONNECTS:
                    raise failed from None
                self.reconnects += 1
                time.sleep(WATCH_RECONNECT_DELAY_S * failures)

    def close(self) -> None:
        self._closed.set()
        if self._call is not None:
            self._call.cancel()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

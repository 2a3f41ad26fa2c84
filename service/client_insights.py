"""The InsightsService calls of SegmentsClient (service/client.py).

    with SegmentsClient("127.0.0.1:50051") as client:
        report = client.insights(segment_id="vip")                       # indexes.insights.Insights
        client.summarize("marketing_consent = true", language="tr")      # (summary, rule text)
        client.explain("c-42", segment_id="vip")                         # indexes.explain.Explanation
        for row in client.member_profiles(["email", "lifetime_value"], segment_id="vip",
                                          sort_by="lifetime_value", descending=True):
            ...                                                          # (customer id, {column: value})
        with open("vip.csv", "w") as out:
            client.export(out, ["customer_id", "email"], segment_id="vip", mandatory=["email"])

A call names its customers by `rule` (text or JSON dict) or `segment_id`, not both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO, TypeVar

import grpc

from indexes.explain import ExplainNode, Explanation
from indexes.insights import Insights, Ranked
from indexes.profiles import CustomerProfile
from proto.segments.v1 import insights_pb2, insights_pb2_grpc, query_pb2

T = TypeVar("T")
Rule = str | dict[str, Any]
EXPORT_TIMEOUT_S = 3600.0  # a whole export stream's deadline


@dataclass(frozen=True)
class ExportOutcome:
    rows: int
    left_out: int
    members: int
    as_of_ms: int
    path: str | None = None  # ExportToFile: under the server's data directory


def target_pb(rule: Rule | None, segment_id: str | None) -> insights_pb2.Target:
    if (rule is None) == (segment_id is None):
        raise ValueError("give a rule or a segment_id")
    if segment_id is not None:
        return insights_pb2.Target(segment_id=segment_id)
    form = query_pb2.Rule(json=json.dumps(rule)) if isinstance(rule, dict) else query_pb2.Rule(text=rule)
    return insights_pb2.Target(rule=form)


def insights_from_pb(reply: insights_pb2.InsightsResponse) -> Insights:
    def ranked(values: insights_pb2.RankedList) -> tuple[Ranked, ...]:
        return tuple(Ranked(v.value, v.segment, v.base) for v in values.values)

    return Insights(
        members=reply.members, base=reply.base, orders=(reply.orders.segment, reply.orders.base),
        revenue=(Decimal(reply.revenue.segment), Decimal(reply.revenue.base)),
        buyers=(reply.buyers.segment, reply.buyers.base), ltv_edges=tuple(Decimal(e) for e in reply.ltv_edges),
        ltv_buckets=tuple((b.segment, b.base) for b in reply.ltv_buckets),
        breakdowns={name: ranked(reply.breakdowns[name]) for name in sorted(reply.breakdowns)},
        window_days=reply.window_days,
        window_tops={name: ranked(reply.window_tops[name]) for name in sorted(reply.window_tops)},
    )


def _node(node: insights_pb2.ExplainNode) -> ExplainNode:
    return ExplainNode(node.path, node.kind, node.rule, node.holds,
                       json.loads(node.facts_json) if node.facts_json else {}, [_node(c) for c in node.children])


class InsightsCalls:
    """Mixed into SegmentsClient, whose `_channel`, `_call` and `timeout_s` it uses."""

    _channel: grpc.Channel
    timeout_s: float | None

    def _call(self, method: Callable[..., T], request: Any, timeout_s: float | None) -> T: ...  # type: ignore[empty-body]

    @property
    def _insights(self) -> insights_pb2_grpc.InsightsServiceStub:
        stub = self.__dict__.get("_insights_stub")
        if stub is None:
            stub = self.__dict__["_insights_stub"] = insights_pb2_grpc.InsightsServiceStub(self._channel)
        return stub

    def insights(self, rule: Rule | None = None, *, segment_id: str | None = None, as_of_ms: int | None = None,
                 window_days: int = 30, top: int = 10) -> Insights:
        reply = self.insights_reply(rule, segment_id=segment_id, as_of_ms=as_of_ms, window_days=window_days, top=top)
        return insights_from_pb(reply)

    def insights_reply(self, rule: Rule | None = None, *, segment_id: str | None = None, as_of_ms: int | None = None,
                       window_days: int = 30, top: int = 10) -> insights_pb2.InsightsResponse:
        request = insights_pb2.InsightsRequest(target=target_pb(rule, segment_id), as_of_ms=as_of_ms,
                                               window_days=window_days, top=top)
        return self._call(self._insights.Insights, request, self.timeout_s)

    def summarize(self, rule: Rule | None = None, *, segment_id: str | None = None,
                  language: str = "en") -> tuple[str, str]:
        """(summary, the rule's text form)."""
        request = insights_pb2.SummarizeRequest(target=target_pb(rule, segment_id), language=language)
        reply = self._call(self._insights.Summarize, request, self.timeout_s)
        return reply.summary, reply.rule_text

    def explain(self, customer_id: str, rule: Rule | None = None, *, segment_id: str | None = None,
                as_of_ms: int | None = None) -> Explanation:
        request = insights_pb2.ExplainRequest(customer_id=customer_id, target=target_pb(rule, segment_id),
                                              as_of_ms=as_of_ms)
        reply = self._call(self._insights.Explain, request, self.timeout_s)
        return Explanation(reply.customer_id, reply.as_of_ms, _node(reply.root))

    def customer_profile(self, customer_id: str, *, recent: int = 20, as_of_ms: int | None = None) -> CustomerProfile:
        request = insights_pb2.CustomerProfileRequest(customer_id=customer_id, recent_events=recent, as_of_ms=as_of_ms)
        reply = self._call(self._insights.CustomerProfile, request, self.timeout_s)
        return CustomerProfile(reply.customer_id, dict(sorted(reply.properties.items())),
                               dict(sorted(reply.computed.items())),
                               [(e.type, e.ts, json.loads(e.attributes_json)) for e in reply.recent_events])

    def member_profiles_page(self, columns: Sequence[str], rule: Rule | None = None, *, segment_id: str | None = None,
                             sort_by: str = "customer_id", descending: bool = False, page_size: int = 100,
                             page_token: str = "", as_of_ms: int | None = None) -> insights_pb2.MemberProfilesResponse:
        request = insights_pb2.MemberProfilesRequest(
            target=target_pb(rule, segment_id), columns=list(columns), sort_by=sort_by, descending=descending,
            page_size=page_size, page_token=page_token, as_of_ms=as_of_ms)
        return self._call(self._insights.MemberProfiles, request, self.timeout_s)

    def member_profiles(self, columns: Sequence[str], rule: Rule | None = None, *, segment_id: str | None = None,
                        sort_by: str = "customer_id", descending: bool = False, page_size: int = 100,
                        as_of_ms: int | None = None) -> Iterator[tuple[str, dict[str, str | None]]]:
        """Every member once, in sort order: (customer id, {column: value or None})."""
        token = ""
        # Bounded by the members: each page moves the cursor forward.
        while True:
            page = self.member_profiles_page(columns, rule, segment_id=segment_id, sort_by=sort_by,
                                             descending=descending, page_size=page_size, page_token=token,
                                             as_of_ms=as_of_ms)
            for row in page.rows:
                yield row.customer_id, {c: (v if p else None) for c, v, p in zip(columns, row.values, row.present,
                                                                                 strict=True)}
            token = page.next_page_token
            if not token:
                return
            as_of_ms = page.as_of_ms

    def export(self, out: TextIO, columns: Sequence[str], rule: Rule | None = None, *, segment_id: str | None = None,
               mandatory: Sequence[str] = (), as_of_ms: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               timeout_s: float | None = EXPORT_TIMEOUT_S) -> ExportOutcome:
        """Stream the CSV into `out`; `progress(done, total)` per chunk."""
        request = insights_pb2.ExportRequest(target=target_pb(rule, segment_id), columns=list(columns),
                                             mandatory=list(mandatory), as_of_ms=as_of_ms)

        def stream() -> ExportOutcome:
            for chunk in self._insights.Export(request, timeout=timeout_s):
                if progress is not None:
                    progress(chunk.done, chunk.total)
                if chunk.WhichOneof("part") == "csv":
                    out.write(chunk.csv)
                else:
                    s = chunk.summary
                    return ExportOutcome(s.rows, s.left_out, s.members, s.as_of_ms)
            raise RuntimeError("the export stream ended without its summary")

        return self._call(lambda _request, timeout: stream(), request, timeout_s)

    def export_to_file(self, columns: Sequence[str], rule: Rule | None = None, *, segment_id: str | None = None,
                       mandatory: Sequence[str] = (), as_of_ms: int | None = None, file_name: str = "",
                       timeout_s: float | None = EXPORT_TIMEOUT_S) -> ExportOutcome:
        export = insights_pb2.ExportRequest(target=target_pb(rule, segment_id), columns=list(columns),
                                            mandatory=list(mandatory), as_of_ms=as_of_ms)
        reply = self._call(self._insights.ExportToFile,
                           insights_pb2.ExportToFileRequest(export=export, file_name=file_name), timeout_s)
        s = reply.summary
        return ExportOutcome(s.rows, s.left_out, s.members, s.as_of_ms, reply.path)

    # --- scheduled exports ---------------------------------------------------------------------
    def create_export_schedule(self, segment_id: str, columns: Sequence[str], *, every: str = "daily",
                               mode: str = "full", mandatory: Sequence[str] = (),
                               schedule_id: str = "") -> insights_pb2.ExportSchedule:
        request = insights_pb2.CreateExportScheduleRequest(
            segment_id=segment_id, schedule_id=schedule_id, every=every, mode=mode, columns=list(columns),
            mandatory=list(mandatory))
        return self._call(self._insights.CreateExportSchedule, request, self.timeout_s).schedule

    def list_export_schedules(self, segment_id: str = "", *,
                              include_deleted: bool = False) -> list[insights_pb2.ExportSchedule]:
        request = insights_pb2.ListExportSchedulesRequest(segment_id=segment_id, include_deleted=include_deleted)
        return list(self._call(self._insights.ListExportSchedules, request, self.timeout_s).schedules)

    def delete_export_schedule(self, schedule_id: str) -> insights_pb2.ExportSchedule:
        request = insights_pb2.DeleteExportScheduleRequest(schedule_id=schedule_id)
        return self._call(self._insights.DeleteExportSchedule, request, self.timeout_s).schedule

    def export_runs(self, schedule_id: str, *, page_size: int = 100) -> Iterator[insights_pb2.ExportRun]:
        """Every run of the schedule, newest first, page by page."""
        token = ""
        # Bounded by the history: each page moves the cursor back.
        while True:
            request = insights_pb2.ListExportRunsRequest(schedule_id=schedule_id, page_size=page_size,
                                                         page_token=token)
            reply = self._call(self._insights.ListExportRuns, request, self.timeout_s)
            yield from reply.runs
            token = reply.next_page_token
            if not token:
                return

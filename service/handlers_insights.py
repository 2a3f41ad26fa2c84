"""InsightsService (insights.proto): insights, summaries, explanations, member profiles, exports.

All calls are queries under the call's deadline (service/calls.py); Export checks the deadline between
chunks. Errors: a bad rule is INVALID_ARGUMENT at target.rule.<node path>, a bad column at
columns[i] / sort_by / mandatory[i]; an unknown segment or customer NOT_FOUND. Export streams CSV text
in chunks of at most EXPORT_CHUNK_BYTES (plus one row), well under the reply size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from actors.cluster_insights import LANGUAGES, ExportBatch
from actors.export_scheduler import write_export_file
from indexes.csv_text import csv_header, csv_rows
from indexes.explain import ExplainNode, UnknownCustomerError
from indexes.insights import MAX_TOP, MAX_WINDOW_DAYS, Insights, Ranked
from indexes.profiles import MAX_COLUMNS, MAX_RECENT_EVENTS, UnknownColumnError
from indexes.rules.errors import RuleError
from indexes.segments.errors import SegmentError
from indexes.segments.export_schedules import ExportRun, ExportSchedule
from proto.segments.v1 import insights_pb2, insights_pb2_grpc
from service import cursor_token
from service.calls import BackendCalls, DeadlineExceeded, remaining_s
from service.convert_rules import DecodedRule, rule_error, rule_from_pb
from service.errors import InvalidArgument, status_of
from service.handlers_query import now_ms
from service.stream_limits import CLIENT_STREAMS

T = TypeVar("T")
EXPORT_CHUNK_BYTES = 256 * 1024
ROWS_PER_WRITE = 256
DEFAULT_PROFILE_PAGE = 100
MAX_PROFILE_PAGE = 1000
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,120}\.csv$")
EXPORTS_DIR = "exports"


class NotFound(Exception):
    """Mapped to NOT_FOUND (an unknown customer)."""


def _target(target: insights_pb2.Target, field: str = "target") -> tuple[str | None, DecodedRule | None]:
    kind = target.WhichOneof("target")
    if kind is None:
        raise InvalidArgument([(field, "required: segment_id or rule")])
    if kind == "segment_id":
        if not target.segment_id:
            raise InvalidArgument([(f"{field}.segment_id", "empty")])
        return target.segment_id, None
    return None, rule_from_pb(target.rule, f"{field}.rule")


def _columns(names: Any, field: str = "columns") -> list[str]:
    columns = [str(n) for n in names]
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise InvalidArgument([(field, f"1..{MAX_COLUMNS} columns (got {len(columns)})")])
    return columns


async def _mapped(call: Awaitable[T], rule: DecodedRule | None, columns: list[str] | None = None,
                  extra: dict[str, str] | None = None) -> T:
    """RuleError at the rule's node path, UnknownColumnError at the column's field."""
    try:
        return await call
    except RuleError as exc:
        if rule is None:
            raise InvalidArgument([("target.segment_id", exc.reason)]) from exc
        raise rule_error(exc, rule, "target.rule") from exc
    except UnknownColumnError as exc:
        fields = [f"columns[{i}]" for i, name in enumerate(columns or []) if name == exc.column]
        fields += [field for field, name in (extra or {}).items() if name == exc.column]
        raise InvalidArgument([(field, str(exc)) for field in fields or ["columns"]]) from exc
    except UnknownCustomerError as exc:
        raise NotFound(f"no customer {exc.args[0]!r}") from exc


def found(handler: Any) -> Any:
    """Like service/errors.py `rpc`, with NotFound (an unknown customer) as NOT_FOUND."""

    async def call(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure must become a status; CancelledError passes
            status = status_of(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)
        return None

    call.__name__ = handler.__name__
    call.__doc__ = handler.__doc__
    return call


def _ranked(values: tuple[Ranked, ...]) -> insights_pb2.RankedList:
    return insights_pb2.RankedList(values=[insights_pb2.RankedValue(value=r.value, segment=r.segment, base=r.base)
                                           for r in values])


def insights_pb(report: Insights, as_of_ms: int) -> insights_pb2.InsightsResponse:
    aov = report.average_order_value()
    return insights_pb2.InsightsResponse(
        members=report.members, base=report.base,
        orders=insights_pb2.Pair(segment=report.orders[0], base=report.orders[1]),
        revenue=insights_pb2.MoneyPair(segment=str(report.revenue[0]), base=str(report.revenue[1])),
        buyers=insights_pb2.Pair(segment=report.buyers[0], base=report.buyers[1]),
        average_order_value=insights_pb2.MoneyPair(segment="" if aov[0] is None else str(aov[0]),
                                                   base="" if aov[1] is None else str(aov[1])),
        ltv_edges=[str(e) for e in report.ltv_edges],
        ltv_buckets=[insights_pb2.Pair(segment=s, base=b) for s, b in report.ltv_buckets],
        breakdowns={name: _ranked(values) for name, values in report.breakdowns.items()},
        window_days=report.window_days,
        window_tops={name: _ranked(values) for name, values in report.window_tops.items()},
        as_of_ms=as_of_ms,
    )


def _node_pb(node: ExplainNode) -> insights_pb2.ExplainNode:
    return insights_pb2.ExplainNode(
        path=node.path, kind=node.kind, rule=node.rule, holds=node.holds,
        facts_json=json.dumps(node.facts, ensure_ascii=False, sort_keys=True, default=str) if node.facts else "",
        children=[_node_pb(child) for child in node.children])


class _CsvChunks:
    """CSV text cut into chunks of about EXPORT_CHUNK_BYTES at row boundaries."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()

    def header(self, columns: list[str]) -> None:
        self._buffer.write(csv_header(columns))

    def rows(self, rows: list[tuple[str | None, ...]]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(rows), ROWS_PER_WRITE):
            self._buffer.write(csv_rows(rows[start:start + ROWS_PER_WRITE]))  # the csv module's dialect
            if self._buffer.tell() >= EXPORT_CHUNK_BYTES:  # characters: >= bytes / 4, a bound all the same
                out.append(self.take())
        return out

    def take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


class InsightsServicer(insights_pb2_grpc.InsightsServiceServicer):
    def __init__(self, backend: Any, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls

    @found
    async def Insights(self, request: insights_pb2.InsightsRequest,
                       context: grpc.aio.ServicerContext) -> insights_pb2.InsightsResponse:
        segment_id, rule = _target(request.target)
        window = request.window_days or 30
        top = request.top or 10
        if not 1 <= window <= MAX_WINDOW_DAYS:
            raise InvalidArgument([("window_days", f"1..{MAX_WINDOW_DAYS}")])
        if not 1 <= top <= MAX_TOP:
            raise InvalidArgument([("top", f"1..{MAX_TOP}")])
        as_of = request.as_of_ms if request.HasField("as_of_ms") else None
        report, at_ms = await self._calls.query(context, _mapped(self._backend.insights(
            segment_id, None if rule is None else rule.value, as_of, window_days=window, top=top), rule))
        return insights_pb(report, at_ms)

    @found
    async def Summarize(self, request: insights_pb2.SummarizeRequest,
                        context: grpc.aio.ServicerContext) -> insights_pb2.SummarizeResponse:
        segment_id, rule = _target(request.target)
        language = request.language or "en"
        if language not in LANGUAGES:
            raise InvalidArgument([("language", f"one of {', '.join(LANGUAGES)}")])
        summary, text = await self._calls.query(context, _mapped(self._backend.summarize(
            segment_id, None if rule is None else rule.value, language), rule))
        return insights_pb2.SummarizeResponse(summary=summary, rule_text=text, language=language)

    @found
    async def Explain(self, request: insights_pb2.ExplainRequest,
                      context: grpc.aio.ServicerContext) -> insights_pb2.ExplainResponse:
        segment_id, rule = _target(request.target)
        if not request.customer_id:
            raise InvalidArgument([("customer_id", "required")])
        as_of = request.as_of_ms if request.HasField("as_of_ms") else now_ms()
        explanation = await self._calls.query(context, _mapped(self._backend.explain(
            segment_id, None if rule is None else rule.value, request.customer_id, as_of), rule))
        return insights_pb2.ExplainResponse(customer_id=explanation.customer_id, member=explanation.node.holds,
                                            root=_node_pb(explanation.node), as_of_ms=explanation.as_of_ms)

    @found
    async def CustomerProfile(self, request: insights_pb2.CustomerProfileRequest,
                              context: grpc.aio.ServicerContext) -> insights_pb2.CustomerProfileResponse:
        if not request.customer_id:
            raise InvalidArgument([("customer_id", "required")])
        if not 0 <= request.recent_events <= MAX_RECENT_EVENTS:
            raise InvalidArgument([("recent_events", f"0..{MAX_RECENT_EVENTS}")])
        as_of = request.as_of_ms if request.HasField("as_of_ms") else None
        profile = await self._calls.query(context, _mapped(self._backend.customer_profile(
            request.customer_id, as_of, request.recent_events), None))
        return insights_pb2.CustomerProfileResponse(
            customer_id=profile.customer_id, properties=profile.properties,
            computed={k: v for k, v in profile.computed.items() if v is not None},
            recent_events=[insights_pb2.ProfileEvent(type=t, ts=ts, attributes_json=json.dumps(
                attrs, ensure_ascii=False, sort_keys=True, default=str)) for t, ts, attrs in profile.recent_events])

    @found
    async def MemberProfiles(self, request: insights_pb2.MemberProfilesRequest,
                             context: grpc.aio.ServicerContext) -> insights_pb2.MemberProfilesResponse:
        segment_id, rule = _target(request.target)
        columns = _columns(request.columns)
        sort_by = request.sort_by or "customer_id"
        size = DEFAULT_PROFILE_PAGE if request.page_size == 0 else min(request.page_size, MAX_PROFILE_PAGE)
        if size < 0:
            raise InvalidArgument([("page_size", f"0..{MAX_PROFILE_PAGE}")])
        target_key = ("segment", segment_id) if rule is None else ("rule", rule.digest)
        binding = cursor_token.binding_of("profiles", target_key, columns, sort_by, request.descending)
        after = None
        as_of = request.as_of_ms if request.HasField("as_of_ms") else now_ms()
        if request.page_token:
            try:
                as_of, missing, value, customer = cursor_token.decode(request.page_token, "profiles", binding)
            except (ValueError, Exception) as exc:  # PageTokenError or a token of the wrong shape
                raise InvalidArgument([("page_token", str(exc))]) from None
            after = (bool(missing), value, str(customer))
        rows, has_more, total = await self._calls.query(context, _mapped(self._backend.profile_page(
            segment_id, None if rule is None else rule.value, as_of, columns, sort_by, request.descending, after,
            size), rule, columns, {"sort_by": sort_by}))
        token = ""
        if has_more and rows:
            missing, value, customer = rows[-1][0]
            token = cursor_token.encode("profiles", binding, [as_of, missing, value, customer])
        return insights_pb2.MemberProfilesResponse(
            rows=[insights_pb2.ProfileRow(customer_id=key[2], values=["" if v is None else v for v in values],
                                          present=[v is not None for v in values]) for key, values in rows],
            next_page_token=token, total_count=total, as_of_ms=as_of)

    # --- exports -------------------------------------------------------------------------------
    def _export_args(self, request: insights_pb2.ExportRequest, field: str = "") -> tuple[Any, ...]:
        segment_id, rule = _target(request.target, f"{field}target")
        columns = _columns(request.columns, f"{field}columns")
        mandatory = [str(m) for m in request.mandatory]
        if len(mandatory) > len(columns):  # each names a column once at most: bounded by the columns
            raise InvalidArgument([(f"{field}mandatory", f"{len(mandatory)} entries for {len(columns)} columns")])
        bad = [(f"{field}mandatory[{i}]", "must be one of the columns") for i, m in enumerate(mandatory)
               if m not in columns]
        if bad:
            raise InvalidArgument(bad)
        as_of = request.as_of_ms if request.HasField("as_of_ms") else now_ms()
        return segment_id, rule, columns, mandatory, as_of

    async def _batches(self, context: grpc.aio.ServicerContext, segment_id: str | None, rule: DecodedRule | None,
                       columns: list[str], mandatory: list[str], as_of: int) -> AsyncIterator[ExportBatch]:
        """The backend's batches; errors before the first mapped like the other calls; the deadline
        checked between batches."""
        stream = self._backend.export_rows(segment_id, None if rule is None else rule.value, columns, mandatory, as_of)
        try:
            extra = {f"mandatory[{i}]": m for i, m in enumerate(mandatory)}
            # Bounded: the backend's stream is finite.
            while True:
                seconds = remaining_s(context)
                if seconds is not None and seconds <= 0:
                    raise DeadlineExceeded
                try:
                    batch = await self._calls.query(context, _mapped(stream.__anext__(), rule, columns, extra))
                except StopAsyncIteration:
                    return
                yield batch
        finally:
            await stream.aclose()

    async def Export(self, request: insights_pb2.ExportRequest,
                     context: grpc.aio.ServicerContext) -> AsyncIterator[insights_pb2.ExportChunk]:
        try:
            with CLIENT_STREAMS.hold(context, "Export"):
                async with contextlib.aclosing(self._export_chunks(request, context)) as chunks:
                    async for chunk in chunks:
                        yield chunk
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure ends the stream with its status
            if isinstance(exc, NotFound):
                await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            status = status_of(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)

    async def _export_chunks(self, request: insights_pb2.ExportRequest,
                             context: grpc.aio.ServicerContext) -> AsyncIterator[insights_pb2.ExportChunk]:
        segment_id, rule, columns, mandatory, as_of = self._export_args(request)
        chunks = _CsvChunks()
        chunks.header(columns)
        last = ExportBatch([], 0, 0, 0)
        async for batch in self._batches(context, segment_id, rule, columns, mandatory, as_of):
            last = batch
            for text in chunks.rows(batch.rows):
                yield insights_pb2.ExportChunk(csv=text, done=batch.done, total=batch.total)
        tail = chunks.take()
        if tail:
            yield insights_pb2.ExportChunk(csv=tail, done=last.done, total=last.total)
        rows = last.done - last.left_out
        yield insights_pb2.ExportChunk(summary=insights_pb2.ExportSummary(
            rows=rows, left_out=last.left_out, members=last.total, as_of_ms=as_of), done=last.done, total=last.total)

    @found
    async def ExportToFile(self, request: insights_pb2.ExportToFileRequest,
                           context: grpc.aio.ServicerContext) -> insights_pb2.ExportToFileResponse:
        segment_id, rule, columns, mandatory, as_of = self._export_args(request.export, "export.")
        name = request.file_name or f"export-{as_of}.csv"
        if not FILE_NAME.match(name) or name.startswith("."):
            raise InvalidArgument([("file_name", "letters, digits, '.', '_', '-', ending in .csv")])
        summary = await write_export_file(Path(self._backend.data_dir) / EXPORTS_DIR / name,
                                          self._batches(context, segment_id, rule, columns, mandatory, as_of), columns)
        return insights_pb2.ExportToFileResponse(path=f"{EXPORTS_DIR}/{name}", summary=insights_pb2.ExportSummary(
            rows=summary.rows, left_out=summary.left_out, members=summary.members, as_of_ms=as_of))


    # --- scheduled exports ---------------------------------------------------------------------
    async def _schedule_command(self, context: grpc.aio.ServicerContext, command: dict) -> ExportSchedule:
        return await self._calls.mutation(context, _schedule_errors(self._backend.export_schedule_command(command)))

    @found
    async def CreateExportSchedule(self, request: insights_pb2.CreateExportScheduleRequest,
                                   context: grpc.aio.ServicerContext) -> insights_pb2.CreateExportScheduleResponse:
        command: dict[str, Any] = {"op": "schedule_export", "id": request.segment_id, "every": request.every,
                                   "mode": request.mode or "full", "columns": list(request.columns),
                                   "mandatory": list(request.mandatory)}
        if request.schedule_id:
            command["schedule"] = request.schedule_id
        schedule = await self._schedule_command(context, command)
        return insights_pb2.CreateExportScheduleResponse(schedule=schedule_pb(schedule))

    @found
    async def DeleteExportSchedule(self, request: insights_pb2.DeleteExportScheduleRequest,
                                   context: grpc.aio.ServicerContext) -> insights_pb2.DeleteExportScheduleResponse:
        schedule = await self._schedule_command(context, {"op": "unschedule_export", "schedule": request.schedule_id})
        return insights_pb2.DeleteExportScheduleResponse(schedule=schedule_pb(schedule))

    @found
    async def ListExportSchedules(self, request: insights_pb2.ListExportSchedulesRequest,
                                  context: grpc.aio.ServicerContext) -> insights_pb2.ListExportSchedulesResponse:
        found_ = await self._calls.query(context, self._backend.export_schedules(
            request.segment_id or None, request.include_deleted))
        return insights_pb2.ListExportSchedulesResponse(schedules=[schedule_pb(s) for s in found_])

    @found
    async def ListExportRuns(self, request: insights_pb2.ListExportRunsRequest,
                             context: grpc.aio.ServicerContext) -> insights_pb2.ListExportRunsResponse:
        schedule = await self._calls.query(context, self._backend.export_schedule(request.schedule_id))
        size = DEFAULT_PROFILE_PAGE if request.page_size == 0 else min(max(request.page_size, 1), MAX_PROFILE_PAGE)
        binding = cursor_token.binding_of("export-runs", request.schedule_id)
        runs = list(reversed(schedule.runs))  # newest first
        start = 0
        if request.page_token:
            try:
                (before_due,) = cursor_token.decode(request.page_token, "export-runs", binding)
            except Exception as exc:  # noqa: BLE001 - PageTokenError or a token of the wrong shape
                raise InvalidArgument([("page_token", str(exc))]) from None
            # Keyset: the runs older than the last one shown (runs are appended in due order).
            start = next((i for i, run in enumerate(runs) if run.due_ms < int(before_due)), len(runs))
        page = runs[start:start + size]
        token = cursor_token.encode("export-runs", binding, [page[-1].due_ms]) if start + size < len(runs) else ""
        return insights_pb2.ListExportRunsResponse(runs=[run_pb(r) for r in page], next_page_token=token)


async def _schedule_errors(call: Awaitable[T]) -> T:
    """A plain SegmentError names a field of the request (NOT_FOUND / ALREADY_EXISTS keep their codes)."""
    try:
        return await call
    except SegmentError as exc:
        if type(exc) is not SegmentError:
            raise
        field = {"id": "segment_id", "schedule": "schedule_id"}.get(exc.field or "", exc.field or "request")
        raise InvalidArgument([(field, exc.reason)]) from exc


def run_pb(run: ExportRun) -> insights_pb2.ExportRun:
    return insights_pb2.ExportRun(due_ms=run.due_ms, at_ms=run.at_ms, rows=run.rows, left_out=run.left_out,
                                  members=run.members, path=run.path, mode=run.mode)


def schedule_pb(schedule: ExportSchedule) -> insights_pb2.ExportSchedule:
    last = schedule.last_run
    return insights_pb2.ExportSchedule(
        schedule_id=schedule.id, segment_id=schedule.segment_id, every=schedule.every, mode=schedule.mode,
        columns=list(schedule.columns), mandatory=list(schedule.mandatory), created_at_ms=schedule.created_at_ms,
        deleted=schedule.deleted, runs=len(schedule.runs), last_run=None if last is None else run_pb(last))

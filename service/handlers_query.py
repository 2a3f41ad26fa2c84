"""QueryService: Count, Preview, Members (paged by opaque tokens, service/page_token.py)."""

from __future__ import annotations

import time

import grpc

from actors.api import SegmentsBackend
from indexes.rules.errors import RuleError
from proto.segments.v1 import query_pb2, query_pb2_grpc
from service import page_token
from service.calls import BackendCalls
from service.convert_rules import DecodedRule, rule_error, rule_from_pb
from service.errors import InvalidArgument, rpc
from service.limits import DEFAULT_PAGE_SIZE, DEFAULT_SAMPLE_SIZE, MAX_PAGE_SIZE, MAX_SAMPLE_SIZE


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def page_size_of(requested: int) -> int:
    """0 means the default; larger than the maximum is lowered to it (a page must fit a reply)."""
    return DEFAULT_PAGE_SIZE if requested == 0 else min(requested, MAX_PAGE_SIZE)


def sample_size_of(requested: int) -> int:
    return DEFAULT_SAMPLE_SIZE if requested == 0 else min(requested, MAX_SAMPLE_SIZE)


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls

    @rpc
    async def Count(self, request: query_pb2.CountRequest, context: grpc.aio.ServicerContext) -> query_pb2.CountResponse:
        rule = rule_from_pb(request.rule)
        as_of = request.as_of_ms if request.HasField("as_of_ms") else None
        try:
            outcome = await self._calls.query(context, self._backend.count(rule.value, as_of))
        except RuleError as exc:
            raise rule_error(exc, rule) from exc
        return query_pb2.CountResponse(count=outcome.count, as_of_ms=outcome.as_of_ms)

    @rpc
    async def Preview(
        self, request: query_pb2.PreviewRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.PreviewResponse:
        rule = rule_from_pb(request.rule)
        as_of = request.as_of_ms if request.HasField("as_of_ms") else None
        size = sample_size_of(request.sample_size)
        try:
            outcome = await self._calls.query(context, self._backend.preview(rule.value, as_of, size))
        except RuleError as exc:
            raise rule_error(exc, rule) from exc
        assert len(outcome.sample_customer_ids) <= size
        return query_pb2.PreviewResponse(
            count=outcome.count,
            sample_customer_ids=outcome.sample_customer_ids,
            rule_text=outcome.rule_text,
            as_of_ms=outcome.as_of_ms,
        )

    @rpc
    async def Members(
        self, request: query_pb2.MembersRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.MembersResponse:
        rule = rule_from_pb(request.rule)
        as_of, after = self._position(request, rule)
        size = page_size_of(request.page_size)
        try:
            page = await self._calls.query(context, self._backend.members_page(rule.value, as_of, after, size))
        except RuleError as exc:
            raise rule_error(exc, rule) from exc
        assert len(page.customer_ids) <= size and page.as_of_ms == as_of
        assert after is None or not page.customer_ids or page.customer_ids[0] > after
        next_token = ""
        if page.has_more:
            assert page.customer_ids, "a page with more to come holds at least one id"
            next_token = page_token.encode(page_token.PageToken(rule.digest, as_of, page.customer_ids[-1]))
        return query_pb2.MembersResponse(
            customer_ids=page.customer_ids, next_page_token=next_token, total_count=page.total_count, as_of_ms=as_of
        )

    @staticmethod
    def _position(request: query_pb2.MembersRequest, rule: DecodedRule) -> tuple[int, str | None]:
        """(as_of_ms, last id of the previous page): from the token, or the start of a listing."""
        if not request.page_token:
            return (request.as_of_ms if request.HasField("as_of_ms") else now_ms()), None
        token = page_token.decode(request.page_token, rule.digest)
        if request.HasField("as_of_ms") and request.as_of_ms != token.as_of_ms:
            raise InvalidArgument([("as_of_ms", "differs from the page token's; a listing keeps the first page's "
                                                "instant (leave as_of_ms unset on later pages)")])
        return token.as_of_ms, token.last_id

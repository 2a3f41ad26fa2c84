"""Access control for every segments.v1 RPC: who calls (token), what it may do (scope), on which
workspace's data (the token's, never a request field), and the audit line of admin actions.

A grpc.aio ServerInterceptor sees the method and the metadata before any handler runs. It returns:
  * for health and reflection: the server's own handler (open to anyone who can connect);
  * without a valid token: a handler that ends the call UNAUTHENTICATED, without parsing the request;
  * without the method's scope (auth_scopes.py): PERMISSION_DENIED, likewise;
  * otherwise the handler of the token's workspace (workspaces_services.py), wrapped to append an
    audit line after an admin action.
With authentication off (a loopback server without tokens.json) every call is the anonymous actor
"-" on the default workspace, and admin actions are still audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from service.audit import append_audit_async
from service.auth_scopes import METHOD_RULES, SCOPE_NAMES, MethodRule
from service.auth_table import TokenTable
from service.auth_tokens import MAX_TOKEN_CHARS
from service.stream_limits import AUTHENTICATED_CLIENT
from service.workspaces import DEFAULT_WORKSPACE
from service.workspaces_registry import UnknownWorkspace, WorkspaceRegistry, WorkspaceUnavailable

log = logging.getLogger("segments.auth")
AUTHORIZATION_KEY = "authorization"
TOKEN_RECHECK_S = 0.25  # how often a running stream asks whether its token was revoked
BEARER = "Bearer "


@dataclass(frozen=True)
class Principal:
    actor: str  # the token id ("-" without authentication)
    workspace: str
    scopes: tuple[str, ...]


ANONYMOUS = Principal("-", DEFAULT_WORKSPACE, SCOPE_NAMES)


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bearer_token(metadata: Sequence[Any] | None) -> str:
    values = [value for key, value in (metadata or ()) if key == AUTHORIZATION_KEY]
    if not values:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED,
                      "no token: send metadata `authorization: Bearer <token>` (segments token create)")
    if len(values) > 1:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, "more than one authorization metadata entry")
    value = values[0] if isinstance(values[0], str) else values[0].decode("ascii", "replace")
    if not value.startswith(BEARER) or len(value) > len(BEARER) + MAX_TOKEN_CHARS:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, "authorization metadata must be `Bearer <token>`")
    return value[len(BEARER):].strip()


def authenticate(tokens: TokenTable, metadata: Sequence[Any] | None) -> Principal:
    record = tokens.lookup(_bearer_token(metadata))
    if record is None:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, "unknown token")
    if record.revoked:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, f"token {record.id} was revoked")
    return Principal(record.id, record.workspace, record.scopes)


def authorize(principal: Principal, method: str, rule: MethodRule) -> None:
    if rule.scope.value not in principal.scopes:
        raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                      f"token {principal.actor} has scopes {','.join(principal.scopes)}; "
                      f"{method.lstrip('/')} needs {rule.scope.value}")


def _refusal(template: grpc.RpcMethodHandler, refused: Refused) -> grpc.RpcMethodHandler:
    """A handler of the method's shape that ends the call; the request bytes are never deserialized."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(refused.code, refused.message)

    if template.request_streaming and template.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if template.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if template.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)


def _bound_to_token(handler: grpc.RpcMethodHandler, actor: str,
                    still_valid: Callable[[], bool]) -> grpc.RpcMethodHandler:
    """The handler with AUTHENTICATED_CLIENT set to the token id while it runs (per-client stream
    limits, service/stream_limits.py, count by token instead of by peer host), and for streams a
    token revoked while they run ends them: a Watch or IngestStream within TOKEN_RECHECK_S, an
    Export at its next chunk."""
    streaming = handler.request_streaming or handler.response_streaming

    def bind(behavior: Any) -> Any:
        if inspect.isasyncgenfunction(behavior):
            async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                reset = AUTHENTICATED_CLIENT.set(actor)
                try:
                    async with contextlib.aclosing(behavior(request, context)) as items:
                        async for item in items:
                            if not still_valid():
                                await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                                    f"token {actor} was revoked during the call")
                            yield item
                finally:
                    AUTHENTICATED_CLIENT.reset(reset)
            return stream

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            reset = AUTHENTICATED_CLIENT.set(actor)
            call_task = asyncio.current_task()
            assert call_task is not None
            watchdog = asyncio.create_task(_revocation_watch(call_task, still_valid)) if streaming else None
            try:
                return await behavior(request, context)
            except asyncio.CancelledError:
                if watchdog is None or not watchdog.done() or watchdog.cancelled():
                    raise  # the client went away, or the server is stopping
                call_task.uncancel()  # the watchdog's cancellation, turned into the status below
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"token {actor} was revoked during the call")
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                AUTHENTICATED_CLIENT.reset(reset)
        return call

    shape = ((handler.unary_unary, grpc.unary_unary_rpc_method_handler),
             (handler.unary_stream, grpc.unary_stream_rpc_method_handler),
             (handler.stream_unary, grpc.stream_unary_rpc_method_handler),
             (handler.stream_stream, grpc.stream_stream_rpc_method_handler))
    behavior, make = next((b, m) for b, m in shape if b is not None)
    return make(bind(behavior), request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


async def _revocation_watch(call_task: asyncio.Task[Any], still_valid: Callable[[], bool]) -> None:
    """Cancels the call's task once its token is revoked; cancelled itself when the call ends."""
    while True:  # bounded by the call: its `finally` cancels this task
        await asyncio.sleep(TOKEN_RECHECK_S)
        if not still_valid():
            call_task.cancel()
            return


def _outcome(context: grpc.aio.ServicerContext, exc: BaseException | None) -> str:
    code = context.code()
    if exc is None and code in (None, grpc.StatusCode.OK, 0):
        return "OK"
    if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK:
        return code.name
    return "CANCELLED" if isinstance(exc, asyncio.CancelledError) else "UNKNOWN"


class _AuditingContext:
    """The call's context, except that `abort` writes the audit line first: grpc sends the status as
    abort is called, and the line must be on disk before the caller hears the outcome."""

    def __init__(self, context: grpc.aio.ServicerContext, audit: Callable[[str], Awaitable[None]]) -> None:
        self._context = context
        self._audit = audit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        await self._audit(code.name)
        await self._context.abort(code, details, trailing_metadata)


class AccessInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, registry: WorkspaceRegistry, tokens: TokenTable | None, audit_dir: Path | None) -> None:
        """`tokens` None: authentication off. `audit_dir` None: no audit log (in-process tests)."""
        self._registry = registry
        self._tokens = tokens
        self._audit_dir = audit_dir

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method  # type: ignore[attr-defined]
        rule = METHOD_RULES.get(method)
        if rule is None:  # health, reflection, or unknown (grpc answers UNIMPLEMENTED)
            return await continuation(details)
        template = self._registry.default.handlers.by_method[method]
        principal = ANONYMOUS
        try:
            if self._tokens is not None:
                principal = authenticate(self._tokens, details.invocation_metadata)  # type: ignore[attr-defined]
                authorize(principal, method, rule)
            services = await self._registry.services(principal.workspace)
        except Refused as refused:
            if refused.code == grpc.StatusCode.PERMISSION_DENIED and rule.audited:
                await self._audit(principal, method, "", refused.code.name)
            log.info("refused %s: %s %s", method, refused.code.name, refused.message)
            return _refusal(template, refused)
        except UnknownWorkspace:
            return _refusal(template, Refused(grpc.StatusCode.PERMISSION_DENIED,
                                              f"workspace {principal.workspace} of token {principal.actor} "
                                              "does not exist on this server"))
        except WorkspaceUnavailable as exc:
            return _refusal(template, Refused(grpc.StatusCode.UNAVAILABLE, str(exc)))
        handler = services.handlers.by_method[method]
        if self._tokens is not None:
            tokens, actor = self._tokens, principal.actor
            handler = _bound_to_token(handler, actor, lambda: tokens.active(actor))
        return self._audited(handler, principal, method, rule) if rule.audited else handler

    def _audited(self, handler: grpc.RpcMethodHandler, principal: Principal, method: str,
                 rule: MethodRule) -> grpc.RpcMethodHandler:
        assert handler.unary_unary is not None, "audited actions are unary calls"
        inner = handler.unary_unary

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            target = str(getattr(request, rule.target_field, "")) if rule.target_field else ""
            written: list[str] = []

            async def audit(outcome: str) -> None:
                if not written:
                    written.append(outcome)
                    # Shielded: a cancelled call still gets its line (the action may have run).
                    await asyncio.shield(self._audit(principal, method, target, outcome))

            try:
                response = await inner(request, _AuditingContext(context, audit))
            except BaseException as exc:
                await audit(_outcome(context, exc))
                raise
            await audit(_outcome(context, None))
            return response

        return grpc.unary_unary_rpc_method_handler(call, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)

    async def _audit(self, principal: Principal, method: str, target: str, outcome: str) -> None:
        if self._audit_dir is None:
            return
        try:
            await append_audit_async(self._audit_dir, actor=principal.actor, workspace=principal.workspace,
                                     action=method.lstrip("/"), target=target, outcome=outcome)
        except OSError:
            # The action has happened (or been refused) already; failing its reply would only make the
            # caller retry it. The log line below is the record of last resort.
            log.exception("AUDIT LOG NOT WRITTEN: actor=%s workspace=%s action=%s target=%s outcome=%s",
                          principal.actor, principal.workspace, method, target, outcome)

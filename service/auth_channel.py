"""A client channel with the security the server asks for: TLS (and a client certificate for mutual
TLS) and the API token, sent as `authorization: Bearer <token>` metadata on every call.

The token goes in through a client interceptor rather than call credentials because grpc refuses
call credentials on a plain-text channel, and a loopback server with tokens but without TLS is a
supported setup (docs/SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from service.tls import client_credentials

TOKEN_ENV = "SEGMENTS_TOKEN"


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                        grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        if not token or any(c.isspace() for c in token) or not token.isascii():
            raise ValueError("token: empty, or holds spaces or non-ASCII characters (paste it as printed)")
        self._entry = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [entry for entry in (details.metadata or ()) if entry[0] != "authorization"]
        return _CallDetails(details.method, details.timeout, [*metadata, self._entry], details.credentials,
                            details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation: Callable, details: grpc.ClientCallDetails, requests: Any) -> Any:
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation: Callable, details: grpc.ClientCallDetails, requests: Any) -> Any:
        return continuation(self._with_token(details), requests)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method: str, timeout: float | None, metadata: Sequence[tuple[str, str]],
                 credentials: grpc.CallCredentials | None, wait_for_ready: bool | None,
                 compression: grpc.Compression | None) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def open_channel(target: str, options: Sequence[tuple[str, Any]], *, token: str | None = None,
                 tls: bool = False, tls_ca: str | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None) -> grpc.Channel:
    """TLS when `tls` or any TLS file is given (`tls_ca` None: the system's roots)."""
    if tls or tls_ca or tls_cert or tls_key:
        channel = grpc.secure_channel(target, client_credentials(tls_ca, tls_cert, tls_key), options=list(options))
    else:
        channel = grpc.insecure_channel(target, options=list(options))
    return channel if token is None else grpc.intercept_channel(channel, _TokenInterceptor(token))

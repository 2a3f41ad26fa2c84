"""Open streams per client: Watch, IngestStream and Export together (docs/LIMITS.md).

A client holding many long-lived streams ties up shard sessions, prepared batches and queues that
other clients need; each is cheap to open and costly to hold. So each client gets at most
MAX_STREAMS_PER_CLIENT open at once, and the one beyond is refused with RESOURCE_EXHAUSTED (RetryInfo)
before it starts any work.

A client is its authenticated identity when the auth layer has set one (`AUTHENTICATED_CLIENT`, the
token id, set for the call's task by whatever authenticates it), else the peer's address without the
port: connections from one host share the allowance, so a client cannot escape it by reconnecting.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Protocol

from actors.api import OverloadedError
from service.limits import MAX_STREAMS_PER_CLIENT

# The token id of the call's authenticated client; None when no auth layer has named one.
AUTHENTICATED_CLIENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("authenticated_client", default=None)


class _PeerContext(Protocol):
    def peer(self) -> str: ...


def peer_host(peer: str) -> str:
    """'ipv4:10.0.0.5:51234' -> 'ipv4:10.0.0.5'; 'ipv6:[::1]:5' -> 'ipv6:[::1]'; unix peers as they are."""
    if peer.startswith(("ipv4:", "ipv6:")):
        host, separator, port = peer.rpartition(":")
        if separator and port.isdigit() and host not in ("ipv4", "ipv6"):
            return host
    return peer


def client_key(context: _PeerContext) -> str:
    token_id = AUTHENTICATED_CLIENT.get()
    if token_id:
        return f"token:{token_id}"
    return f"peer:{peer_host(context.peer() or 'unknown')}"


class ClientStreams:
    """Counts of open streams by client key; a key leaves the table when its last stream ends, so
    the table holds at most one entry per open stream."""

    def __init__(self, max_per_client: int = MAX_STREAMS_PER_CLIENT) -> None:
        assert max_per_client > 0
        self.max_per_client = max_per_client
        self._open: dict[str, int] = {}

    def open_count(self, key: str) -> int:
        return self._open.get(key, 0)

    @contextlib.contextmanager
    def hold(self, context: _PeerContext, method: str) -> Iterator[None]:
        """One open stream of `method` for the calling client, for the duration of the block.

        Raises OverloadedError (RESOURCE_EXHAUSTED) when the client already holds the maximum; the
        asyncio server runs handlers on one thread, so check-and-increment needs no lock."""
        key = client_key(context)
        held = self._open.get(key, 0)
        if held >= self.max_per_client:
            raise OverloadedError(
                f"{method}: this client already has {held} streams open (Watch, IngestStream and Export "
                f"together; at most {self.max_per_client} per client); close one or retry later")
        self._open[key] = held + 1
        try:
            yield
        finally:
            remaining = self._open[key] - 1
            assert remaining >= 0
            if remaining:
                self._open[key] = remaining
            else:
                del self._open[key]


# The server's table: one per process, shared by every servicer (a process serves one server).
CLIENT_STREAMS = ClientStreams()

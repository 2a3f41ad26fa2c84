"""The router -> shard channel for a shard on another node: Ray actor calls instead of a Unix socket.

A shard on the router's node is called over its Unix socket (actors/shard_channel.py: ~0.07 ms a
round trip). A shard on another machine cannot be: the socket's directory exists on the router's
machine only. It is called through `ShardActor.channel_call(method, args)` instead, sent in the
concurrency group of the method (the groups the socket's thread pools have), so a query never waits
behind a commit and the Watch long poll keeps its own thread there too.

Why Ray calls and not a TCP channel: Ray's transport already crosses machines, and only members of
the Ray cluster can reach an actor (the cluster's own authentication and network boundary: docs/SCALING.md).
A TCP channel would need a listening port on every node accepting pickle, hence a per-cluster secret
and a handshake; Ray's ~0.8 ms per call is the price of not adding that surface.

Same contract as ShardChannel, so actors/shard_client.py treats both alike: `call` returns the result
or raises the shard's own exception; ChannelClosedError when the actor died (the call may or may not
have run); `on_closed(channel, reason)` once when the channel fails or is closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any

from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from actors.channel_protocol import ChannelClosedError, settle

OnClosed = Callable[["RayChannel", str], None]


class RayChannel:
    """Use `await RayChannel.connect(handle)`; from one asyncio loop only."""

    def __init__(self, handle: ActorHandle, groups: dict[str, str], on_closed: OnClosed | None = None) -> None:
        assert groups, "a shard serves at least one method"
        self._handle = handle
        self._groups = groups
        self._on_closed = on_closed
        self._closed: ChannelClosedError | None = None
        self._pending: set[asyncio.Future[Any]] = set()  # bounded by the shard client's in-flight limit

    @classmethod
    async def connect(cls, handle: ActorHandle, on_closed: OnClosed | None = None) -> RayChannel:
        """A channel to the actor behind `handle`; ChannelClosedError when it does not answer."""
        try:
            groups = await handle.method_groups.remote()
        except RayActorError as exc:
            raise ChannelClosedError(f"shard actor unreachable: {type(exc).__name__}") from None
        return cls(handle, groups, on_closed)

    @property
    def open(self) -> bool:
        return self._closed is None

    async def call(self, method: str, args: tuple[Any, ...]) -> Any:
        if self._closed is not None:
            raise self._closed
        group = self._groups.get(method)
        if group is None:
            raise ValueError(f"the shard has no channel method {method!r}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.add(future)
        try:
            ref = self._handle.channel_call.options(concurrency_group=group).remote(method, args)
            ref.future().add_done_callback(lambda done: loop.call_soon_threadsafe(self._settle, future, done))
            return await future
        finally:
            self._pending.discard(future)

    def close(self) -> None:
        self._fail(ChannelClosedError("channel closed"))

    def _settle(self, future: asyncio.Future[Any], done: concurrent.futures.Future) -> None:
        if future.done():
            return  # the caller gave up, or the channel failed meanwhile
        try:
            ok, value = done.result()
        except RayActorError as exc:
            # The actor died or its node is gone: every call on this incarnation is lost.
            error = ChannelClosedError(f"shard actor lost ({type(exc).__name__})")
            future.set_exception(error)
            self._fail(error)
            return
        except Exception as exc:  # noqa: BLE001 - Ray could not deliver this call: fail it, keep the channel
            future.set_exception(RuntimeError(f"call to the shard failed in Ray: {exc!r}"))
            return
        settle(future, ok, value)

    def _fail(self, error: ChannelClosedError) -> None:
        first = self._closed is None
        if first:
            self._closed = error
        pending, self._pending = self._pending, set()
        for future in pending:
            if not future.done():
                with contextlib.suppress(asyncio.InvalidStateError):
                    future.set_exception(error)
        if first and self._on_closed is not None:
            self._on_closed(self, str(error))

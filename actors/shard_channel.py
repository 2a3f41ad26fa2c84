"""The router side of the router <-> shard channel: one Unix-socket connection per shard, many calls in
flight on it, replies matched to calls by id (frames: actors/channel_protocol.py).

Used from the cluster's asyncio loop only. When the connection breaks (the actor died or restarted),
every call waiting on it fails with ChannelClosedError at once; actors/shard_client.py turns that into
ShardUnavailableError and reconnects once Ray's probe finds the shard SERVING again.

The socket files live in a directory made for one cluster (`ChannelDirectory`), mode 0700: only the
service's own user can connect, which is what makes pickle on this channel safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from actors.channel_protocol import (
    HEADER,
    ChannelClosedError,
    FrameError,
    check_frame_size,
    request_frame,
    settle,
)

# The transport buffers writes up to this much before it asks callers to wait (pause_writing): an
# ingest sub-batch of a few MiB is then sent as the shard reads it instead of piling up here.
WRITE_BUFFER_HIGH_BYTES = 4 << 20


class ChannelDirectory:
    """A private directory (0700) for the shards' sockets, removed at close."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="segments-channels-")  # created 0700 by mkdtemp

    def socket_path(self, shard: int) -> str:
        return os.path.join(self.path, f"shard-{shard:04d}.sock")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class _Protocol(asyncio.Protocol):
    def __init__(self, channel: ShardChannel) -> None:
        self._channel = channel
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        try:
            # Every complete frame in the buffer; the rest waits for more data.
            while len(buffer) - offset >= HEADER.size:
                call_id, size, _ = HEADER.unpack_from(buffer, offset)
                check_frame_size(size)
                end = offset + HEADER.size + size
                if len(buffer) < end:
                    break
                self._channel._reply(call_id, bytes(buffer[offset + HEADER.size : end]))
                offset = end
        except FrameError as exc:
            self._channel._fail(ChannelClosedError(str(exc)))
            return
        finally:
            del buffer[:offset]

    def pause_writing(self) -> None:
        self._channel._writable.clear()

    def resume_writing(self) -> None:
        self._channel._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel._writable.set()  # writers waiting find the channel closed
        self._channel._fail(ChannelClosedError(f"connection to the shard lost ({exc!r})" if exc else "shard closed the connection"))


OnClosed = Callable[["ShardChannel", str], None]


class ShardChannel:
    """Use `await ShardChannel.connect(path)`."""

    def __init__(self, on_closed: OnClosed | None = None) -> None:
        self._on_closed = on_closed
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._closed: ChannelClosedError | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    @classmethod
    async def connect(cls, path: str, on_closed: OnClosed | None = None) -> ShardChannel:
        """Connected to the shard listening at `path`; `on_closed(channel, reason)` runs once when the
        connection breaks or is closed."""
        channel = cls(on_closed)
        transport, _ = await asyncio.get_running_loop().create_unix_connection(lambda: _Protocol(channel), path)
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH_BYTES)
        channel._transport = transport  # type: ignore[assignment]
        return channel

    @property
    def open(self) -> bool:
        return self._closed is None

    async def call(self, method: str, args: tuple[Any, ...]) -> Any:
        """The method's result, or the exception it raised in the shard; ChannelClosedError when the
        connection broke before the reply (the call may or may not have run)."""
        if self._closed is not None:
            raise self._closed
        assert self._transport is not None
        call_id = next(self._ids)
        frame = request_frame(call_id, method, args)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            if not self._writable.is_set():
                await self._writable.wait()  # bounded: the shard reads, or the connection closes
                if self._closed is not None:
                    raise self._closed
            self._transport.write(frame)
            return await future
        finally:
            self._pending.pop(call_id, None)  # answered, failed, or cancelled by the caller

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._fail(ChannelClosedError("channel closed"))

    def _reply(self, call_id: int, payload: bytes) -> None:
        future = self._pending.pop(call_id, None)
        if future is None or future.done():
            return  # the caller gave up (deadline): the reply is not wanted
        try:
            ok, value = pickle.loads(payload)
        except Exception as exc:  # noqa: BLE001 - a reply that does not load fails its call, not the channel
            future.set_exception(RuntimeError(f"unreadable reply from the shard: {exc!r}"))
            return
        settle(future, ok, value)

    def _fail(self, error: ChannelClosedError) -> None:
        first = self._closed is None
        if first:
            self._closed = error
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        if first and self._on_closed is not None:
            self._on_closed(self, str(error))

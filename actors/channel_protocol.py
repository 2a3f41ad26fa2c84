"""Frames of the router <-> shard channel (actors/channel_server.py, actors/shard_channel.py).

A Ray actor call costs ~0.8 ms round trip and ~0.9 ms of CPU (caller ~0.5, actor ~0.4) on this class of
machine, whatever the actor's kind (threaded, concurrency groups, async: measured, docs/SERVICE.md). A
count touches every shard, so Ray's per-call cost was most of a small query's time and CPU. Shards
therefore also serve their calls on a Unix socket; a round trip there costs ~0.07 ms. Ray still starts,
places, restarts and probes the actors.

Request: HEADER (call id, payload length, method name length), the method name (ASCII), then
pickle((args...)). Reply: HEADER (call id, payload length, 0), then pickle((ok, value)) where value is
the result, or the exception when ok is False. Pickle is safe here because the socket lives in a
directory only the service's user can enter (actors/shard_channel.py) and both ends are this code.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

HEADER = struct.Struct("<QQH")  # call id, payload bytes, method name bytes (0 in replies)
# A frame carries at most one ingest sub-batch (100 000 records of a few hundred bytes) or one member
# page; anything larger is a bug, and the reader refuses it instead of allocating it.
MAX_FRAME_BYTES = 1 << 30
PICKLE_PROTOCOL = 5


class ChannelClosedError(ConnectionError):
    """The connection to a shard broke (the actor died or restarted, or the channel was closed)."""


class FrameError(ConnectionError):
    """A frame that this protocol never produces (oversized, unknown method); the connection is dropped."""


def request_frame(call_id: int, method: str, args: tuple[Any, ...]) -> bytes:
    payload = pickle.dumps(args, protocol=PICKLE_PROTOCOL)
    name = method.encode("ascii")
    return HEADER.pack(call_id, len(payload), len(name)) + name + payload


def reply_frame(call_id: int, ok: bool, value: Any) -> bytes:
    """The reply of a call; an exception that cannot cross a pickle round trip intact is replaced by a
    RuntimeError naming it (its type and message), so the caller always gets an exception."""
    if ok:
        payload = pickle.dumps((True, value), protocol=PICKLE_PROTOCOL)
    else:
        payload = pickle.dumps((False, portable_exception(value)), protocol=PICKLE_PROTOCOL)
    return HEADER.pack(call_id, len(payload), 0) + payload


def portable_exception(exc: BaseException) -> BaseException:
    """`exc` if it unpickles as an exception of its own type, else a RuntimeError describing it."""
    try:
        copy = pickle.loads(pickle.dumps(exc, protocol=PICKLE_PROTOCOL))
        if type(copy) is type(exc):
            return exc
    except Exception:  # noqa: BLE001 - any failure means "not portable"; described below instead
        pass
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def settle(future: Any, ok: bool, value: Any) -> None:
    """Complete a call's future with its reply: the value, or the exception the shard raised."""
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def check_frame_size(size: int) -> None:
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")

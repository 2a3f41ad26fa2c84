"""The shard side of the router <-> shard channel: a Unix socket served by threads.

One accept thread; per connection one reader thread that reads frames and hands each call to the
thread pool of its method's group. The groups are those of the Ray actor (actors/shard_actor.py) and
for the same reasons: concurrent commits share fsyncs, queries do not wait behind ingest, releases
and probes never wait behind anything, admin work runs one at a time. Replies are written under a
per-connection lock, in completion order; the call id pairs them with their requests.

A call keeps running when its connection breaks (a commit finishes, as it would under Ray when the
caller died); its reply is dropped. Frames are bounded (channel_protocol.MAX_FRAME_BYTES); the number
of calls in flight is bounded by the router (MAX_INFLIGHT_CALLS_PER_SHARD), which is the only client.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from actors.channel_protocol import HEADER, FrameError, check_frame_size, reply_frame

LISTEN_BACKLOG = 8
_READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Method:
    group: str  # thread pool that runs it
    function: Callable[..., Any]


class ChannelServer:
    """Serves `methods` on a Unix socket at `path` (replacing a socket file left by a dead process)."""

    def __init__(self, path: str, methods: dict[str, Method], threads_per_group: dict[str, int], name: str) -> None:
        assert set(m.group for m in methods.values()) <= set(threads_per_group)
        self.path = path
        self._methods = methods
        self._pools = {group: ThreadPoolExecutor(threads, thread_name_prefix=f"{name}-{group}")
                       for group, threads in threads_per_group.items()}
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # our own socket from before a restart of this shard
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(LISTEN_BACKLOG)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name=f"{name}-accept", daemon=True).start()

    def close(self) -> None:
        """Stop accepting; calls in progress finish in their pools (not waited for here)."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for pool in self._pools.values():
            pool.shutdown(wait=False)

    def _accept(self) -> None:
        # Ends when the listener is closed.
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), name="channel-connection", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        send_lock = threading.Lock()
        reader = connection.makefile("rb", buffering=_READ_CHUNK_BYTES)
        try:
            # Ends when the router closes the connection (or it breaks).
            while True:
                header = reader.read(HEADER.size)
                if len(header) < HEADER.size:
                    return
                call_id, size, name_size = HEADER.unpack(header)
                check_frame_size(size)
                name = reader.read(name_size).decode("ascii")
                payload = reader.read(size)
                if len(payload) < size:
                    return
                method = self._methods.get(name)
                if method is None:
                    raise FrameError(f"unknown method {name!r}")
                self._pools[method.group].submit(self._run, connection, send_lock, call_id, method, payload)
        except (OSError, FrameError, RuntimeError):
            return  # a broken connection or a foreign frame; RuntimeError: the pools shut down (closing)
        finally:
            reader.close()
            connection.close()

    @staticmethod
    def _run(connection: socket.socket, send_lock: threading.Lock, call_id: int, method: Method, payload: bytes) -> None:
        try:
            result = method.function(*pickle.loads(payload))
            frame = reply_frame(call_id, True, result)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller, as Ray would send it
            frame = reply_frame(call_id, False, exc)
        with send_lock, contextlib.suppress(OSError):  # the router went away: nobody waits for this reply
            connection.sendall(frame)

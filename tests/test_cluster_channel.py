"""The router <-> shard channel in one process, without Ray: frames, replies matched to calls, groups
that do not wait for each other, exceptions, a broken connection, a foreign frame."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.api import ShardUnavailableError
from actors.channel_protocol import HEADER, ChannelClosedError, portable_exception, reply_frame, request_frame
from actors.channel_server import ChannelServer, Method
from actors.shard_channel import ChannelDirectory, ShardChannel
from indexes.records import RecordBatchError, RecordError
from indexes.rules.errors import RuleError


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def fail(kind: str) -> None:
    if kind == "unavailable":
        raise ShardUnavailableError("shard 0 is RECOVERING")
    if kind == "batch":
        raise RecordBatchError([RecordError(3, "ts", "required")])
    raise Unpicklable(1, 2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ChannelServer, threading.Event]]:
    release = threading.Event()
    methods = {
        "echo": Method("query", lambda *args: args),
        "fail": Method("query", fail),
        "block": Method("admin", lambda: release.wait(10)),
        "quick": Method("control", lambda: "quick"),
    }
    directory = ChannelDirectory()
    server = ChannelServer(directory.socket_path(0), methods, {"query": 2, "admin": 1, "control": 1}, "test")
    yield server, release
    release.set()
    server.close()
    directory.remove()


def test_directory_is_private() -> None:
    directory = ChannelDirectory()
    try:
        assert Path(directory.path).stat().st_mode & 0o777 == 0o700
        assert len(directory.socket_path(9999)) < 100  # sun_path holds 108 bytes
    finally:
        directory.remove()
    assert not Path(directory.path).exists()


def test_calls_are_answered_by_id_and_groups_do_not_wait_for_each_other(server: tuple[ChannelServer, threading.Event]) -> None:
    listening, release = server

    async def main() -> None:
        channel = await ShardChannel.connect(listening.path)
        blocked = asyncio.ensure_future(channel.call("block", ()))
        # The admin group is busy; control and query calls still answer, each with its own arguments.
        assert await channel.call("quick", ()) == "quick"
        answers = await asyncio.gather(*(channel.call("echo", (i, "x" * i)) for i in range(50)))
        assert answers == [(i, "x" * i) for i in range(50)]
        big = b"\x00" * (12 << 20)  # beyond the write buffer's high mark: the writer waits for the shard
        assert await channel.call("echo", (big,)) == (big,)
        assert not blocked.done()
        release.set()
        assert await blocked is True
        channel.close()

    asyncio.run(main())


def test_exceptions_come_back_as_raised_or_described(server: tuple[ChannelServer, threading.Event]) -> None:
    listening, _ = server

    async def main() -> None:
        channel = await ShardChannel.connect(listening.path)
        with pytest.raises(ShardUnavailableError, match="RECOVERING"):
            await channel.call("fail", ("unavailable",))
        with pytest.raises(RecordBatchError) as caught:
            await channel.call("fail", ("batch",))
        assert caught.value.errors == [RecordError(3, "ts", "required")]
        with pytest.raises(RuntimeError, match="Unpicklable: 1/2"):
            await channel.call("fail", ("other",))
        assert await channel.call("echo", (1,)) == (1,)  # the channel survives failed calls
        channel.close()

    asyncio.run(main())


def test_portable_exception_keeps_what_pickles() -> None:
    error = RuleError("all[2]", "unknown property")
    assert isinstance(portable_exception(error), RuntimeError)  # RuleError(path, reason) does not unpickle
    assert portable_exception(ValueError("x")).args == ("x",)


def _serve_in_child(path: str, ready: Any) -> None:
    ChannelServer(path, {"sleep": Method("query", time.sleep)}, {"query": 1}, "child")
    ready.set()
    time.sleep(60)


def test_a_dying_shard_fails_waiting_calls_and_reports_once() -> None:
    directory = ChannelDirectory()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_serve_in_child, args=(directory.socket_path(0), ready), daemon=True)
    child.start()
    closed: list[str] = []
    try:
        assert ready.wait(30)

        async def main() -> None:
            channel = await ShardChannel.connect(directory.socket_path(0), on_closed=lambda _, why: closed.append(why))
            waiting = asyncio.ensure_future(channel.call("sleep", (30,)))
            await asyncio.sleep(0.1)
            child.kill()  # as when a shard actor's process dies
            with pytest.raises(ChannelClosedError):
                await asyncio.wait_for(waiting, 10)
            with pytest.raises(ChannelClosedError):
                await channel.call("sleep", (0,))
            assert not channel.open

        asyncio.run(main())
    finally:
        child.kill()
        child.join()
        directory.remove()
    assert len(closed) == 1


def test_a_foreign_frame_drops_the_connection(server: tuple[ChannelServer, threading.Event]) -> None:
    listening, _ = server

    async def main() -> None:
        channel = await ShardChannel.connect(listening.path)
        with pytest.raises(ChannelClosedError):
            await channel.call("no_such_method", ())
        fresh = await ShardChannel.connect(listening.path)  # the server itself goes on
        assert await fresh.call("echo", ("ok",)) == ("ok",)
        fresh.close()

    asyncio.run(main())


def test_frames_round_trip() -> None:
    frame = request_frame(7, "count", ("plan", 12))
    call_id, size, name_size = HEADER.unpack_from(frame)
    assert (call_id, name_size, len(frame)) == (7, 5, HEADER.size + name_size + size)
    assert frame[HEADER.size : HEADER.size + name_size] == b"count"
    reply = reply_frame(7, False, Unpicklable(3, 4))
    assert HEADER.unpack_from(reply)[0] == 7

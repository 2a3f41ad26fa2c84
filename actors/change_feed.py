"""Where each shard's change log ends, as the router knows it: the wake-up behind Watch.

One long poll per shard (`changes_wait`, actors/shard_segments.py): the call returns as soon as the
shard's change log holds entries past what the router last heard (the shard's apply notifies the
waiting thread), or after LONG_POLL_MS with nothing new; it is then sent again. Every Watch stream
waits on this one feed instead of polling the shards: one blocked thread per shard, whatever the
number of streams. A stream reads a shard only when the feed says that shard's log moved past the
stream's position (Cluster.next_changes).

Started by the first Watch and stopped by `close`. A shard that is down is retried every RETRY_MS; no
poll is sent while the cluster compacts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from actors.api_segments import ShardPosition
from actors.shard_client import ShardClient

LONG_POLL_MS = 2_000  # also bounds how long a shard's compaction waits for the poll to return
RETRY_MS = 500


class ChangeFeed:
    """Used from the cluster's asyncio loop only."""

    def __init__(self, clients: Sequence[ShardClient], paused: Callable[[], bool] = lambda: False,
                 long_poll_ms: int = LONG_POLL_MS) -> None:
        self._clients = clients
        self._paused = paused  # while true (compaction), no poll is sent: a refused one marks the shard down
        self._long_poll_ms = long_poll_ms
        self._ends: list[tuple[int, int] | None] = [None] * len(clients)  # (epoch, next seq) per shard
        self._changed = asyncio.Event()
        self.version = 0  # +1 whenever an end changes (or a shard's end becomes unknown)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._follow(i), name=f"change-feed-{i}") for i in range(len(self._clients))]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def behind(self, shard: int, position: ShardPosition) -> bool:
        """May shard `shard` hold entries after `position`? (True when its end is unknown)"""
        end = self._ends[shard]
        if end is None or position.after_seq is None:
            return True
        epoch, next_seq = end
        if position.epoch >= 0 and position.epoch != epoch:
            return True  # a compaction since: the read reports the expired position
        return next_seq - 1 > position.after_seq

    async def wait(self, version: int, timeout_s: float) -> None:
        """Return once `self.version` differs from `version`, or after timeout_s."""
        if self.version != version or timeout_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    def _set(self, shard: int, end: tuple[int, int] | None) -> None:
        if self._ends[shard] == end:
            return
        self._ends[shard] = end
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()  # waiters hold the old one, which stays set

    async def _follow(self, shard: int) -> None:
        client = self._clients[shard]
        # Ends when cancelled by close(); each turn is one long poll (or one pause after a failure).
        while True:
            known = self._ends[shard]
            if self._paused():
                await asyncio.sleep(RETRY_MS / 1000)
                continue
            try:
                if known is None:
                    end = await client.call("changes_end")
                else:
                    end = await client.call("changes_wait", known[0], known[1], self._long_poll_ms)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the shard is down or restarting: forget its end, retry
                self._set(shard, None)
                await asyncio.sleep(RETRY_MS / 1000)
                continue
            self._set(shard, tuple(end))  # type: ignore[arg-type]

"""The router's handle on one shard actor: its view of the shard's state, its bounded in-flight
calls, its channel (actors/shard_channel.py), and the mapping of failures to the backend's errors.

* Calls go over the shard's channel: a Unix socket when the actor runs on the router's node (Ray's
  per-call cost was most of a small query's time: actors/channel_protocol.py), Ray actor calls when it
  runs on another node (actors/remote_channel.py). The choice is made at every (re)connection from
  where the actor runs now (`ShardActor.location`): a shard restarted on another node switches
  transport. A call that fails inside the shard raises the shard's own exception, so callers see
  RecordBatchError, ShardFullError, ShardUnavailableError ...
* A call in flight when the actor died fails when its connection breaks: it becomes
  ShardUnavailableError, and the shard is marked down until a state probe finds it SERVING again and
  the channel is reconnected. While down, calls fail at once instead of waiting for a restart.
* Probes are Ray calls (`probe()`: the state and the actor incarnation's id), one outstanding per shard
  at a time (never a pile of them behind a restarting actor), polled without blocking by the cluster's
  monitor task. A probe is what tells that a restarted actor has recovered; the channel is then
  reconnected. A probe answered by another incarnation than the channel's means a restart the channel
  did not see (Ray calls follow the handle): the channel is dropped and made again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from actors.api import OverloadedError, ShardUnavailableError
from actors.channel_protocol import ChannelClosedError
from actors.remote_channel import RayChannel
from actors.shard_channel import ShardChannel
from actors.shard_service import FAILED, RECOVERING, SERVING

# Work a shard may have queued at once, counted at the router (one per cluster operation touching
# the shard); beyond it callers get OverloadedError (RESOURCE_EXHAUSTED) instead of a longer queue.
MAX_INFLIGHT_CALLS_PER_SHARD = 64
# How often the monitor asks a serving shard whether it still is (a crash of an idle shard shows in
# serving() within this), and a shard that is down whether it is back.
PROBE_INTERVAL_SERVING_MS = 2_000
PROBE_INTERVAL_DOWN_MS = 200
# A probe unanswered this long marks the shard down. A probe runs in the actor's own control threads
# and answers in about a millisecond even under load; Ray only fails a call to a killed actor once the
# restarted one is up, so without this a dead shard would look SERVING for its whole restart.
PROBE_TIMEOUT_MS = 3_000
UNIX_SOCKET = "unix"
RAY_CALLS = "ray"
Channel = ShardChannel | RayChannel


class ShardClient:
    """Not thread-safe: used from the cluster's asyncio loop only."""

    def __init__(self, shard: int, handle: ActorHandle, channel_path: str,
                 max_inflight_calls: int = MAX_INFLIGHT_CALLS_PER_SHARD) -> None:
        assert max_inflight_calls > 0
        self.shard = shard
        self.handle = handle
        self.channel_path = channel_path
        self._channel: Channel | None = None
        self.node_id: str | None = None  # the Ray node of the incarnation last connected to
        self.transport: str | None = None  # UNIX_SOCKET or RAY_CALLS, for that incarnation
        self.incarnation: str | None = None  # the id of the actor incarnation the channel is connected to
        self._connecting: asyncio.Task[None] | None = None
        self.max_inflight_calls = max_inflight_calls
        self.inflight = 0
        self.state = RECOVERING
        self.reason: str | None = "starting"
        self._probe: concurrent.futures.Future | None = None
        self._probe_sent_s = 0.0
        self._probed_s = 0.0  # when the last probe answered

    # --- admission -----------------------------------------------------------------------------
    @property
    def serving(self) -> bool:
        return self.state == SERVING and self._channel is not None and self._channel.open

    def check_serving(self) -> None:
        if not self.serving:
            state = self.state if self.state != SERVING else "connecting"
            raise ShardUnavailableError(f"shard {self.shard} is {state}: {self.reason}; retry shortly")

    def check_room(self) -> None:
        if self.inflight >= self.max_inflight_calls:
            raise OverloadedError(
                f"shard {self.shard} has {self.inflight} calls in flight (limit {self.max_inflight_calls}); retry later"
            )

    # --- calls ---------------------------------------------------------------------------------
    async def call(self, method: str, *args: Any) -> Any:
        channel = self._channel
        if channel is None or not channel.open:
            raise ShardUnavailableError(f"shard {self.shard} is not connected ({self.reason}); retry shortly")
        try:
            return await channel.call(method, args)
        except ChannelClosedError as exc:
            self.mark_down(RECOVERING, f"connection lost: {exc}")
            raise ShardUnavailableError(
                f"shard {self.shard} restarted while handling {method}; the call may or may not have "
                "taken effect (ingest is idempotent: retry)"
            ) from None
        except ShardUnavailableError as exc:
            self.mark_down(RECOVERING, str(exc))
            raise

    def mark_down(self, state: str, reason: str) -> None:
        assert state != SERVING
        self.state, self.reason = state, reason
        if self._channel is not None and not self._channel.open:
            self._channel = None  # reconnected once a probe finds the shard SERVING

    def close_channel(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _connect_when_serving(self) -> None:
        """After a probe found the shard SERVING: (re)connect the channel unless connected or connecting."""
        if self.state != SERVING or (self._channel is not None and self._channel.open):
            return
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        channel: Channel
        try:
            # Where this incarnation runs decides the transport: the socket exists only on the router's node.
            node_id, serves_socket, incarnation = await self.handle.location.remote()
            if serves_socket:
                channel = await ShardChannel.connect(self.channel_path, on_closed=self._channel_closed)
            else:
                channel = await RayChannel.connect(self.handle, on_closed=self._channel_closed)
        except (OSError, RayActorError) as exc:  # not listening yet, or gone again: the next probe retries
            self.reason = f"channel not connected: {exc!r}"
            return
        if self._channel is not None:
            self._channel.close()
        self._channel = channel
        self.node_id, self.transport = node_id, UNIX_SOCKET if serves_socket else RAY_CALLS
        self.incarnation = incarnation
        if self.state == SERVING:
            self.reason = None

    def _channel_closed(self, channel: Channel, reason: str) -> None:
        """The connection broke without a call noticing: the shard restarts (health NOT_SERVING now,
        not at the next probe)."""
        if channel is self._channel and self.state == SERVING:
            self.mark_down(RECOVERING, f"connection lost: {reason}")

    # --- health probes -------------------------------------------------------------------------
    def poll(self, now_s: float | None = None) -> None:
        """Read a finished probe, or send one when due. Never blocks."""
        now_s = time.monotonic() if now_s is None else now_s
        if self._probe is not None:
            if self._probe.done():
                self._read_probe(self._probe)
                self._probe = None
                self._probed_s = now_s
            elif now_s - self._probe_sent_s > PROBE_TIMEOUT_MS / 1000 and self.state == SERVING:
                self.mark_down(RECOVERING, f"no answer to a health probe for {PROBE_TIMEOUT_MS} ms")
            return
        # A shard SERVING whose channel is not connected yet is probed (and reconnected) at the quick pace.
        interval_ms = PROBE_INTERVAL_SERVING_MS if self.serving else PROBE_INTERVAL_DOWN_MS
        if now_s - self._probed_s >= interval_ms / 1000:
            try:
                self._probe = self.handle.probe.remote().future()
            except Exception as exc:  # Ray itself is going away: the monitor must go on answering
                self.mark_down(FAILED, f"cannot probe: {exc!r}")
                self._probed_s = now_s
                return
            self._probe_sent_s = now_s

    def _read_probe(self, probe: concurrent.futures.Future) -> None:
        try:
            state, reason, incarnation = probe.result(timeout=0)
        except RayActorError as exc:
            self.mark_down(RECOVERING, f"actor restarting ({type(exc).__name__})")
            if self._channel is not None:
                # That incarnation is gone (a Ray channel would not notice by itself); the restarted one
                # may run on another node, so the transport is chosen again on reconnection.
                self._channel.close()
                self._channel = None
            return
        except Exception as exc:  # the actor cannot even answer its state: say why in stats
            self.mark_down(FAILED, f"health probe failed: {exc!r}")
            return
        if self._channel is not None and incarnation != self.incarnation:
            # Restarted without the channel noticing (a Ray channel is not broken by a restart): the new
            # incarnation may run elsewhere, so the transport is chosen again.
            self._channel.close()
            self._channel = None
            reason = reason or "restarted: reconnecting"
        self.state, self.reason = state, reason
        self._connect_when_serving()

"""The router's handle on one shard actor: its view of the shard's state, its bounded in-flight
calls, and the mapping of Ray's errors to the backend's.

* A call that fails inside the actor comes back as RayTaskError; the actor's own exception (`cause`)
  is raised instead, so callers see RecordBatchError, ShardFullError, ShardUnavailableError ...
* A call in flight when the actor died (or that reached a restarting actor) fails with RayActorError:
  it becomes ShardUnavailableError, and the shard is marked down until a state probe finds it
  SERVING again. While down, calls fail at once instead of queueing in Ray behind a restart.
* Probes are one outstanding `state()` call per shard at a time (never a pile of them behind a
  restarting actor), polled without blocking by the cluster's monitor task.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayTaskError

from actors.api import OverloadedError, ShardUnavailableError
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


class ShardClient:
    """Not thread-safe: used from the cluster's asyncio loop only."""

    def __init__(self, shard: int, handle: ActorHandle, max_inflight_calls: int = MAX_INFLIGHT_CALLS_PER_SHARD) -> None:
        assert max_inflight_calls > 0
        self.shard = shard
        self.handle = handle
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
        return self.state == SERVING

    def check_serving(self) -> None:
        if self.state != SERVING:
            raise ShardUnavailableError(f"shard {self.shard} is {self.state}: {self.reason}; retry shortly")

    def check_room(self) -> None:
        if self.inflight >= self.max_inflight_calls:
            raise OverloadedError(
                f"shard {self.shard} has {self.inflight} calls in flight (limit {self.max_inflight_calls}); retry later"
            )

    # --- calls ---------------------------------------------------------------------------------
    async def call(self, method: str, *args: Any) -> Any:
        ref = getattr(self.handle, method).remote(*args)
        try:
            return await ref
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, ShardUnavailableError):
                self.mark_down(RECOVERING, str(cause))
            if isinstance(cause, Exception):
                raise cause from None
            raise RuntimeError(f"shard {self.shard} {method} failed: {exc}") from None
        except RayActorError as exc:
            self.mark_down(RECOVERING, f"actor restarting ({type(exc).__name__})")
            raise ShardUnavailableError(
                f"shard {self.shard} restarted while handling {method}; the call may or may not have "
                "taken effect (ingest is idempotent: retry)"
            ) from None

    def mark_down(self, state: str, reason: str) -> None:
        assert state != SERVING
        self.state, self.reason = state, reason

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
        interval_ms = PROBE_INTERVAL_SERVING_MS if self.state == SERVING else PROBE_INTERVAL_DOWN_MS
        if now_s - self._probed_s >= interval_ms / 1000:
            try:
                self._probe = self.handle.state.remote().future()
            except Exception as exc:  # Ray itself is going away: the monitor must go on answering
                self.mark_down(FAILED, f"cannot probe: {exc!r}")
                self._probed_s = now_s
                return
            self._probe_sent_s = now_s

    def _read_probe(self, probe: concurrent.futures.Future) -> None:
        try:
            state, reason = probe.result(timeout=0)
        except RayActorError as exc:
            self.mark_down(RECOVERING, f"actor restarting ({type(exc).__name__})")
            return
        except Exception as exc:  # the actor cannot even answer its state: say why in stats
            self.mark_down(FAILED, f"health probe failed: {exc!r}")
            return
        self.state, self.reason = state, reason

"""The Ray actor of one shard: actors/shard_service.py behind concurrency groups, and on a Unix socket.

A threaded actor (each group a pool of threads), because the engine is thread-safe and wants
concurrency: concurrent commits share the log's group-commit fsyncs, and a query only waits for the
engine's state lock, not for an ingest call queued before it. The groups keep kinds of work from
starving each other: health probes and releases never wait behind ingest or queries, and snapshot /
compaction / close run one at a time.

num_cpus=0: an actor is a long-lived process that is mostly waiting; reserving a CPU each would stop a
2-core machine from running more shards than cores (tests do). max_restarts=-1: Ray restarts a dead
shard forever; the new actor reopens the shard's workspace (snapshot + log). max_task_retries=0: a call
in flight when the actor died fails (ActorUnavailableError -> ShardUnavailableError at the router)
rather than running twice.

The router makes its calls on the shard's channel (actors/channel_server.py), a Unix socket served by
thread pools with the same groups: a Ray call costs ~0.9 ms of CPU and ~0.8 ms of latency, the
channel ~0.07 ms (actors/channel_protocol.py). Ray calls remain for the health probe (`state`: it
tells whether this actor is alive, which the channel cannot while the actor restarts), `close`, and
tests and operators that hold the actor handle. A shard on another node than the router (placement
spread, docs/SCALING.md) does not listen on the socket: the router sends the same methods through
`channel_call` in their groups (actors/remote_channel.py), after asking `location()`.
"""

from __future__ import annotations

import uuid
from typing import Any

import ray

from actors.channel_protocol import portable_exception
from actors.channel_server import ChannelServer, Method
from actors.member_pages import ShardPage
from actors.shard_insights import ShardInsights, insight_methods
from actors.shard_segments import ShardSegments
from actors.shard_service import PrepareReply, ShardService
from indexes.engine import IngestResult
from indexes.plan.compile import Plan
from indexes.schema import Schema

INGEST_THREADS = 8  # commit calls of concurrent ingests (sharing fsyncs), prepare of dicts and declarations
# prepare_wire (decode + validate a gRPC sub-batch) is all Python under the GIL, and the engine admits one
# batch at a time anyway: a second thread only made them contend (shard CPU per record 24.8 -> 28.5 us
# measured), while commits, which mostly wait for fsync, keep their own pool.
PREPARE_THREADS = 1
QUERY_THREADS = 4  # count, members pages, schema, stats
CONTROL_THREADS = 2  # state probes and releases
ADMIN_THREADS = 1  # snapshot, compact, close: one at a time
# The router's long poll of the change log (one per shard, actors/change_feed.py): it blocks, so it
# has a thread of its own rather than one of the query threads.
WATCH_THREADS = 1

CONCURRENCY_GROUPS = {"ingest": INGEST_THREADS, "prepare": PREPARE_THREADS, "query": QUERY_THREADS,
                      "control": CONTROL_THREADS, "admin": ADMIN_THREADS, "watch": WATCH_THREADS}


def channel_methods(service: ShardService) -> dict[str, Method]:
    """What the router calls on the channel, each in the group its Ray method has below."""
    return {
        "release": Method("control", service.release),
        "prepare": Method("ingest", service.prepare),
        "prepare_wire": Method("prepare", service.prepare_wire),
        "commit": Method("ingest", service.commit),
        "schema": Method("query", service.schema),
        "count": Method("query", service.count),
        "count_many": Method("query", service.count_many),
        "members_page": Method("query", service.members_page),
        "stats": Method("query", service.stats),
        "snapshot": Method("admin", service.snapshot),
        "compact": Method("admin", service.compact),
        **segment_methods(ShardSegments(service)),
        **insight_methods(ShardInsights(service)),  # actors/shard_insights.py
    }


def segment_methods(segments: ShardSegments) -> dict[str, Method]:
    """Saved segments (actors/shard_segments.py): commands are admitted like declarations (their commit
    and release are the ingest ones), the clock tick appends like ingest, reads are queries."""
    return {
        "segment_catalog": Method("query", segments.segment_catalog),
        "prepare_segment": Method("ingest", segments.prepare_segment),
        "advance_clock": Method("ingest", segments.advance_clock),
        "segment_count": Method("query", segments.segment_count),
        "segment_members_page": Method("query", segments.segment_members_page),
        "segment_stats": Method("query", segments.segment_stats),
        "segment_dry_run": Method("query", segments.segment_dry_run),
        "segment_changes": Method("query", segments.segment_changes),
        "changes_end": Method("query", segments.changes_end),
        "changes_wait": Method("watch", segments.changes_wait),
    }


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, concurrency_groups=CONCURRENCY_GROUPS)
class ShardActor:
    def __init__(self, shard: int, data_dir: str, shard_path: str, options: dict[str, Any], channel_path: str,
                 router_node_id: str | None = None) -> None:
        self._service = ShardService(shard, data_dir, shard_path, **options)
        self._methods = channel_methods(self._service)
        self._node_id = ray.get_runtime_context().get_node_id()
        # Tells the router a restarted actor from the one it connected to: Ray calls follow the handle to
        # the new incarnation silently, where a socket would break.
        self._incarnation = uuid.uuid4().hex
        # The Unix socket only where the router is (its directory exists on the router's machine only);
        # a shard on another node is called through `channel_call` (actors/remote_channel.py).
        # Listening before the workspace is open: calls then get ShardUnavailableError, as on Ray.
        self._channel: ChannelServer | None = None
        if router_node_id is None or router_node_id == self._node_id:
            self._channel = ChannelServer(channel_path, self._methods, CONCURRENCY_GROUPS, f"shard-{shard}")

    @ray.method(concurrency_group="control")
    def probe(self) -> tuple[str, str | None, str]:
        """The router's health probe: `state()` and this incarnation's id."""
        state, reason = self._service.state()
        return state, reason, self._incarnation

    @ray.method(concurrency_group="control")
    def location(self) -> tuple[str, bool, str]:
        """(the Ray node this incarnation runs on, whether it serves the Unix-socket channel, its id)."""
        return self._node_id, self._channel is not None, self._incarnation

    @ray.method(concurrency_group="control")
    def method_groups(self) -> dict[str, str]:
        """The concurrency group of every channel method: `channel_call` is sent with it."""
        return {name: method.group for name, method in self._methods.items()}

    @ray.method(concurrency_group="control")  # overridden per call: .options(concurrency_group=...)
    def channel_call(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
        """A channel method over Ray (a shard on another machine): (True, result) or (False, the
        exception), as the socket channel answers, so callers see the shard's own exception types."""
        target = self._methods.get(method)
        if target is None:
            return False, ValueError(f"unknown shard method {method!r}")
        try:
            return True, target.function(*args)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller, as on the socket
            return False, portable_exception(exc)

    @ray.method(concurrency_group="control")
    def state(self) -> tuple[str, str | None]:
        return self._service.state()

    @ray.method(concurrency_group="control")
    def release(self, token: str) -> bool:
        return self._service.release(token)

    @ray.method(concurrency_group="control")
    def prepared_count(self) -> int:
        return self._service.prepared_count()

    @ray.method(concurrency_group="ingest")
    def prepare(self, raws: list[Any], partial: bool) -> PrepareReply:
        return self._service.prepare(raws, partial)

    @ray.method(concurrency_group="ingest")
    def commit(self, token: str, timeout_ms: int | None) -> IngestResult:
        return self._service.commit(token, timeout_ms)

    @ray.method(concurrency_group="query")
    def schema(self) -> Schema:
        return self._service.schema()

    @ray.method(concurrency_group="query")
    def count(self, plan: Plan, as_of_ms: int) -> int:
        return self._service.count(plan, as_of_ms)

    @ray.method(concurrency_group="query")
    def members_page(self, plan: Plan, digest: str, as_of_ms: int, after: str | None, page_size: int) -> ShardPage:
        return self._service.members_page(plan, digest, as_of_ms, after, page_size)

    @ray.method(concurrency_group="query")
    def stats(self) -> Any:
        return self._service.stats()

    @ray.method(concurrency_group="admin")
    def snapshot(self) -> Any:
        return self._service.snapshot()

    @ray.method(concurrency_group="admin")
    def compact(self) -> Any:
        return self._service.compact()

    @ray.method(concurrency_group="query")
    def count_many(self, queries: list[tuple[Plan, int]]) -> list[int | Exception]:
        return self._service.count_many(queries)

    @ray.method(concurrency_group="admin")
    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._service.close()

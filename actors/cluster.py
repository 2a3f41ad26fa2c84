"""The sharded engine: one Ray actor per shard, behind the `SegmentsBackend` interface (actors/api.py).

    cluster = await Cluster.start("data", shards=4, tz="Europe/Istanbul")   # inside an asyncio loop
    outcome = await cluster.ingest(records, partial=False, timeout_ms=None)
    await cluster.count('order_count >= 5', as_of_ms=None)
    page = await cluster.members_page(rule, as_of_ms, after=None, page_size=1000)
    await cluster.close()

`start` is an async factory and every method except `serving()` is a coroutine for one asyncio loop
(the grpc.aio server's): the cluster's bookkeeping (in-flight counts, shard states) lives on that loop
without locks, and awaiting Ray's object refs never blocks it.

* Placement: customer -> shard by xxh3_64 of the id (actors/placement.py); the shard count is fixed
  in DATA_DIR/cluster.json when the directory is created (actors/layout.py) and changed only offline by
  `segments reshard` (actors/reshard.py). Shard -> Ray node: `local` or `spread`
  (actors/placement_nodes.py, docs/SCALING.md).
* Ingest: two phases across shards (actors/ingest_coordinator.py), shielded from cancellation so a
  client hanging up cannot stop it between the phases. Declarations: `declare`, on every shard.
* Queries: compiled once here against the cluster's schema copy, the plan shipped to every shard,
  counts summed, member pages merged in customer-id byte order (actors/member_pages.py).
* Bounds: MAX_INFLIGHT_CALLS_PER_SHARD operations per shard (OverloadedError beyond); prepared batches
  bounded and expiring per shard (actors/prepared.py).
* Recovery: Ray restarts a dead shard actor, which reopens its workspace; meanwhile calls touching it
  raise ShardUnavailableError and `serving()` is False (actors/shard_client.py keeps the state).
See docs/SERVICE.md, "Shards and actors".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from actors.api import (
    ClusterStats,
    CountOutcome,
    IngestOutcome,
    MembersPage,
    PreviewOutcome,
    Rule,
    ShardCompactionInfo,
    ShardSnapshotInfo,
    ShardStatsInfo,
    ShardUnavailableError,
    WireBatch,
)
from actors.cluster_insights import ClusterInsights
from actors.cluster_segments import ClusterSegments
from actors.count_batcher import CountBatcher
from actors.ingest_coordinator import (
    declare_everywhere,
    ingest_across_shards,
    router_errors,
    wire_router_errors,
)
from actors.layout import ClusterLayout, open_layout
from actors.member_pages import ShardPage, check_page_size, merge_pages
from actors.placement import RoutedBatch, route_batch, route_wire
from actors.placement_nodes import ShardPlacement, actor_options, check_room, shard_service_options
from actors.plan_cache import PlanCache
from actors.prepared import MAX_PREPARED_BATCHES_PER_SHARD, PREPARED_BATCH_TTL_MS
from actors.ray_runtime import ensure_ray, shutdown_if_started
from actors.schema_sync import fullest, missing_declarations
from actors.shard_actor import ShardActor
from actors.shard_channel import ChannelDirectory
from actors.shard_client import MAX_INFLIGHT_CALLS_PER_SHARD, ShardClient
from actors.shard_service import FAILED, RECOVERING, SERVING, plan_digest
from indexes.durable.engine import MAX_BATCH_RECORDS
from indexes.engine import now_ms
from indexes.log.fsio import DirLock
from indexes.plan.compile import Plan, compile_rule
from indexes.records import RecordError, validate_batch
from indexes.rules import format_rule, load_rule
from indexes.rules.model import Node
from indexes.schema import Schema

START_TIMEOUT_MS = 300_000  # every shard opened (snapshot + replay; 12 s at 1 M customers per shard)
CLOSE_TIMEOUT_MS = 120_000  # operations in progress finish before the shards close
MONITOR_INTERVAL_MS = 100  # how often the monitor polls the shards' probes (non-blocking)
_WAIT_SLICE_S = 0.05


@dataclass(frozen=True)
class CompiledQuery:
    node: Node  # the validated rule
    plan: Plan  # shipped to every shard
    digest: str  # the shards' member-list cache key


class Cluster(ClusterSegments, ClusterInsights):
    """Use `await Cluster.start(...)`."""

    def __init__(self, layout: ClusterLayout, clients: list[ShardClient], schema: Schema, lock: DirLock,
                 started_ray: bool, channels: ChannelDirectory) -> None:
        self.layout = layout
        self._clients = clients
        self._channels = channels
        self._schema = schema  # the cluster's copy: rules compile against it; refreshed by declare
        self._schema_version = 0  # +1 whenever _schema is replaced (compiled rules are keyed by it)
        self._plans: PlanCache[CompiledQuery] = PlanCache()
        self._counts = [CountBatcher(self._count_many_on(client)) for client in clients]
        self._lock = lock
        self._started_ray = started_ray
        self._operations = 0  # operations in progress (each holds one slot per shard it touches)
        self._idle = asyncio.Event()
        self._idle.set()
        self._declare_lock = asyncio.Lock()  # one declare at a time: shards get declarations in one order
        self._schema_suspect = False  # a declare failed mid-commit: shards may lag; synced before use
        self._compacting = False
        self._closing = False
        self._ingests: set[asyncio.Task] = set()  # shielded ingests (kept referenced until done)
        self._monitor = asyncio.get_running_loop().create_task(self._monitor_shards())
        self._init_segments()  # saved segments: catalog copy, clock ticker, change feed (actors/cluster_segments.py)

    # --- lifecycle -----------------------------------------------------------------------------
    @classmethod
    async def start(
        cls,
        data_dir: str | os.PathLike[str],
        shards: int | None = None,
        tz: str | None = None,
        *,
        sync: str = "always",
        ray_address: str | None = None,
        max_inflight_calls_per_shard: int = MAX_INFLIGHT_CALLS_PER_SHARD,
        max_prepared_batches_per_shard: int = MAX_PREPARED_BATCHES_PER_SHARD,
        prepared_batch_ttl_ms: int = PREPARED_BATCH_TTL_MS,
        start_timeout_ms: int = START_TIMEOUT_MS,
        count_cache_entries: int = 0,
        placement: ShardPlacement | None = None,
    ) -> Cluster:
        """Open (or create, with `shards` - default one per core - and `tz` - default UTC) the cluster
        on `data_dir`, start one shard actor per shard and wait until every shard has recovered.
        `count_cache_entries` > 0 gives each shard an exact count cache (actors/count_cache.py).
        `placement`: which Ray nodes run the shards (default local: the router's node).

        Raises ClusterLayoutError when `shards` or `tz` differ from the directory's, LogLockedError
        when another process runs a cluster on it, ShardUnavailableError when a shard cannot open."""
        root = Path(data_dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        lock = DirLock(root)
        lock.acquire()  # before creating anything: one cluster per data directory
        started_ray = False
        actors: list[Any] = []
        channels = ChannelDirectory()
        try:
            layout = open_layout(root, shards, tz)
            started_ray = ensure_ray(ray_address)
            placement = placement or ShardPlacement()
            options = {**shard_service_options(placement), "sync": sync, "max_prepared_batches": max_prepared_batches_per_shard,
                       "prepared_batch_ttl_ms": prepared_batch_ttl_ms, "count_cache_entries": count_cache_entries}
            # Shards on the router's node are called over Unix sockets, others through Ray (actors/shard_client.py).
            router_node_id = ray.get_runtime_context().get_node_id()
            check_room(placement, layout.shards, ray.cluster_resources())
            where = actor_options(placement, router_node_id)
            for shard in range(layout.shards):
                actors.append(ShardActor.options(**where).remote(  # type: ignore[attr-defined]
                    shard, str(root), layout.shard_path(shard), options, channels.socket_path(shard), router_node_id))
            clients = [ShardClient(i, actor, channels.socket_path(i), max_inflight_calls_per_shard)
                       for i, actor in enumerate(actors)]
            cluster = cls(layout, clients, Schema(), lock, started_ray, channels)
        except BaseException:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            shutdown_if_started(started_ray)
            channels.remove()
            lock.release()
            raise
        try:
            await cluster.wait_serving(start_timeout_ms)
            await cluster._sync_schemas()
            await cluster._sync_catalogs()
        except BaseException:
            await cluster.close()
            raise
        return cluster

    @property
    def shards(self) -> int:
        return self.layout.shards

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir

    def shard_actor(self, shard: int) -> Any:
        """The Ray actor handle of a shard (operations and tests, e.g. `ray.kill`)."""
        return self._clients[shard].handle

    def shard_locations(self) -> list[tuple[str | None, str | None]]:
        """Per shard, (Ray node id, transport "unix" | "ray") of the incarnation the router is connected
        to; (None, None) before the first connection."""
        return [(c.node_id, c.transport) for c in self._clients]

    def serving(self) -> bool:
        """Every shard is up and recovered (the health check's SERVING)."""
        return not self._closing and all(c.serving for c in self._clients)

    async def wait_serving(self, timeout_ms: int) -> None:
        """Return once every shard is SERVING; ShardUnavailableError when one FAILED or on timeout."""
        deadline = time.monotonic() + timeout_ms / 1000
        # Bounded by the deadline.
        while not all(c.serving for c in self._clients):
            failed = [c for c in self._clients if c.state == FAILED]
            if failed:
                raise ShardUnavailableError("; ".join(f"shard {c.shard} FAILED: {c.reason}" for c in failed))
            if time.monotonic() >= deadline:
                down = [f"shard {c.shard} {c.state}: {c.reason}" for c in self._clients if not c.serving]
                raise ShardUnavailableError(f"not serving after {timeout_ms} ms: {'; '.join(down)}")
            for client in self._clients:
                client.poll()
            await asyncio.sleep(_WAIT_SLICE_S)

    async def close(self) -> None:
        """Stop accepting work, drain what is in flight, close every shard's engine (syncing its log),
        stop the actors; shut Ray down only if `start` started it."""
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(TimeoutError):  # the shards' own close still waits for their batches in flight
            await asyncio.wait_for(self._idle.wait(), CLOSE_TIMEOUT_MS / 1000)
        self._monitor.cancel()
        await self._close_segments()
        handles = [c.handle for c in self._clients]
        # A restarting shard closes once it is up; one that cannot is killed below anyway (its
        # acknowledged batches are in its log already).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(h.close.remote() for h in handles), return_exceptions=True), CLOSE_TIMEOUT_MS / 1000
            )
        for client in self._clients:
            client.close_channel()
        for handle in handles:
            ray.kill(handle, no_restart=True)
        shutdown_if_started(self._started_ray)
        self._channels.remove()
        self._lock.release()

    async def _monitor_shards(self) -> None:
        # Ends when cancelled by close(); each turn is a non-blocking poll per shard.
        while True:
            now_s = time.monotonic()
            for client in self._clients:
                client.poll(now_s)
            await asyncio.sleep(MONITOR_INTERVAL_MS / 1000)

    def _take_slots(self, shards: Iterable[int]) -> list[ShardClient]:
        """One in-flight slot on each shard, all or none: OverloadedError / ShardUnavailableError
        before anything is sent. Synchronous, so check-and-take cannot interleave with another call."""
        if self._closing:
            raise ShardUnavailableError("the service is shutting down")
        clients = [self._clients[s] for s in shards]
        for client in clients:
            client.check_serving()
        for client in clients:
            client.check_room()
        for client in clients:
            client.inflight += 1
        self._operations += 1
        self._idle.clear()
        return clients

    def _free_slots(self, clients: list[ShardClient]) -> None:
        for client in clients:
            client.inflight -= 1
            assert client.inflight >= 0
        self._operations -= 1
        assert self._operations >= 0
        if self._operations == 0:
            self._idle.set()

    @contextmanager
    def _slots(self, shards: Iterable[int]) -> Iterator[None]:
        clients = self._take_slots(shards)
        try:
            yield
        finally:
            self._free_slots(clients)

    def _all(self) -> range:
        return range(self.layout.shards)

    # --- ingest --------------------------------------------------------------------------------
    async def ingest(self, raws: list[dict[str, Any]], *, partial: bool = False, timeout_ms: int | None = None) -> IngestOutcome:
        """Events, profiles and erasures, each to its customer's shard; returns once every accepted
        record is durable and applied. Without `partial`, one bad record raises RecordBatchError
        (indexes are the caller's) and nothing is stored on any shard."""
        if len(raws) > MAX_BATCH_RECORDS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_RECORDS} records (got {len(raws)}): split it")
        await self._ensure_schema_consistent()
        self._check_not_compacting()
        routed = route_batch(raws, self.layout.shards)
        early = router_errors(raws, routed, self._schema)
        return await self._start_ingest(len(raws), routed, early, partial, timeout_ms, "prepare", None)

    async def ingest_wire(self, batch: WireBatch, *, partial: bool = False, timeout_ms: int | None = None,
                          after: asyncio.Future[Any] | None = None) -> IngestOutcome:
        """`ingest` of records in their wire form: routed by the customer each names, each shard sent the
        bytes of its own records, which it decodes (in parallel, each on its own core). `after`: see
        actors/api.py (a stream's batches in order)."""
        total = len(batch)
        if total > MAX_BATCH_RECORDS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_RECORDS} records (got {total}): split it")
        await self._ensure_schema_consistent()
        self._check_not_compacting()
        routed = route_wire(batch, self.layout.shards)
        early = wire_router_errors(batch, routed, self._schema)
        return await self._start_ingest(total, routed, early, partial, timeout_ms, "prepare_wire", after)

    def _check_not_compacting(self) -> None:
        # Called after the last await before _start_ingest: from here to the task's registration
        # nothing interleaves, so compact() either refuses this ingest or waits for it.
        if self._compacting:
            raise ShardUnavailableError("compaction is running; ingest resumes when it ends")

    async def _start_ingest(self, total: int, routed: RoutedBatch, early: list[RecordError], partial: bool,
                            timeout_ms: int | None, prepare: str, after: asyncio.Future[Any] | None) -> IngestOutcome:
        clients = self._take_slots(routed.targets())
        # Shielded: once started, the two phases finish (commit or release) even if the caller is
        # cancelled; the task holds the slots until then.
        task = asyncio.get_running_loop().create_task(
            self._ingest(clients, total, routed, early, partial, timeout_ms, prepare, after))
        self._ingests.add(task)
        task.add_done_callback(self._ingests.discard)
        return await asyncio.shield(task)

    async def _ingest(self, slots: list[ShardClient], total: int, routed: RoutedBatch, early: list[RecordError],
                      partial: bool, timeout_ms: int | None, prepare: str,
                      after: asyncio.Future[Any] | None) -> IngestOutcome:
        try:
            return await ingest_across_shards(self._clients, total, routed, early, partial=partial,
                                              timeout_ms=timeout_ms, prepare=prepare, after=after)
        finally:
            self._free_slots(slots)

    async def declare(self, bodies: list[dict[str, Any]], ts_ms: int | None = None) -> int:
        """Declaration bodies, validated against the cluster's schema, then appended to every shard in
        two phases (all or none). Returns the number of declarations stored on every shard."""
        await self._ensure_schema_consistent()  # before the lock: it takes the lock itself when it syncs
        async with self._declare_lock:
            if self._schema_suspect:  # another declare failed while this one waited for the lock
                await self._sync_schemas()
            when_ms = now_ms() if ts_ms is None else ts_ms
            raws = [{"declare": body, "ts": when_ms} for body in bodies]
            checked = validate_batch(raws, self._schema)  # RecordBatchError before any shard is asked
            with self._slots(self._all()):
                self._schema_suspect = True  # until every shard committed
                accepted = await declare_everywhere(self._clients, raws, None)
                self._set_schema(checked.schema)
                self._schema_suspect = False
            return accepted

    async def schema(self) -> Schema:
        await self._ensure_schema_consistent()
        return self._schema.copy()

    async def _ensure_schema_consistent(self) -> None:
        if self._schema_suspect:
            async with self._declare_lock:
                if self._schema_suspect:
                    await self._sync_schemas()

    async def _sync_schemas(self) -> None:
        """Read every shard's schema; declare to lagging shards what they miss (a declare that failed
        mid-commit); adopt the result as the cluster's copy."""
        with self._slots(self._all()):
            schemas: list[Schema] = list(await asyncio.gather(*(c.call("schema") for c in self._clients)))
            full = fullest(schemas)
            for client, schema in zip(self._clients, schemas, strict=True):
                bodies = missing_declarations(schema, full)
                if bodies:
                    raws = [{"declare": body} for body in bodies]
                    await declare_everywhere([client], raws, None)
        self._set_schema(full.copy())
        self._schema_suspect = False

    def _set_schema(self, schema: Schema) -> None:
        self._schema = schema
        self._schema_version += 1

    # --- queries -------------------------------------------------------------------------------
    def compile(self, rule: Rule) -> CompiledQuery:
        """Validate and compile against the cluster's schema (RuleError names the node path); repeated
        rules come from the router's cache of compiled rules (actors/plan_cache.py)."""
        schema = self._schema

        def compiled() -> CompiledQuery:
            node = load_rule(rule, schema, self.segment_exists)
            plan = compile_rule(node, schema)
            return CompiledQuery(node, plan, plan_digest(plan))

        return self._plans.get_or_compile(rule, self._schema_version, compiled)

    async def count(self, rule: Rule, as_of_ms: int | None = None) -> CountOutcome:
        await self._ensure_schema_consistent()
        query = self.compile(rule)
        at_ms = now_ms() if as_of_ms is None else as_of_ms  # one instant for every shard
        with self._slots(self._all()):
            # Each shard's counts are micro-batched (actors/count_batcher.py): one call per batch.
            counts = await asyncio.gather(*(b.count(query.digest, query.plan, at_ms) for b in self._counts))
        return CountOutcome(count=sum(counts), as_of_ms=at_ms)

    @staticmethod
    def _count_many_on(client: ShardClient) -> Callable[[list[tuple[Plan, int]]], Awaitable[list[Any]]]:
        async def count_many(queries: list[tuple[Plan, int]]) -> list[Any]:
            return await client.call("count_many", queries)
        return count_many

    async def preview(self, rule: Rule, as_of_ms: int | None = None, sample_size: int = 20) -> PreviewOutcome:
        await self._ensure_schema_consistent()
        query = self.compile(rule)
        at_ms = now_ms() if as_of_ms is None else as_of_ms
        ids, _, total = await self._page(query, at_ms, None, sample_size)
        return PreviewOutcome(count=total, sample_customer_ids=ids, rule_text=format_rule(query.node), as_of_ms=at_ms)

    async def members_page(self, rule: Rule, as_of_ms: int, after: str | None, page_size: int) -> MembersPage:
        """Members with customer id > `after` (None: from the start), at most `page_size` (0..10 000)."""
        await self._ensure_schema_consistent()
        query = self.compile(rule)
        ids, has_more, total = await self._page(query, as_of_ms, after, page_size)
        return MembersPage(customer_ids=ids, has_more=has_more, total_count=total, as_of_ms=as_of_ms)

    async def _page(self, query: CompiledQuery, as_of_ms: int, after: str | None, page_size: int) -> tuple[list[str], bool, int]:
        check_page_size(page_size)
        with self._slots(self._all()):
            pages: list[ShardPage] = list(await asyncio.gather(
                *(c.call("members_page", query.plan, query.digest, as_of_ms, after, page_size) for c in self._clients)
            ))
        ids, has_more = merge_pages(pages, page_size)
        return ids, has_more, sum(p.count for p in pages)

    # --- operations ----------------------------------------------------------------------------
    async def snapshot(self) -> list[ShardSnapshotInfo]:
        with self._slots(self._all()):
            return list(await asyncio.gather(*(c.call("snapshot") for c in self._clients)))

    async def compact(self) -> list[ShardCompactionInfo]:
        """Erasure compaction of every shard, one at a time. Ingest is refused meanwhile (a shard
        closes its engine to compact, which would release sub-batches prepared on it); queries touching
        the shard being compacted get ShardUnavailableError."""
        if self._compacting:
            raise ShardUnavailableError("compaction is already running")
        self._compacting = True
        try:
            # Ingests already started finish first (they are between prepare and commit), and clock ticks.
            await asyncio.gather(*list(self._ingests), return_exceptions=True)
            await self.ticker.wait_idle()
            reports: list[ShardCompactionInfo] = []
            for client in self._clients:
                with self._slots([client.shard]):
                    reports.append(await client.call("compact"))
            return reports
        finally:
            self._compacting = False

    async def stats(self) -> ClusterStats:
        """Per-shard statistics; a shard that is down reports its state with zero counts."""
        infos = await asyncio.gather(*(self._shard_stats(client) for client in self._clients))
        return ClusterStats(data_dir=str(self.layout.data_dir), time_zone=self.layout.tz, shards=list(infos))

    async def _shard_stats(self, client: ShardClient) -> ShardStatsInfo:
        if client.serving:
            try:
                with self._slots([client.shard]):
                    return await client.call("stats")
            except ShardUnavailableError:
                pass  # went down meanwhile
        state = client.state if client.state != SERVING else RECOVERING
        return ShardStatsInfo(client.shard, state, 0, 0, 0, 0, 0, None, 0, self.layout.shard_path(client.shard))

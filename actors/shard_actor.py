"""The Ray actor of one shard: actors/shard_service.py behind concurrency groups.

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
"""

from __future__ import annotations

from typing import Any

import ray

from actors.member_pages import ShardPage
from actors.shard_service import PrepareReply, ShardService
from indexes.engine import IngestResult
from indexes.plan.compile import Plan
from indexes.schema import Schema

INGEST_THREADS = 8  # prepare / commit calls of concurrent ingests, sharing fsyncs
QUERY_THREADS = 4  # count, members pages, schema, stats
CONTROL_THREADS = 2  # state probes and releases
ADMIN_THREADS = 1  # snapshot, compact, close: one at a time

CONCURRENCY_GROUPS = {"ingest": INGEST_THREADS, "query": QUERY_THREADS, "control": CONTROL_THREADS,
                      "admin": ADMIN_THREADS}


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, concurrency_groups=CONCURRENCY_GROUPS)
class ShardActor:
    def __init__(self, shard: int, data_dir: str, shard_path: str, options: dict[str, Any]) -> None:
        self._service = ShardService(shard, data_dir, shard_path, **options)

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

    @ray.method(concurrency_group="admin")
    def close(self) -> None:
        self._service.close()

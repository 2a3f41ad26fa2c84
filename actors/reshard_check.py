"""What `segments reshard` compares before and after: every shard opened, its totals, schema and catalog.

Opening a shard is a snapshot load plus a log replay: CPU-bound Python, one core per shard. With
`jobs` > 1 the shards are opened in that many processes at once (spawned: the caller may hold threads,
Ray's among them, that a fork would copy half-way), each returning only its summary. Memory: `jobs`
shards' states at once.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from indexes.durable import DurableEngine
from indexes.schema import Schema

MAX_JOBS = 256


class ReshardError(ValueError):
    """The data directory cannot be resharded as asked; nothing was changed."""


@dataclass(frozen=True)
class ShardTotals:
    customers: int
    events: int


@dataclass(frozen=True)
class ShardSummary:
    totals: ShardTotals
    schema: Schema
    catalog: dict


@dataclass(frozen=True)
class Summary:
    totals: list[ShardTotals]  # per shard
    schema: Schema  # every shard's
    catalog: dict  # every shard's saved-segment catalog, plain form


def summarize_shard(shard_dir: str, tz: str, snapshot: bool) -> ShardSummary:
    """Open one shard (snapshot + log), read its summary, snapshot it if asked, close it."""
    engine = DurableEngine.open(Path(shard_dir), tz, create=False)
    try:
        stats = engine.stats()
        with engine.read_state() as inner:
            catalog = inner.segments.catalog.to_plain()
        summary = ShardSummary(ShardTotals(stats.customers, stats.events), engine.schema.copy(), catalog)
        if snapshot:
            engine.snapshot()
        return summary
    finally:
        engine.close()


def summarize(shard_dirs: list[Path], tz: str, *, snapshot: bool, jobs: int) -> Summary:
    """Every shard's summary; ReshardError when their schemas or catalogs differ."""
    assert shard_dirs and jobs >= 1
    paths = [str(path) for path in shard_dirs]
    if jobs == 1 or len(paths) == 1:
        shards = [summarize_shard(path, tz, snapshot) for path in paths]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=context) as pool:
            shards = list(pool.map(summarize_shard, paths, repeat(tz), repeat(snapshot)))
    first = shards[0]
    for number, shard in enumerate(shards):
        if shard.schema != first.schema or shard.catalog != first.catalog:
            what = "schema" if shard.schema != first.schema else "saved-segment catalog"
            raise ReshardError(f"shard {number} and shard 0 hold different {what}s: start the server once "
                               "(it brings lagging shards in line), stop it, and reshard then")
    return Summary([shard.totals for shard in shards], first.schema, first.catalog)


def check_same(before: Summary, after: Summary) -> None:
    """ReshardError unless the new shards hold what the old ones held, in total."""
    for name in ("customers", "events"):
        old = sum(getattr(t, name) for t in before.totals)
        new = sum(getattr(t, name) for t in after.totals)
        if old != new:
            raise ReshardError(f"the new shards hold {new} {name}, the old ones {old}: nothing was changed")
    if after.schema != before.schema:
        raise ReshardError("the new shards' schema differs from the old one: nothing was changed")
    if after.catalog != before.catalog:
        raise ReshardError("the new shards' saved-segment catalog differs from the old one: nothing was changed")

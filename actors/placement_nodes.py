"""Which Ray node runs each shard actor: `local` (the router's node) or `spread` over the cluster.

* `local` (default): every shard actor is pinned to the router's node (NodeAffinitySchedulingStrategy,
  soft=False) and called over its Unix socket, the fastest channel. One machine, as before.
* `spread`: Ray's SPREAD strategy puts the shard actors on as many nodes as it can. With
  `shard_resource` each actor also takes one unit of that custom resource, so only nodes that advertise
  it (`ray start --resources '{"segments_shard": 4}'`) run shards, at most that many each. Nothing pins
  an actor to a node: when a node dies, Ray restarts its shards on the nodes left, which reopen their
  directories from the shared data directory (a filesystem every node mounts: docs/SCALING.md). A
  shard on another node than the router is called through Ray (actors/remote_channel.py).

The shard -> node assignment is Ray's and may change on every restart; the customer -> shard
assignment (actors/placement.py) never does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LOCAL = "local"
SPREAD = "spread"
PLACEMENTS = (LOCAL, SPREAD)
DEFAULT_SHARD_RESOURCE = "segments_shard"
# Ray resource names are free-form; this keeps them to what a shell and a YAML manifest pass unquoted.
_RESOURCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
# How long a shard restarted on another machine waits for the lock of its dead predecessor: an NFS v4
# server frees a dead client's locks when its lease expires (90 s by default). On one machine the
# kernel frees them with the process (actors/shard_service.py OPEN_LOCK_RETRY_MS, 30 s, is plenty).
SPREAD_OPEN_LOCK_WAIT_MS = 180_000
MIN_SHARD_MEMORY_BYTES = 64 << 20  # an empty shard's process already takes about this much
MAX_SHARD_MEMORY_BYTES = 4 << 40


class PlacementError(ValueError):
    """A placement option that cannot be used; the message names the option."""


@dataclass(frozen=True)
class ShardPlacement:
    mode: str = LOCAL
    shard_resource: str | None = None  # spread only: a custom resource each shard actor takes one unit of
    # Memory Ray reserves for each shard actor on its node (Ray's `memory` resource): Ray then puts no
    # more shards on a node than its memory holds, also when restarting them after a node died.
    shard_memory_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.shard_memory_bytes is not None and not MIN_SHARD_MEMORY_BYTES <= self.shard_memory_bytes <= MAX_SHARD_MEMORY_BYTES:
            raise PlacementError(f"--shard-memory-mib must be {MIN_SHARD_MEMORY_BYTES >> 20}..{MAX_SHARD_MEMORY_BYTES >> 20} "
                                 f"(got {self.shard_memory_bytes / (1 << 20):g})")
        if self.mode not in PLACEMENTS:
            raise PlacementError(f"--placement must be one of {', '.join(PLACEMENTS)} (got {self.mode!r})")
        if self.shard_resource is not None:
            if self.mode != SPREAD:
                raise PlacementError("--shard-resource applies to --placement spread only")
            if not _RESOURCE_NAME.fullmatch(self.shard_resource):
                raise PlacementError(
                    f"--shard-resource must be a letter then up to 63 letters, digits, '_', '.', '-' "
                    f"(got {self.shard_resource!r})"
                )


def check_room(placement: ShardPlacement, shards: int, cluster_resources: dict[str, float]) -> None:
    """PlacementError when the Ray cluster cannot hold `shards` actors taking one unit of the shard
    resource, or the reserved memory, each (they would wait for a node forever). Totals over the nodes:
    a node too small for one shard is not found here. `cluster_resources`: ray.cluster_resources()."""
    if placement.shard_memory_bytes is not None:
        memory_bytes = cluster_resources.get("memory", 0)
        if memory_bytes < shards * placement.shard_memory_bytes:
            raise PlacementError(
                f"--shard-memory-mib {placement.shard_memory_bytes >> 20}: the Ray cluster's nodes offer "
                f"{int(memory_bytes) >> 20} MiB of memory for {shards} shards"
            )
    if placement.shard_resource is None:
        return
    units = cluster_resources.get(placement.shard_resource, 0)
    if units < shards:
        raise PlacementError(
            f"--shard-resource {placement.shard_resource}: the Ray cluster's nodes advertise {units:g} units "
            f"for {shards} shards (start nodes with `ray start --resources '{{\"{placement.shard_resource}\": N}}'`)"
        )


def shard_service_options(placement: ShardPlacement) -> dict[str, Any]:
    """ShardService options that depend on where shards run."""
    return {"open_lock_wait_ms": SPREAD_OPEN_LOCK_WAIT_MS} if placement.mode == SPREAD else {}


def actor_options(placement: ShardPlacement, router_node_id: str) -> dict[str, Any]:
    """Ray `.options(...)` of a shard actor under `placement`."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # Ray only where actors start

    options: dict[str, Any]
    if placement.mode == LOCAL:
        # The router talks to the shards over Unix sockets on its own machine.
        options = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=router_node_id, soft=False)}
    else:
        options = {"scheduling_strategy": "SPREAD"}
        if placement.shard_resource is not None:
            options["resources"] = {placement.shard_resource: 1}
    if placement.shard_memory_bytes is not None:
        options["memory"] = placement.shard_memory_bytes
    return options

"""`segments serve --placement local|spread [--shard-resource NAME]`: which Ray nodes run the shards.

The flags only; the placement itself is actors/placement_nodes.py, documented in docs/SCALING.md.
"""

from __future__ import annotations

import argparse

from actors.placement_nodes import LOCAL, PLACEMENTS, SPREAD, PlacementError, ShardPlacement
from indexes.durable.commands import CommandError


def add_placement_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--placement", choices=PLACEMENTS, default=LOCAL,
                       help=f"{LOCAL} (default): every shard actor on the server's node, called over Unix sockets; "
                            f"{SPREAD}: shard actors spread over the Ray cluster's nodes (with --ray-address), "
                            "restarted on the nodes left when one dies; the data directory must be on storage "
                            "every node mounts (docs/SCALING.md)")
    serve.add_argument("--shard-resource", metavar="NAME",
                       help=f"with --placement {SPREAD}: each shard actor takes one unit of this custom Ray "
                            "resource, so only nodes advertising it run shards (e.g. segments_shard)")
    serve.add_argument("--shard-memory-mib", type=int, metavar="MIB",
                       help="memory Ray reserves for each shard actor on its node (Ray's `memory` resource), so "
                            "no node gets more shards than it holds; size it from docs/DURABILITY.md (default: none)")


def placement_from_args(args: argparse.Namespace) -> ShardPlacement:
    try:
        memory_bytes = None if args.shard_memory_mib is None else args.shard_memory_mib << 20
        return ShardPlacement(args.placement, args.shard_resource, memory_bytes)
    except PlacementError as exc:
        raise CommandError(str(exc)) from None

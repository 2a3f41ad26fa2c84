"""`segments reshard --data-dir DIR --shards N`: change a stopped cluster's shard count (actors/reshard.py).

Runs without Ray and without a server: the server must be stopped (the command takes the data
directory's lock and says so when it is held). Progress goes to stderr, the summary to stdout.
Exit 0 when the new layout is in use, 2 when nothing was changed (bad option, server running,
a check that failed). docs/SCALING.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from indexes.durable.commands import EXIT_OK, CommandError
from indexes.durable.workspace import WorkspaceError
from indexes.log import LogError, LogLockedError
from indexes.shard.dense_ids import ShardFullError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "reshard", help="change the shard count of a stopped server's data directory (replays every shard's log)")
    parser.add_argument("--data-dir", required=True, help="the cluster data directory (the server must be stopped)")
    parser.add_argument("--shards", type=int, required=True, help="the new shard count (1..1024)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="shards opened at once, each in a process of its own (default 1; more uses more "
                             "cores and holds N shards' states in memory at once)")
    parser.add_argument("--keep-old", action="store_true",
                        help="keep the previous shard directories (removed by the next reshard) instead of deleting them")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=run_reshard)


def run_reshard(args: argparse.Namespace) -> int:
    from actors.reshard import ReshardError, reshard  # the log machinery only for this command

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"reshard: {message}", file=sys.stderr, flush=True)

    try:
        report = reshard(args.data_dir, args.shards, keep_old=args.keep_old, jobs=args.jobs, progress=progress)
    except LogLockedError as exc:
        raise CommandError(f"{exc}: stop the server (or the other segments command) first") from None
    except ShardFullError as exc:
        raise CommandError(f"a new shard would be full ({exc}): reshard to more shards; nothing was changed") from None
    except (ReshardError, WorkspaceError, LogError) as exc:
        raise CommandError(f"reshard: {exc}") from None
    print(f"resharded {report.data_dir}: {report.old_shards} -> {report.new_shards} shards (generation "
          f"{report.generation}) in {report.seconds:.1f} s")
    print(f"  {report.batches} batches, {report.routed_records} records routed, {report.replicated_records} "
          f"declarations and segment commands on every shard, {report.tombstone_digests} tombstoned event ids")
    print(f"  {report.customers} customers, {report.events} events; old shard directories "
          f"{'removed' if report.old_removed else 'kept'}")
    return EXIT_OK

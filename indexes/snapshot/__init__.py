"""Snapshots of shard state and digests of every index (plain Python: no Ray, no gRPC).

Restart = the newest valid snapshot + a replay of the log from the LSN it covers:

    loaded = load_newest_snapshot(snapshots_dir)          # None: replay the whole log
    shard = loaded.shard if loaded else Shard(tz=...)
    for lsn, record in log.read(loaded.info.covered_lsn if loaded else 0): ...
    write_snapshot(shard, snapshots_dir, covered_lsn=log.end_lsn)
    prune_snapshots(snapshots_dir, keep=2)

docs/SNAPSHOTS.md describes the format, atomicity, fallback and digest canonicalisation.
"""

from indexes.snapshot.digest import index_digests, shard_digest
from indexes.snapshot.digest_segments import segment_digests, state_digest, state_digests
from indexes.snapshot.errors import SnapshotError
from indexes.snapshot.housekeeping import delete_all_snapshots, list_snapshots, prune_snapshots
from indexes.snapshot.info import LoadedSnapshot, SkippedSnapshot, SnapshotInfo
from indexes.snapshot.load import load_newest_snapshot
from indexes.snapshot.write import write_snapshot

__all__ = [
    "LoadedSnapshot",
    "SkippedSnapshot",
    "SnapshotError",
    "SnapshotInfo",
    "delete_all_snapshots",
    "index_digests",
    "list_snapshots",
    "load_newest_snapshot",
    "prune_snapshots",
    "segment_digests",
    "shard_digest",
    "state_digest",
    "state_digests",
    "write_snapshot",
]

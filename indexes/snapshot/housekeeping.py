"""Listing, pruning and deleting snapshots.

One owner per snapshots directory (the shard's actor) writes, prunes and deletes; pruning removes
temp directories, so it must not run while a write into the same directory is in progress.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from indexes.log.fsio import fsync_dir
from indexes.snapshot.errors import SnapshotError
from indexes.snapshot.info import SnapshotInfo
from indexes.snapshot.layout import TRASH_PREFIX, leftover_dirs, snapshot_dirs, unique_suffix
from indexes.snapshot.load import snapshot_info
from indexes.snapshot.manifest import read_manifest

Fsync = Callable[[int], None]


def list_snapshots(snapshots_dir: Path) -> list[SnapshotInfo]:
    """Snapshots whose manifest reads, newest first. Data files are not checked (see load)."""
    out = []
    for _, path in snapshot_dirs(Path(snapshots_dir)):
        try:
            out.append(snapshot_info(path, read_manifest(path)))
        except (SnapshotError, OSError):
            continue
    return out


def _remove(path: Path, lsn: int) -> None:
    """Rename out of the snapshot namespace first (atomic), then delete at leisure: a crash in
    the middle of rmtree never leaves a half-deleted directory under a loadable name."""
    trash = path.parent / f"{TRASH_PREFIX}{unique_suffix(lsn)}"
    os.rename(path, trash)
    shutil.rmtree(trash)


def prune_snapshots(snapshots_dir: Path, keep: int = 2, *, fsync: Fsync = os.fsync) -> list[Path]:
    """Keep the newest `keep` snapshots whose manifest reads; delete every other snapshot directory
    (older ones, and any with an unreadable manifest) and leftover temp / trash directories.
    Returns the paths removed (by their names before removal)."""
    if keep < 1:
        raise ValueError("keep must be >= 1: pruning never deletes the newest snapshot")
    snapshots_dir = Path(snapshots_dir)
    kept = 0
    removed: list[Path] = []
    for lsn, path in snapshot_dirs(snapshots_dir):
        if kept < keep:
            try:
                read_manifest(path)
                kept += 1
                continue
            except SnapshotError:
                pass  # unusable: removed below, and it does not count towards `keep`
        _remove(path, lsn)
        removed.append(path)
    for path in leftover_dirs(snapshots_dir):
        shutil.rmtree(path)
        removed.append(path)
    if removed:
        fsync_dir(snapshots_dir, fsync)
    return removed


def delete_all_snapshots(snapshots_dir: Path, *, fsync: Fsync = os.fsync) -> None:
    """Delete every snapshot (and leftover), e.g. before a compaction rewrites the log.

    Erasure: snapshots hold erased customers' rows (masked until compaction) and LSNs that a
    rewrite renumbers, so the compactor calls this BEFORE the rewrite commits. A crash in between
    leaves the old log and fewer snapshots of it, both still consistent.
    """
    snapshots_dir = Path(snapshots_dir)
    if not snapshots_dir.is_dir():
        return
    # Rename everything out of the snapshot namespace first and make that durable, then delete.
    renamed = []
    for lsn, path in snapshot_dirs(snapshots_dir):
        trash = snapshots_dir / f"{TRASH_PREFIX}{unique_suffix(lsn)}"
        os.rename(path, trash)
        renamed.append(trash)
    fsync_dir(snapshots_dir, fsync)
    for path in [*renamed, *(p for p in leftover_dirs(snapshots_dir) if p not in renamed)]:
        shutil.rmtree(path)
    fsync_dir(snapshots_dir, fsync)

"""Names inside a snapshots directory.

  snap-00000000000001840000/    a complete snapshot covering LSNs [0, 1840000): MANIFEST + data files
  .tmp-snap-<lsn>-<pid>-<hex>/   being written (or left by a crash mid-write): never loaded
  .trash-snap-<lsn>-<pid>-<hex>/ being deleted: never loaded

A snapshot appears under its final name only by a rename of a complete, fsynced temp directory,
so a directory named snap-<lsn> was complete when renamed; the CRCs catch what happened later.
Twenty digits sort as numbers, like the log's segment names.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

SNAPSHOT_PREFIX = "snap-"
TEMP_PREFIX = ".tmp-snap-"
TRASH_PREFIX = ".trash-snap-"
_SNAPSHOT_NAME = re.compile(r"^snap-(\d{20})$")


def snapshot_name(covered_lsn: int) -> str:
    assert 0 <= covered_lsn < 10**20
    return f"{SNAPSHOT_PREFIX}{covered_lsn:020d}"


def covered_lsn_of(path: Path) -> int | None:
    """The LSN a snapshot directory's name says it covers; None for anything else."""
    match = _SNAPSHOT_NAME.match(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def unique_suffix(covered_lsn: int) -> str:
    return f"{covered_lsn:020d}-{os.getpid()}-{secrets.token_hex(4)}"


def snapshot_dirs(snapshots_dir: Path) -> list[tuple[int, Path]]:
    """(covered LSN, path) of every directory named like a snapshot, newest first."""
    if not snapshots_dir.is_dir():
        return []
    found = []
    for path in snapshots_dir.iterdir():
        lsn = covered_lsn_of(path)
        if lsn is not None:
            found.append((lsn, path))
    return sorted(found, reverse=True)


def leftover_dirs(snapshots_dir: Path) -> list[Path]:
    """Temp and trash directories: an interrupted write or delete."""
    if not snapshots_dir.is_dir():
        return []
    return sorted(p for p in snapshots_dir.iterdir() if p.name.startswith((TEMP_PREFIX, TRASH_PREFIX)))

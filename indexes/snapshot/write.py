"""Writing a snapshot atomically.

Steps: (1) encode the shard into a fresh temp directory, streaming arrays and bitmaps to disk;
(2) write the manifest (with every data file's size and CRC32C) last; (3) fsync every file, then the
temp directory; (4) rename the temp directory to snap-<covered_lsn>; (5) fsync the snapshots
directory. A crash before (4) leaves only a temp directory, which loading ignores and pruning
removes; after (5) the snapshot is durable. A snapshot already present under the same name (the
same LSN saved again) is first renamed to a trash name and removed after the new one is in place.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from indexes.log.fsio import ensure_dir, fsync_dir, write_all
from indexes.segments.live import LiveSegments
from indexes.shard.shard import Shard
from indexes.snapshot.blobs import BlobWriter
from indexes.snapshot.codec_schema import schema_to_plain
from indexes.snapshot.codec_segments import write_segments
from indexes.snapshot.codec_shard import write_shard
from indexes.snapshot.errors import SnapshotError
from indexes.snapshot.info import SnapshotInfo
from indexes.snapshot.layout import TEMP_PREFIX, TRASH_PREFIX, snapshot_name, unique_suffix
from indexes.snapshot.manifest import FORMAT_VERSION, MANIFEST_FILE, encode_manifest

Fsync = Callable[[int], None]


def _write_file_durably(path: Path, data: bytes, fsync: Fsync) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, data)
        fsync(fd)
    finally:
        os.close(fd)


def _encode_into(directory: Path, shard: Shard, segments: LiveSegments | None, covered_lsn: int,
                 created_at_ms: int, fsync: Fsync) -> None:
    blobs = BlobWriter(directory)
    try:
        tree = write_shard(shard, blobs)
        segments_tree = write_segments(segments, blobs) if segments is not None else None
    except BaseException:
        blobs.abort()
        raise
    layout, files = blobs.finish(fsync)
    body = {
        "format_version": FORMAT_VERSION,
        "covered_lsn": covered_lsn,
        "created_at_ms": created_at_ms,
        "tz": shard.calendar.name,
        "capacity": shard.ids.capacity,
        "schema": schema_to_plain(shard.schema),
        "files": files,
        "blobs": layout,
        "shard": tree,
    }
    if segments_tree is not None:
        body["segments"] = segments_tree
    _write_file_durably(directory / MANIFEST_FILE, encode_manifest(body), fsync)
    fsync_dir(directory, fsync)


def _install(temp: Path, final: Path, covered_lsn: int, fsync: Fsync) -> None:
    """Rename the complete temp directory to its final name, displacing a same-named snapshot."""
    trash = None
    if final.exists():
        trash = final.parent / f"{TRASH_PREFIX}{unique_suffix(covered_lsn)}"
        os.rename(final, trash)
    try:
        os.rename(temp, final)
    except OSError:
        if trash is not None:
            os.rename(trash, final)  # put the displaced snapshot back: it is still valid
        raise
    fsync_dir(final.parent, fsync)
    if trash is not None:
        shutil.rmtree(trash)
        fsync_dir(final.parent, fsync)


def write_snapshot(shard: Shard, snapshots_dir: Path, covered_lsn: int, *, fsync: Fsync = os.fsync,
                   segments: LiveSegments | None = None) -> SnapshotInfo:
    """Save `shard` (and the saved-segment state beside it, if given), which has applied log records
    [0, covered_lsn), as snapshots_dir/snap-<lsn>.

    Flushes the shard's store tails and pending bitmap pairs first (logical state is unchanged).
    The shard must not be changed by another thread meanwhile. Raises SnapshotError on I/O failure,
    leaving no partial snapshot under a final name.
    """
    if isinstance(covered_lsn, bool) or not isinstance(covered_lsn, int) or covered_lsn < 0:
        raise ValueError(f"covered_lsn must be an int >= 0, got {covered_lsn!r}")
    snapshots_dir = Path(snapshots_dir)
    created_at_ms = int(time.time() * 1000)
    final = snapshots_dir / snapshot_name(covered_lsn)
    temp = snapshots_dir / f"{TEMP_PREFIX}{unique_suffix(covered_lsn)}"
    try:
        ensure_dir(snapshots_dir, fsync)
        temp.mkdir()
        _encode_into(temp, shard, segments, covered_lsn, created_at_ms, fsync)
        _install(temp, final, covered_lsn, fsync)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise SnapshotError(f"writing snapshot {final} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    size_bytes = sum(p.stat().st_size for p in final.iterdir())
    return SnapshotInfo(path=final, covered_lsn=covered_lsn, size_bytes=size_bytes, created_at_ms=created_at_ms)

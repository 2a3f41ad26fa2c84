"""Loading the newest usable snapshot, falling back to older ones.

A snapshot is used only if its manifest reads (magic, known format version, CRC), every data
file it lists is present with the listed size and CRC32C, and the shard tree decodes. Anything
else is skipped with a reason and the next older snapshot is tried, so one damaged snapshot costs
a longer log replay, never a wrong shard.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import msgpack

from indexes.segments.live import LiveSegments
from indexes.shard.shard import Shard
from indexes.snapshot.blobs import BlobReader
from indexes.snapshot.codec_schema import schema_from_plain
from indexes.snapshot.codec_segments import read_segments
from indexes.snapshot.codec_shard import read_shard
from indexes.snapshot.errors import SnapshotError
from indexes.snapshot.info import LoadedSnapshot, SkippedSnapshot, SnapshotInfo
from indexes.snapshot.layout import TEMP_PREFIX, leftover_dirs, snapshot_dirs
from indexes.snapshot.manifest import read_manifest
from indexes.timecal import TimeZoneError

# Errors a CRC-clean but wrongly structured manifest can raise while its tree is walked (written by
# another build, say); a bug in the codec would too, which is why the reason names the exception.
# A manifest with a valid CRC but the wrong shapes inside (found by benchmarks/fuzz_targets.py: a list
# where a map belongs raises AttributeError) is skipped like any other undecodable one.
_DECODE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, AssertionError,
                  msgpack.UnpackException)


def snapshot_info(path: Path, manifest: dict[str, Any]) -> SnapshotInfo:
    size_bytes = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return SnapshotInfo(path, manifest["covered_lsn"], size_bytes, manifest["created_at_ms"])


def read_snapshot(path: Path, expected_lsn: int | None = None) -> tuple[Shard, SnapshotInfo, LiveSegments]:
    """Load one snapshot directory; SnapshotError says why it cannot be used."""
    manifest = read_manifest(path)
    if expected_lsn is not None and manifest["covered_lsn"] != expected_lsn:
        raise SnapshotError(f"manifest covers LSN {manifest['covered_lsn']}, the directory name says {expected_lsn}")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of bitmaps and strings: no cycle hunting while they arrive
    try:
        blobs = BlobReader(path, manifest.get("blobs") or {}, manifest["files"])
        schema = schema_from_plain(manifest.get("schema"))
        shard = read_shard(manifest["shard"], schema, manifest["tz"], manifest["capacity"], blobs)
        segments = read_segments(manifest["segments"], blobs) if "segments" in manifest else LiveSegments()
    except TimeZoneError as exc:
        raise SnapshotError(f"manifest: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise SnapshotError(f"undecodable shard tree: {type(exc).__name__}: {exc}") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    return shard, snapshot_info(path, manifest), segments


def load_newest_snapshot(snapshots_dir: Path, *, max_covered_lsn: int | None = None) -> LoadedSnapshot | None:
    """The newest valid snapshot, with the newer ones that were skipped and why; None if none is.

    max_covered_lsn: the log's end LSN, if known. A snapshot covering more than the log holds (the
    log lost its tail, e.g. repaired after corruption) would claim records that are gone: skipped.
    Leftover temp directories (a write interrupted by a crash) are reported as skipped too.
    """
    snapshots_dir = Path(snapshots_dir)
    skipped: list[SkippedSnapshot] = []
    for lsn, path in snapshot_dirs(snapshots_dir):
        if max_covered_lsn is not None and lsn > max_covered_lsn:
            skipped.append(SkippedSnapshot(path, f"covers LSN {lsn}, beyond the log's end {max_covered_lsn}"))
            continue
        try:
            shard, info, segments = read_snapshot(path, expected_lsn=lsn)
        except SnapshotError as exc:
            skipped.append(SkippedSnapshot(path, str(exc)))
            continue
        except OSError as exc:
            skipped.append(SkippedSnapshot(path, f"unreadable: {exc}"))
            continue
        return LoadedSnapshot(shard=shard, info=info, skipped=skipped + _interrupted(snapshots_dir), segments=segments)
    return None


def _interrupted(snapshots_dir: Path) -> list[SkippedSnapshot]:
    return [SkippedSnapshot(p, "incomplete: a write that did not finish (temporary directory)")
            for p in leftover_dirs(snapshots_dir) if p.name.startswith(TEMP_PREFIX)]

"""rewrite(data_dir, keep): a new log holding only the records keep() accepts, swapped in atomically.

This is compaction's tool (erasing a customer's events and properties from stored data, RECORDS.md):
records are visited in LSN order and the kept ones are copied byte for byte, in the same order, into new
segments, which replace the old ones through the commit protocol of `indexes.log.swap` (temp dir,
fsync, commit marker, rename). A crash at any point leaves either the old log or the new one.

LSNs are renumbered: the kept records get 0..records_kept-1. Anything that remembers an LSN (replay
checkpoints, snapshots) must be rebuilt from the new log afterwards; the report gives the new end_lsn.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from indexes.log.codec import Record, unpack_record
from indexes.log.errors import LogCorruptError
from indexes.log.frame import frame_bodies
from indexes.log.fsio import DirLock, Fsync, fsync_dir
from indexes.log.recovery import recover
from indexes.log.reports import Problem, RewriteReport
from indexes.log.scan import SegmentScan
from indexes.log.segment_file import SEGMENT_HEADER_BYTES
from indexes.log.segment_writer import DEFAULT_SEGMENT_SIZE_BYTES, SegmentWriter
from indexes.log.swap import REWRITE_DIR, commit, install
from indexes.log.walk import BadFrame, walk_frames

# Kept frames are handed to the segment writer in groups of this many: one write() per group.
_WRITE_GROUP_RECORDS = 10_000


def rewrite(
    data_dir: str | os.PathLike[str],
    keep: Callable[[Record], bool],
    *,
    segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
    fsync: Fsync = os.fsync,
) -> RewriteReport:
    """Keep the records for which keep(record) is true, in order; LSNs are renumbered from 0.

    Holds the directory lock throughout, so no FileLog may be open on `data_dir`. The log must open
    cleanly first (a torn tail is cut; corruption raises LogCorruptError: repair first).
    """
    path = Path(data_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"no log directory at {path}")
    with DirLock(path):
        _, scan = recover(path, fsync)
        temp_dir = path / REWRITE_DIR
        assert not temp_dir.exists(), "recover() resolves any earlier rewrite"
        temp_dir.mkdir()
        fsync_dir(path, fsync)
        writer = SegmentWriter(
            temp_dir, [], last_size_bytes=0, last_frames=0, segment_size_bytes=segment_size_bytes, fsync=fsync
        )
        try:
            before, kept = _copy_kept(scan.segments, keep, writer)
            writer.sync()
            writer.close()
            names = [segment.name for _, segment in writer.segments()]
            commit(path, names, fsync)
        except BaseException:
            writer.close()
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        install(path, fsync)
    return RewriteReport(before, kept, before - kept, kept, len(names))


def _copy_kept(segments: list[SegmentScan], keep: Callable[[Record], bool], writer: SegmentWriter) -> tuple[int, int]:
    before = kept = 0
    group: list[tuple[bytes, int]] = []
    for segment in segments:
        with open(segment.path, "rb", buffering=0) as file:
            for item in walk_frames(file, SEGMENT_HEADER_BYTES):
                if isinstance(item, BadFrame):
                    raise LogCorruptError([Problem(str(segment.path), item.offset, item.kind, item.detail)])
                for index, body in enumerate(item.bodies):
                    before += 1
                    try:
                        record = unpack_record(body)
                    except ValueError as exc:
                        problem = Problem(str(segment.path), item.offset_of(index), "undecodable", str(exc))
                        raise LogCorruptError([problem]) from exc
                    if keep(record):
                        group.append((frame_bodies([body]), 1))  # one per record: exact roll-over
                        if len(group) == _WRITE_GROUP_RECORDS:
                            writer.write_group(group, kept)
                            kept += len(group)
                            group = []
    if group:
        writer.write_group(group, kept)
        kept += len(group)
    return before, kept

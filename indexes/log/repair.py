"""repair(data_dir): the operator's way to make a refused log open again, without silent loss.

* An interrupted rewrite is resolved first (rolled forward if committed, dropped if not).
* A torn tail is cut, as opening would do.
* A seal that disagrees with its segment is removed (lossless: the segment is then scanned on open).
* Mid-log corruption is only reported, unless `truncate_corrupt=True`: then the log is cut at the first
  problem. The bytes from there to the end of that segment go to `<segment>.corrupt-<offset>`, and
  every later segment is renamed to `<segment>.corrupt-0`, so an operator can still inspect or
  salvage them. Records after the cut are gone from the log (re-ingest them from their source).
"""

from __future__ import annotations

import os
from pathlib import Path

from indexes.log.fsio import DirLock, Fsync, fsync_dir, truncate_durably, write_all
from indexes.log.recovery import cut_torn_tail
from indexes.log.reports import Problem, RepairReport
from indexes.log.scan import LogScan, scan_log
from indexes.log.seal import remove_seal
from indexes.log.segment_file import SEGMENT_HEADER_BYTES
from indexes.log.swap import finish_interrupted

_MAX_SIDE_FILE_SUFFIX = 1000
_COPY_CHUNK_BYTES = 4 * 1024 * 1024


def repair(
    data_dir: str | os.PathLike[str], *, truncate_corrupt: bool = False, fsync: Fsync = os.fsync
) -> RepairReport:
    path = Path(data_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"no log directory at {path}")
    with DirLock(path):
        rewrite_completed = finish_interrupted(path, fsync)
        scan = scan_log(path, decode=True)
        found = tuple(scan.problems)
        torn = scan.torn_tail
        actions: list[str] = []
        side_files: list[str] = []
        if rewrite_completed:
            actions.append("rolled an interrupted, committed rewrite forward")
        bad_seals = [problem for problem in found if problem.kind == "bad_seal"]
        if bad_seals:
            for problem in bad_seals:
                Path(problem.file).unlink(missing_ok=True)
                actions.append(f"removed {problem.file} ({problem.detail.split(';')[0]})")
            fsync_dir(path, fsync)
            scan = scan_log(path, decode=True)
        damage = tuple(scan.problems)
        if damage and not truncate_corrupt:
            first = damage[0]
            actions.append(
                f"no record cut: corruption at {first.file} byte offset {first.offset}; "
                "repair(truncate_corrupt=True) cuts the log there and keeps the dropped bytes in side files"
            )
            end_lsn = scan.end_lsn
            return RepairReport(str(path), found, torn, tuple(actions), (), rewrite_completed, end_lsn, False)
        if damage:
            _cut_at(path, scan, damage[0], fsync, actions, side_files)
        elif torn is not None:
            cut_torn_tail(path, scan, fsync)
            actions.append(f"cut torn tail of {torn.file} at byte offset {torn.offset} ({torn.bytes_dropped} bytes)")
        after = scan_log(path, decode=True)
        ok = not after.problems and after.torn_tail is None
        if not actions:
            actions.append("nothing to repair")
        return RepairReport(
            str(path), found, torn, tuple(actions), tuple(side_files), rewrite_completed, after.end_lsn, ok
        )


def _cut_at(
    data_dir: Path, scan: LogScan, problem: Problem, fsync: Fsync, actions: list[str], side_files: list[str]
) -> None:
    """Cut the log at `problem`, moving everything after it into side files."""
    index = next(i for i, segment in enumerate(scan.segments) if str(segment.path) == problem.file)
    damaged = scan.segments[index]
    for changed in scan.segments[index:]:  # their bytes change or move aside: a seal would be stale
        remove_seal(changed.path)
    if problem.offset < SEGMENT_HEADER_BYTES:
        side = _move_aside(damaged.path, fsync)
        actions.append(f"moved {damaged.path} aside to {side} (damaged from its start)")
        side_files.append(str(side))
    else:
        side = _split_off(damaged.path, problem.offset, fsync)
        actions.append(f"cut {damaged.path} at byte offset {problem.offset}; the rest is in {side}")
        side_files.append(str(side))
    for later in scan.segments[index + 1 :]:
        side = _move_aside(later.path, fsync)
        actions.append(f"moved {later.path} aside to {side} (after the cut)")
        side_files.append(str(side))
    fsync_dir(data_dir, fsync)


def _side_path(path: Path, offset: int) -> Path:
    base = path.with_name(f"{path.name}.corrupt-{offset}")
    if not base.exists():
        return base
    for suffix in range(1, _MAX_SIDE_FILE_SUFFIX):
        candidate = path.with_name(f"{base.name}-{suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"too many side files for {path} at offset {offset}")


def _move_aside(path: Path, fsync: Fsync) -> Path:
    side = _side_path(path, 0)
    os.rename(path, side)
    fsync_dir(path.parent, fsync)
    return side


def _split_off(path: Path, offset: int, fsync: Fsync) -> Path:
    """Copy bytes offset..EOF to a side file (durably), then truncate the segment at `offset`."""
    side = _side_path(path, offset)
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with open(path, "rb") as source:
            source.seek(offset)
            # Bounded by the segment's size: each turn copies one chunk or stops.
            while chunk := source.read(_COPY_CHUNK_BYTES):
                write_all(fd, chunk)
        fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent, fsync)
    truncate_durably(path, offset, fsync)
    return side

"""Opening a data directory for writing: finish an interrupted rewrite, scan, cut a torn tail.

Corruption anywhere else refuses the open with LogCorruptError naming file and byte offset; `repair`
is the operator's way out (docs/LOG.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from indexes.log.errors import LogCorruptError
from indexes.log.fsio import Fsync, fsync_dir, truncate_durably
from indexes.log.reports import OpenReport
from indexes.log.scan import LogScan, scan_log
from indexes.log.seal import remove_seal
from indexes.log.swap import finish_interrupted


def recover(data_dir: Path, fsync: Fsync) -> tuple[OpenReport, LogScan]:
    """Bring `data_dir` to a clean state for appending. The caller holds the directory lock."""
    rewrite_completed = finish_interrupted(data_dir, fsync)
    scan = scan_log(data_dir, decode=False)
    if scan.problems:
        raise LogCorruptError(scan.problems)
    if scan.torn_tail is not None:
        cut_torn_tail(data_dir, scan, fsync)
    sealed = sum(segment.sealed for segment in scan.segments)
    report = OpenReport(scan.end_lsn, len(scan.segments), scan.torn_tail, rewrite_completed, sealed)
    return report, scan


def cut_torn_tail(data_dir: Path, scan: LogScan, fsync: Fsync) -> None:
    """Cut the torn tail named by `scan` and update `scan` to match the directory."""
    torn = scan.torn_tail
    assert torn is not None and scan.segments and str(scan.segments[-1].path) == torn.file
    last = scan.segments[-1]
    remove_seal(last.path)  # a last segment can carry a seal only after a crash mid roll-over
    if torn.offset == 0:
        last.path.unlink()
        fsync_dir(data_dir, fsync)
        scan.segments.pop()
        return
    truncate_durably(last.path, torn.offset, fsync)
    scan.segments[-1] = dataclasses.replace(last, size_bytes=torn.offset)


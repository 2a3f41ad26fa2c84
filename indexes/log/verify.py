"""verify(data_dir): the read-only health check an operator runs (the CLI's `log verify`, later).

It takes no lock and changes nothing. On a log that is open for writing, the tail may be caught
mid-append and show as a torn tail; run it on a closed log for a definite answer.
"""

from __future__ import annotations

import os
from pathlib import Path

from indexes.log.reports import SegmentReport, VerifyReport
from indexes.log.scan import scan_log
from indexes.log.swap import rewrite_pending


def verify(data_dir: str | os.PathLike[str]) -> VerifyReport:
    """Every segment: frames, first/last LSN; every problem with file and byte offset."""
    path = Path(data_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"no log directory at {path}")
    scan = scan_log(path, decode=True)
    segments = tuple(
        SegmentReport(
            file=str(segment.path),
            size_bytes=segment.size_bytes,
            frames=segment.frames,
            first_lsn=segment.base_lsn,
            last_lsn=segment.base_lsn + segment.frames - 1,
        )
        for segment in scan.segments
    )
    return VerifyReport(
        data_dir=str(path),
        segments=segments,
        problems=tuple(scan.problems),
        torn_tail=scan.torn_tail,
        end_lsn=scan.end_lsn,
        rewrite_pending=rewrite_pending(path),
    )

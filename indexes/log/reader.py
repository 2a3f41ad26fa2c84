"""Replay: (lsn, record) from segment files, in large chunks, CRC-checked, decoded in batches.

The open-time scan already checked every frame, but replay checks CRCs again (a CRC32C costs less
than a tenth of a decode): bits can rot after open, and a replay must never feed an index a wrong
record. Any surprise is LogCorruptError naming file and byte offset.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgpack

from indexes.log.codec import Record, unpack_record
from indexes.log.errors import LogCorruptError
from indexes.log.reports import Problem
from indexes.log.segment_file import SEGMENT_HEADER_BYTES, SegmentRef, header_problem
from indexes.log.walk import BadFrame, FrameRun, walk_frames


def read_batches(
    segments: Sequence[SegmentRef], from_lsn: int, end_lsn: int, max_records: int
) -> Iterator[tuple[int, list[Record]]]:
    """(first_lsn, records) covering LSNs from_lsn..end_lsn-1, at most `max_records` per batch."""
    assert 0 <= from_lsn <= end_lsn and max_records > 0
    if from_lsn == end_lsn:
        return
    bases = [base for base, _ in segments]
    first = bisect.bisect_right(bases, from_lsn) - 1
    assert first >= 0, "segments cover every LSN below end_lsn"
    for index in range(first, len(segments)):
        base, path = segments[index]
        if base >= end_lsn:
            break
        stop = min(end_lsn, bases[index + 1]) if index + 1 < len(segments) else end_lsn
        yield from _read_segment(path, base, max(from_lsn, base), stop, max_records)


def _read_segment(
    path: Path, base_lsn: int, start_lsn: int, stop_lsn: int, max_records: int
) -> Iterator[tuple[int, list[Record]]]:
    """Records start_lsn..stop_lsn-1 of the segment at `base_lsn`."""
    lsn = base_lsn  # LSN of the next frame the walk yields
    offset = SEGMENT_HEADER_BYTES  # byte offset of that frame
    with open(path, "rb", buffering=0) as file:
        problem = header_problem(file.read(SEGMENT_HEADER_BYTES), base_lsn)
        if problem is not None:
            raise LogCorruptError([Problem(str(path), 0, "bad_header", problem)])
        for item in walk_frames(file, SEGMENT_HEADER_BYTES):
            if isinstance(item, BadFrame):
                raise LogCorruptError([Problem(str(path), item.offset, item.kind, item.detail)])
            bodies = item.bodies
            skip = max(0, start_lsn - lsn)
            take = min(len(bodies), stop_lsn - lsn)
            if skip < take:
                yield from _decode(path, item, lsn, skip, take, max_records)
            lsn += len(bodies)
            offset = item.end_offset
            if lsn >= stop_lsn:
                return
    detail = f"segment ends at LSN {lsn}, expected records up to LSN {stop_lsn - 1}"
    raise LogCorruptError([Problem(str(path), offset, "truncated_segment", detail)])


def _decode(
    path: Path, run: FrameRun, run_lsn: int, skip: int, take: int, max_records: int
) -> Iterator[tuple[int, list[Record]]]:
    unpackb = msgpack.unpackb
    bodies = run.bodies
    for low in range(skip, take, max_records):
        high = min(low + max_records, take)
        try:
            records = [unpackb(body, strict_map_key=False) for body in bodies[low:high]]
        except Exception:  # find the exact frame, for the message
            for index in range(low, high):
                try:
                    unpack_record(bodies[index])
                except ValueError as exc:
                    problem = Problem(str(path), run.offset_of(index), "undecodable", str(exc))
                    raise LogCorruptError([problem]) from exc
            raise
        yield run_lsn + low, records

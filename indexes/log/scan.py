"""Scanning a data directory: every segment's frames, LSN continuity, and the torn-tail rule.

The torn-tail rule (docs/LOG.md): the first bad frame of the LAST segment is a torn tail when no valid
frame starts at any byte offset after it, up to end-of-file. Such bytes can only be an append that
never completed, hence was never acknowledged, so cutting them loses nothing. A bad frame anywhere else,
or one followed by a valid frame, is corruption. Non-last segments have no tail: the writer fsyncs a
segment before it creates the next one, so a bad frame there is always damage.

Opening does not read a sealed segment (one with a seal that matches its length, indexes/log/seal.py):
its frame count comes from the seal and its bytes are checked when read. Verify and repair read
every frame of every segment, and also report a seal that disagrees with its segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from indexes.log.codec import unpack_record
from indexes.log.frame import FRAME_HEADER_BYTES, find_frame_start
from indexes.log.reports import Problem, TornTail
from indexes.log.seal import file_crc, seal_path, trusted_seal
from indexes.log.segment_file import (
    SEGMENT_HEADER_BYTES,
    header_problem,
    is_torn_header,
    list_segments,
)
from indexes.log.walk import BadFrame, walk_frames


@dataclass(frozen=True, slots=True)
class SegmentScan:
    path: Path
    base_lsn: int
    size_bytes: int
    frames: int  # valid frames before the first problem or the torn tail
    valid_end: int  # byte offset just past the last valid frame
    problem: Problem | None = None
    torn: TornTail | None = None
    sealed: bool = False  # opened by its seal: frames not read


@dataclass(slots=True)
class LogScan:
    segments: list[SegmentScan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # in log order: segment, then offset
    torn_tail: TornTail | None = None
    end_lsn: int = 0  # one past the last valid frame (before any cut)


def scan_log(data_dir: Path, *, decode: bool) -> LogScan:
    """Scan every segment; `decode` (verify, repair) reads sealed segments too, checks their seals and
    that each body is one record (a msgpack map or array); without it, sealed segments are trusted."""
    result = LogScan()
    refs = list_segments(data_dir)
    expected_lsn = 0
    for index, (base_lsn, path) in enumerate(refs):
        is_last = index == len(refs) - 1
        segment = scan_segment(path, base_lsn, is_last=is_last, decode=decode)
        if base_lsn != expected_lsn:
            detail = f"segment starts at LSN {base_lsn}, the log before it ends at LSN {expected_lsn}"
            result.problems.append(Problem(str(path), 0, "lsn_gap", detail))
        if segment.problem is not None:
            result.problems.append(segment.problem)
        if segment.torn is not None:
            result.torn_tail = segment.torn
        result.segments.append(segment)
        expected_lsn = base_lsn + segment.frames
    result.end_lsn = expected_lsn
    return result


def scan_segment(path: Path, base_lsn: int, *, is_last: bool, decode: bool) -> SegmentScan:
    size_bytes = os.path.getsize(path)
    with open(path, "rb", buffering=0) as file:
        head = file.read(SEGMENT_HEADER_BYTES)
        problem = header_problem(head, base_lsn)
        if problem is not None:
            return _bad_header(path, base_lsn, size_bytes, problem, is_last)
        seal = None if is_last else trusted_seal(path, base_lsn, size_bytes)
        if seal is not None and not decode:
            return SegmentScan(path, base_lsn, size_bytes, seal.frames, size_bytes, sealed=True)
        frames = 0
        valid_end = SEGMENT_HEADER_BYTES
        for item in walk_frames(file, SEGMENT_HEADER_BYTES):
            if isinstance(item, BadFrame):
                return _bad_frame(path, base_lsn, size_bytes, frames, item, is_last)
            if decode:
                undecodable = _first_undecodable(path, item.offset, item.bodies)
                if undecodable is not None:
                    index, problem_found = undecodable
                    return SegmentScan(path, base_lsn, size_bytes, frames + index, problem_found.offset, problem_found)
            frames += len(item.bodies)
            valid_end = item.end_offset
    if seal is not None:
        problem_found = _seal_problem(path, size_bytes, frames, seal.frames, seal.crc)
        if problem_found is not None:
            return SegmentScan(path, base_lsn, size_bytes, frames, valid_end, problem_found)
    return SegmentScan(path, base_lsn, size_bytes, frames, valid_end)


def _seal_problem(path: Path, size_bytes: int, frames: int, sealed_frames: int, sealed_crc: int) -> Problem | None:
    """A seal that opening would trust but that disagrees with its (otherwise valid) segment: opening
    would number the next segment's records wrongly, or replay would refuse the segment."""
    if frames != sealed_frames:
        detail = f"seal says {sealed_frames} frames, {path.name} holds {frames}; repair removes the seal"
        return Problem(str(seal_path(path)), 0, "bad_seal", detail)
    crc = file_crc(path, size_bytes)
    if crc != sealed_crc:
        detail = f"seal says CRC32C 0x{sealed_crc:08x}, {path.name} has 0x{crc:08x}; repair removes the seal"
        return Problem(str(seal_path(path)), 0, "bad_seal", detail)
    return None


def _bad_header(path: Path, base_lsn: int, size_bytes: int, problem: str, is_last: bool) -> SegmentScan:
    if is_last:
        content = path.read_bytes()  # at most one segment; only on this rare path
        if is_torn_header(content, base_lsn):
            torn = TornTail(str(path), 0, size_bytes, f"segment header torn ({problem}); file removed")
            return SegmentScan(path, base_lsn, size_bytes, 0, 0, torn=torn)
    return SegmentScan(path, base_lsn, size_bytes, 0, 0, Problem(str(path), 0, "bad_header", problem))


def _bad_frame(
    path: Path, base_lsn: int, size_bytes: int, frames: int, bad: BadFrame, is_last: bool
) -> SegmentScan:
    detail = bad.detail
    if is_last:
        with open(path, "rb") as file:
            file.seek(bad.offset)
            tail = file.read()
        follower = find_frame_start(tail, 1)
        if follower is None:
            torn = TornTail(str(path), bad.offset, size_bytes - bad.offset, f"{bad.kind}: {bad.detail}")
            return SegmentScan(path, base_lsn, size_bytes, frames, bad.offset, torn=torn)
        detail += f"; a valid frame follows at byte offset {bad.offset + follower}, so this is not a torn tail"
    else:
        detail += "; not the last segment, so this is not a torn tail"
    problem = Problem(str(path), bad.offset, bad.kind, detail)
    return SegmentScan(path, base_lsn, size_bytes, frames, bad.offset, problem)


def _first_undecodable(path: Path, offset: int, bodies: list[bytes]) -> tuple[int, Problem] | None:
    for index, body in enumerate(bodies):
        try:
            unpack_record(body)
        except ValueError as exc:
            return index, Problem(str(path), offset, "undecodable", str(exc))
        offset += FRAME_HEADER_BYTES + len(body)
    return None

"""Walking the frames of one segment file in large chunks: the one loop every reader shares.

The open-time scan, verify, repair, rewrite and replay all walk frames the same way, so a frame is
judged valid by exactly one piece of code. The walk reads `chunk_bytes` at a time (a few MiB: few
syscalls, bounded memory) and yields runs of CRC-checked bodies; decoding is left to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from crc32c import crc32c

from indexes.log.codec import MAX_RECORD_BYTES
from indexes.log.frame import FRAME_HEADER, FRAME_HEADER_BYTES

CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FrameRun:
    """Consecutive valid frames; the first starts at byte `offset` of the file."""

    offset: int
    end_offset: int  # just past the last frame of the run
    bodies: list[bytes]

    def offset_of(self, index: int) -> int:
        """Byte offset of frame `index` of the run (for error messages; linear, so not for hot paths)."""
        return self.offset + sum(FRAME_HEADER_BYTES + len(body) for body in self.bodies[:index])


@dataclass(frozen=True, slots=True)
class BadFrame:
    """The first frame that is not valid; nothing after it can be trusted to be a frame boundary."""

    offset: int
    kind: str  # bad_length, bad_crc, truncated_frame
    detail: str


def walk_frames(file: BinaryIO, start_offset: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[FrameRun | BadFrame]:
    """FrameRuns from `start_offset` to the end of `file`, then possibly one BadFrame, which ends the walk.

    A frame is valid when its length is in 1..MAX_RECORD_BYTES, all its bytes are in the file and the
    CRC32C of its body matches. The walk ends cleanly only at end-of-file on a frame boundary.
    """
    assert chunk_bytes >= FRAME_HEADER_BYTES
    file.seek(start_offset)
    carry = b""  # the start of a frame that straddles two chunks
    base = start_offset  # file offset of buf[0]
    want = chunk_bytes
    unpack_from = FRAME_HEADER.unpack_from
    # Each turn consumes at least one byte of a finite file or returns; the loop is bounded by its size.
    while True:
        chunk = file.read(want)
        if not chunk:
            if carry:
                yield _incomplete(base, carry)
            return
        buf = carry + chunk if carry else chunk
        size = len(buf)
        bodies: list[bytes] = []
        run_offset = base
        at = 0
        bad: BadFrame | None = None
        while at + FRAME_HEADER_BYTES <= size:
            length, checksum = unpack_from(buf, at)
            if length == 0 or length > MAX_RECORD_BYTES:
                bad = BadFrame(base + at, "bad_length", f"frame length {length} outside 1..{MAX_RECORD_BYTES}")
                break
            end = at + FRAME_HEADER_BYTES + length
            if end > size:
                break
            body = buf[at + FRAME_HEADER_BYTES : end]
            if crc32c(body) != checksum:
                bad = BadFrame(base + at, "bad_crc", f"CRC32C mismatch on a {length}-byte body")
                break
            bodies.append(body)
            at = end
        if bodies:
            yield FrameRun(run_offset, base + at, bodies)
        if bad is not None:
            yield bad
            return
        carry = buf[at:]
        base += at
        # Read a straddling frame's remainder in one go rather than chunk by chunk.
        if len(carry) >= FRAME_HEADER_BYTES:
            length, _ = unpack_from(carry, 0)
            want = max(chunk_bytes, FRAME_HEADER_BYTES + length - len(carry))
        else:
            want = chunk_bytes


def _incomplete(offset: int, tail: bytes) -> BadFrame:
    if len(tail) < FRAME_HEADER_BYTES:
        return BadFrame(offset, "truncated_frame", f"{len(tail)} bytes at end of file, less than a frame header")
    length, _ = FRAME_HEADER.unpack_from(tail, 0)
    return BadFrame(
        offset, "truncated_frame", f"frame of {length} body bytes, only {len(tail) - FRAME_HEADER_BYTES} in the file"
    )

"""Segment files: their names, their header, and listing them in a data directory.

A segment is named by the LSN of its first record, zero-padded to 20 digits so that names sort as
numbers (`00000000000000000000.seg`). Its 24-byte header carries a magic, the format version and the
base LSN again, under a CRC32C, so a foreign, renamed or half-written file is refused.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from crc32c import crc32c

SEGMENT_MAGIC = b"SEGLOG\r\n"  # \r\n catches a file mangled by a text-mode copy
# 2: the durable engine's records are msgpack arrays (indexes/durable/record_codec.py), not maps. The
# frames are as in 1, but a version-1 log's records would not decode, so it is refused on open.
FORMAT_VERSION = 2
SEGMENT_SUFFIX = ".seg"
_HEADER_BODY = struct.Struct("<8sIQ")  # magic, version, base LSN
_HEADER_CRC = struct.Struct("<I")
SEGMENT_HEADER_BYTES = _HEADER_BODY.size + _HEADER_CRC.size
assert SEGMENT_HEADER_BYTES == 24
_NAME = re.compile(r"^(\d{20})\.seg$")

SegmentRef = tuple[int, Path]  # (base LSN, path)


def segment_name(base_lsn: int) -> str:
    assert 0 <= base_lsn < 10**20
    return f"{base_lsn:020d}{SEGMENT_SUFFIX}"


def list_segments(data_dir: Path) -> list[SegmentRef]:
    """The segments of `data_dir` by base LSN; other files (LOCK, side files, temp dirs) are ignored."""
    found: list[SegmentRef] = []
    for path in data_dir.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    found.sort()
    return found


def encode_header(base_lsn: int) -> bytes:
    body = _HEADER_BODY.pack(SEGMENT_MAGIC, FORMAT_VERSION, base_lsn)
    return body + _HEADER_CRC.pack(crc32c(body))


def header_problem(raw: bytes, base_lsn: int) -> str | None:
    """Why `raw` (the first bytes of the file) is not the header of the segment at `base_lsn`, or None."""
    if len(raw) < SEGMENT_HEADER_BYTES:
        return f"file has {len(raw)} bytes, shorter than the {SEGMENT_HEADER_BYTES}-byte header"
    body = raw[: _HEADER_BODY.size]
    magic, version, header_lsn = _HEADER_BODY.unpack(body)
    if magic != SEGMENT_MAGIC:
        return f"not a segment file (magic {magic!r})"
    (checksum,) = _HEADER_CRC.unpack_from(raw, _HEADER_BODY.size)
    if crc32c(body) != checksum:
        return "header CRC mismatch"
    if version != FORMAT_VERSION:
        older = " (written by an older release whose records are encoded differently)" if version < FORMAT_VERSION else ""
        return (
            f"segment format version {version}{older}; this release reads version {FORMAT_VERSION} only: "
            "re-ingest the data from its source into a new data directory"
        )
    if header_lsn != base_lsn:
        return f"header says base LSN {header_lsn}, the file name says {base_lsn}"
    return None


def is_torn_header(content: bytes, base_lsn: int) -> bool:
    """The whole file is a prefix of its header, or zeros: what a crash while creating it leaves.

    The header is fsynced before the first frame is written, so a file with frames has a whole header.
    """
    if len(content) <= SEGMENT_HEADER_BYTES and encode_header(base_lsn).startswith(content):
        return True
    return content.count(0) == len(content)  # the size reached the disk, the bytes did not

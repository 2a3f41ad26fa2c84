"""Seals: what a sealed segment holds, so that opening the log need not read it.

A segment is sealed when the writer rolls over to the next one: it is complete and fsynced and will
never change again. Its seal is a small sidecar file, `<segment>.seal`, holding the segment's base
LSN, frame count, byte length and the CRC32C of the whole file. Opening trusts a seal whose own CRC
is valid and whose base LSN and length match the segment file: it takes the frame count from it
instead of reading and checking every frame (docs/LOG.md, "Opening"). Bytes of a sealed segment are
checked when they are read instead: the whole-file CRC32C before any of its frames is decoded.

A seal is an optimisation, never a source of truth: a missing, damaged or mismatching seal only
means the segment is scanned frame by frame, as an unsealed one is. So seals are written without
a rename dance (a torn seal fails its own CRC) and removed whenever a segment changes.

Format (little-endian, 44 bytes): magic `SEGSEAL\\n`, u32 version, u64 base LSN, u64 frames,
u64 size in bytes, u32 CRC32C of the segment file, then u32 CRC32C of those 40 bytes.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from crc32c import crc32c

from indexes.log.fsio import Fsync, write_all

SEAL_SUFFIX = ".seal"
SEAL_MAGIC = b"SEGSEAL\n"
SEAL_VERSION = 1
_BODY = struct.Struct("<8sIQQQI")  # magic, version, base LSN, frames, size in bytes, segment CRC
_CRC = struct.Struct("<I")
SEAL_BYTES = _BODY.size + _CRC.size
assert SEAL_BYTES == 44
_CRC_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Seal:
    base_lsn: int
    frames: int
    size_bytes: int
    crc: int  # CRC32C of the whole segment file, header included


def seal_path(segment: Path) -> Path:
    return segment.with_name(segment.name + SEAL_SUFFIX)


def encode_seal(seal: Seal) -> bytes:
    body = _BODY.pack(SEAL_MAGIC, SEAL_VERSION, seal.base_lsn, seal.frames, seal.size_bytes, seal.crc)
    return body + _CRC.pack(crc32c(body))


def decode_seal(raw: bytes) -> Seal | None:
    """The seal in `raw`, or None when it is not one whole, intact seal of this version."""
    if len(raw) != SEAL_BYTES:
        return None
    body = raw[: _BODY.size]
    (checksum,) = _CRC.unpack_from(raw, _BODY.size)
    if crc32c(body) != checksum:
        return None
    magic, version, base_lsn, frames, size_bytes, crc = _BODY.unpack(body)
    if magic != SEAL_MAGIC or version != SEAL_VERSION:
        return None
    return Seal(base_lsn, frames, size_bytes, crc)


def write_seal(segment: Path, seal: Seal, fsync: Fsync) -> None:
    """Write the seal of a complete, fsynced segment. The caller fsyncs the directory afterwards
    (the writer does when it creates the next segment); a seal lost in a crash costs a scan."""
    fd = os.open(seal_path(segment), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, encode_seal(seal))
        fsync(fd)
    finally:
        os.close(fd)


def read_seal(segment: Path) -> Seal | None:
    try:
        raw = seal_path(segment).read_bytes()
    except FileNotFoundError:
        return None
    return decode_seal(raw)


def trusted_seal(segment: Path, base_lsn: int, size_bytes: int) -> Seal | None:
    """The seal of `segment` if it describes this file (base LSN and length), else None."""
    seal = read_seal(segment)
    if seal is None or seal.base_lsn != base_lsn or seal.size_bytes != size_bytes or seal.frames <= 0:
        return None
    return seal


def remove_seal(segment: Path) -> bool:
    """Drop the seal of a segment that is about to change (or has changed); True if there was one."""
    with contextlib.suppress(FileNotFoundError):
        seal_path(segment).unlink()
        return True
    return False


def file_crc(path: Path, size_bytes: int) -> int:
    """CRC32C of the first `size_bytes` of a file, read in bounded chunks."""
    crc = 0
    with open(path, "rb", buffering=0) as file:
        remaining = size_bytes
        # Each turn reads at least one byte or stops, so at most size_bytes turns.
        while remaining > 0:
            chunk = file.read(min(remaining, _CRC_CHUNK_BYTES))
            if not chunk:
                break
            crc = crc32c(chunk, crc)
            remaining -= len(chunk)
    if remaining:
        raise ValueError(f"{path} is shorter than {size_bytes} bytes")
    return crc

"""Helpers of the FileLog tests (tests/test_log_file_*.py, tests/test_log_seal.py): a log of simple
events written and read back, frame offsets parsed independently of the code under test, bit flips."""

from __future__ import annotations

import struct
from pathlib import Path

from indexes.log import FileLog
from indexes.log.segment_file import SEGMENT_HEADER_BYTES, segment_name

FIRST = segment_name(0)


def event(i: int) -> dict:
    return {"event_id": f"e-{i:06d}", "customer_id": f"c-{i % 7}", "type": "page_viewed", "ts": i}


def write_log(data_dir: Path, count: int, batch: int = 1, **options: object) -> None:
    with FileLog(data_dir, **options) as log:  # type: ignore[arg-type]
        for start in range(0, count, batch):
            log.append([event(i) for i in range(start, min(count, start + batch))])


def frame_starts(path: Path) -> list[int]:
    """Byte offsets of the frames of a clean segment, parsed independently of the code under test."""
    data = path.read_bytes()
    starts, at = [], SEGMENT_HEADER_BYTES
    while at < len(data):
        starts.append(at)
        (length,) = struct.unpack_from("<I", data, at)
        at += 8 + length
    assert at == len(data)
    return starts


def records(data_dir: Path, **options: object) -> list[dict]:
    with FileLog(data_dir, **options) as log:  # type: ignore[arg-type]
        return [record for _, record in log.read()]


def flip_bit(path: Path, offset: int, bit: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def same_files(left: Path, right: Path) -> bool:
    names = sorted(p.name for p in left.iterdir())
    return names == sorted(p.name for p in right.iterdir()) and all(
        (left / n).read_bytes() == (right / n).read_bytes() for n in names if (left / n).is_file()
    )

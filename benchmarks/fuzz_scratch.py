"""The files the file-based fuzz targets damage copies of (a clean log of one segment, one of several
sealed segments, two snapshots), made once in a scratch directory, and `damage`, the byte edits."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from benchmarks.fuzz_inputs import schema
from indexes.durable import record_codec
from indexes.engine import Engine
from indexes.log import FileLog
from indexes.log.segment_file import segment_name
from indexes.records import validate_batch
from indexes.snapshot import write_snapshot
from indexes.snapshot.layout import snapshot_name

SCRATCH_PARENT_ENV = "FUZZ_SCRATCH_PARENT"  # where the scratch directory goes (default: the temp dir)
BASE_MS = 1_793_000_000_000  # 2026-10-26
HOUR_MS = 3_600_000
ROLLED_SEGMENT_BYTES = 400  # the base log of several segments rolls over at about this size


@dataclass
class _Scratch:
    root: Path
    segment: bytes  # a clean one-segment log
    segments: dict[str, bytes]  # file name -> bytes, of a clean log of several sealed segments and their seals
    snapshot_files: dict[str, bytes]  # file name -> bytes, of the newer of two snapshots


def _events(count: int, first: int = 0) -> list[dict]:
    return [{"event_id": f"e{i}", "customer_id": f"c{i % 40}", "type": "product_viewed", "ts": BASE_MS + i * HOUR_MS,
             "attrs": {"category": f"cat{i % 3}", "price": i}} for i in range(first, first + count)]


def no_fsync(fd: int) -> None:
    """Scratch files: durability is not what is fuzzed."""


@lru_cache(maxsize=1)
def scratch() -> _Scratch:
    root = Path(tempfile.mkdtemp(prefix="fuzz-targets-", dir=os.environ.get(SCRATCH_PARENT_ENV)))
    try:
        return _fill_scratch(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # interrupted (a time bound, ^C): leave nothing behind
        raise


def _fill_scratch(root: Path) -> _Scratch:
    log_dir = root / "log-base"
    with FileLog(log_dir) as log:
        for start in range(0, 24, 4):
            log.append([record_codec.encode(r) for r in validate_batch(_events(4, start), schema()).records])
    segment = (log_dir / segment_name(0)).read_bytes()
    rolled_dir = root / "log-rolled"
    with FileLog(rolled_dir, segment_size_bytes=ROLLED_SEGMENT_BYTES) as log:
        for start in range(0, 24, 4):
            log.append([record_codec.encode(r) for r in validate_batch(_events(4, start), schema()).records])
    # Segments and their seals (the LOCK file is the open log's, not data).
    segments = {p.name: p.read_bytes() for p in sorted(rolled_dir.iterdir()) if p.is_file() and p.name != "LOCK"}
    assert sum(name.endswith(".seal") for name in segments) >= 3, sorted(segments)
    engine = Engine(tz="Europe/Istanbul")
    engine.ingest([{"customer_id": f"c{i}", "ts": BASE_MS, "properties": {"email": f"u{i}@x.com"}} for i in range(40)])
    engine.ingest(_events(120))
    snapshots = root / "snapshots"
    write_snapshot(engine.shard, snapshots, 100, fsync=no_fsync)
    engine.ingest(_events(10, 500))
    write_snapshot(engine.shard, snapshots, 200, fsync=no_fsync)
    newest = snapshots / snapshot_name(200)
    files = {p.name: p.read_bytes() for p in sorted(newest.iterdir()) if p.is_file()}
    return _Scratch(root, segment, segments, files)


def remove_scratch() -> None:
    if scratch.cache_info().currsize:
        shutil.rmtree(scratch().root, ignore_errors=True)
        scratch.cache_clear()


def damage(original: bytes, data: bytes) -> bytes:
    """`original` with the edits `data` spells, 3 bytes each: op (low nibble mod 5: flip bit (high 3 bits),
    truncate, set byte, append 2 bytes, delete byte), position high byte, position low byte."""
    buffer = bytearray(original)
    for at in range(0, min(len(data), 3 * 32) - 2, 3):
        op, position = (data[at] & 0x0F) % 5, (data[at + 1] << 8 | data[at + 2])
        if op == 0 and buffer:
            buffer[position % len(buffer)] ^= 1 << (data[at] >> 5)
        elif op == 1:
            del buffer[position % (len(buffer) + 1):]
        elif op == 2 and buffer:
            buffer[position % len(buffer)] = data[at + 2]
        elif op == 3:
            buffer.extend(data[at + 1:at + 3])
        elif op == 4 and buffer:
            del buffer[position % len(buffer)]
    return bytes(buffer)

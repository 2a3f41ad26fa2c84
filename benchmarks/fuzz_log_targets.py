"""Fuzz targets of the event log's readers: frame walking over any bytes, and FileLog opening a log
whose segment files are damaged (it cuts a torn tail, or refuses naming the file and offset)."""

from __future__ import annotations

import io
import shutil

from benchmarks.fuzz_inputs import MAX_INPUT_BYTES
from benchmarks.fuzz_scratch import damage, no_fsync, scratch
from indexes.durable import record_codec
from indexes.log import FileLog, LogCorruptError
from indexes.log.codec import BodyRun
from indexes.log.segment_file import segment_name
from indexes.log.walk import BadFrame, FrameRun, walk_frames


def log_frames(data: bytes) -> None:
    """Frame walking and body decoding over arbitrary bytes (no file system)."""
    for item in walk_frames(io.BytesIO(data[:MAX_INPUT_BYTES]), 0, chunk_bytes=64):
        if isinstance(item, BadFrame):
            assert item.offset >= 0
            return
        assert isinstance(item, FrameRun)
        try:
            values = BodyRun(0, len(item.bodies), b"".join(item.bodies)).decode()
        except ValueError:
            continue
        for value in values:
            try:
                record_codec.decode(value)
            except record_codec.CodecError:
                pass
            except (KeyError, ValueError):
                pass  # an unknown kind or layout: replay refuses the item with its LSN


def log_open(data: bytes) -> None:
    """A damaged segment file - of a one-segment log, or any segment of a log of several (first byte
    of `data`) - : FileLog opens it (a torn tail cut and reported) and reads to its end, or refuses
    with LogCorruptError naming the file and the offset."""
    if not data:
        return
    files = {segment_name(0): scratch().segment} if data[0] % 4 == 0 else dict(scratch().segments)
    target = sorted(files)[data[0] % len(files)]
    files[target] = damage(files[target], data[1:])
    _open_log(files)


def log_random_file(data: bytes) -> None:
    """A log whose last segment file holds any bytes at all (a header torn or garbage)."""
    files = dict(scratch().segments)
    last = sorted(name for name in files if name.endswith(".seg"))[-1]
    files[last] = data[:MAX_INPUT_BYTES]
    _open_log(files)


def _open_log(files: dict[str, bytes]) -> None:
    work = scratch().root / "log-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for name, content in files.items():
        (work / name).write_bytes(content)
    try:
        log = FileLog(work, fsync=no_fsync)
    except LogCorruptError as exc:
        assert exc.file and exc.offset is not None and exc.offset >= 0, f"LogCorruptError without a place: {exc}"
        return
    with log:
        try:
            count = sum(1 for _ in log.read())
        except LogCorruptError as exc:
            # A sealed segment is trusted at open and its frames checked when read (docs/LOG.md).
            assert exc.file and exc.file.endswith(".seg") and exc.offset is not None, f"no place: {exc}"
            return
        assert count == log.end_lsn, f"read {count} records of {log.end_lsn}"

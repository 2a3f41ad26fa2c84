"""Appending framed batches to the newest segment file, rolling over to a new file when it is full.

Single-threaded: only the log's writer thread (or a rewrite) calls it. The list of segments is also read
by readers on other threads, so it sits behind its own small lock.

Roll-over happens at batch boundaries, so a batch never spans two files; a segment outgrows
`segment_size_bytes` only when one batch alone is bigger. Order of durable steps when rolling:
fsync the full segment, write and fsync its seal (indexes/log/seal.py), create the next one, write and
fsync its header, fsync the directory. Hence a non-last segment is always complete on disk, and a
segment with frames always has a durable header. The seal's CRC of the whole segment is kept as the
bytes are written (CRC32C continues over appended data), so sealing reads nothing back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from crc32c import crc32c

from indexes.log.fsio import Fsync, fsync_dir, write_all
from indexes.log.seal import Seal, file_crc, remove_seal, write_seal
from indexes.log.segment_file import SEGMENT_HEADER_BYTES, SegmentRef, encode_header, segment_name

DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024


class SegmentWriter:
    def __init__(
        self,
        data_dir: Path,
        segments: Sequence[SegmentRef],
        *,
        last_size_bytes: int,
        last_frames: int,
        segment_size_bytes: int,
        fsync: Fsync,
    ) -> None:
        """`segments` as recovered; the last one (if any) is reopened for appending at `last_size_bytes`."""
        if segment_size_bytes <= SEGMENT_HEADER_BYTES:
            raise ValueError(f"segment_size_bytes must exceed the {SEGMENT_HEADER_BYTES}-byte header")
        self._dir = data_dir
        self._segment_size_bytes = segment_size_bytes
        self._fsync = fsync
        self._segments_lock = threading.Lock()
        self._segments = list(segments)
        self._fd = -1
        self._size_bytes = 0
        self._frames = 0
        self._crc = 0  # CRC32C of the current segment's bytes so far
        if self._segments:
            assert last_size_bytes >= SEGMENT_HEADER_BYTES
            path = self._segments[-1][1]
            # A sealed last segment (a crash after sealing, before its successor had a header) grows
            # again: its seal would be stale. Removed before the first byte is appended.
            if remove_seal(path):
                fsync_dir(self._dir, self._fsync)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            assert os.fstat(self._fd).st_size == last_size_bytes, "the tail was not cut before reopening"
            self._size_bytes = last_size_bytes
            self._frames = last_frames
            self._crc = file_crc(path, last_size_bytes)

    def segments(self) -> list[SegmentRef]:
        """A snapshot of (base LSN, path), oldest first; every acknowledged LSN is in one of them."""
        with self._segments_lock:
            return list(self._segments)

    def write_group(self, batches: Sequence[tuple[bytes, int]], first_lsn: int) -> None:
        """Write (frames, record count) batches holding LSNs from `first_lsn` on: one write per file."""
        lsn = first_lsn
        pieces: list[bytes] = []
        for frames, count in batches:
            assert count > 0 and frames
            if self._fd < 0:
                self._start_segment(lsn)
            elif self._frames > 0 and self._size_bytes + len(frames) > self._segment_size_bytes:
                self._write(pieces)
                pieces = []
                self._roll(lsn)
            pieces.append(frames)
            self._size_bytes += len(frames)
            self._frames += count
            lsn += count
        self._write(pieces)

    def sync(self) -> None:
        if self._fd >= 0:
            self._fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _write(self, pieces: list[bytes]) -> None:
        if pieces:
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            write_all(self._fd, data)
            self._crc = crc32c(data, self._crc)

    def _roll(self, base_lsn: int) -> None:
        self._fsync(self._fd)  # the full segment is durable before its successor exists
        full_base, full_path = self._segments[-1]
        write_seal(full_path, Seal(full_base, self._frames, self._size_bytes, self._crc), self._fsync)
        os.close(self._fd)
        self._fd = -1
        self._start_segment(base_lsn)  # its directory fsync makes the seal's entry durable too

    def _start_segment(self, base_lsn: int) -> None:
        assert self._fd < 0
        path = self._dir / segment_name(base_lsn)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._fd = fd
        header = encode_header(base_lsn)
        write_all(fd, header)
        self._fsync(fd)
        fsync_dir(self._dir, self._fsync)
        self._size_bytes = SEGMENT_HEADER_BYTES
        self._frames = 0
        self._crc = crc32c(header)
        with self._segments_lock:
            assert not self._segments or self._segments[-1][0] < base_lsn
            self._segments.append((base_lsn, path))


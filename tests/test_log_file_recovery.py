"""FileLog on disk, at open: torn tails (cut and reported) vs corruption (refused, naming file and
offset), LSN gaps, foreign headers, older format versions; reads check CRCs again."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from crc32c import crc32c

from indexes.log import FileLog, LogCorruptError, verify
from indexes.log.seal import seal_path
from indexes.log.segment_file import SEGMENT_HEADER_BYTES, segment_name
from tests.log_files import FIRST, event, flip_bit, frame_starts, records, write_log

pytestmark = pytest.mark.timeout(60)


# -- torn tail vs corruption ----------------------------------------------------------------------------


def test_torn_tail_cut_at_every_offset_of_the_last_frame(tmp_path: Path) -> None:
    original = tmp_path / "original"
    write_log(original, 5)
    data = (original / FIRST).read_bytes()
    last = frame_starts(original / FIRST)[-1]
    for cut in range(last, len(data)):
        data_dir = tmp_path / f"cut-{cut}"
        data_dir.mkdir()
        (data_dir / FIRST).write_bytes(data[:cut])
        with FileLog(data_dir) as log:
            torn = log.open_report.torn_tail
            if cut == last:
                assert torn is None  # a clean frame boundary: nothing torn
            else:
                assert torn is not None
                assert (torn.file, torn.offset, torn.bytes_dropped) == (str(data_dir / FIRST), last, cut - last)
            assert log.end_lsn == 4
            assert [r for _, r in log.read()] == [event(i) for i in range(4)]
            log.append([event(99)])  # appends continue right after the cut
        assert records(data_dir) == [*(event(i) for i in range(4)), event(99)]
        shutil.rmtree(data_dir)


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    size = (tmp_path / FIRST).stat().st_size
    with open(tmp_path / FIRST, "ab") as file:
        file.write(bytes(4096))  # the size reached the disk, the data did not
    with FileLog(tmp_path) as log:
        torn = log.open_report.torn_tail
        assert torn is not None and (torn.offset, torn.bytes_dropped) == (size, 4096)
        assert log.end_lsn == 3
    assert (tmp_path / FIRST).stat().st_size == size


def test_torn_segment_header_removes_the_file(tmp_path: Path) -> None:
    write_log(tmp_path, 6, segment_size_bytes=100)
    names = sorted(p.name for p in tmp_path.glob("*.seg"))
    header = (tmp_path / names[-1]).read_bytes()[:SEGMENT_HEADER_BYTES]
    next_name = segment_name(6)
    for cut in [0, 1, 10, SEGMENT_HEADER_BYTES]:
        (tmp_path / next_name).write_bytes(header[:cut] if cut < SEGMENT_HEADER_BYTES else bytes(cut))
        with FileLog(tmp_path, segment_size_bytes=100) as log:
            torn = log.open_report.torn_tail
            assert torn is not None and (torn.file, torn.offset) == (str(tmp_path / next_name), 0)
            assert log.end_lsn == 6
        assert not (tmp_path / next_name).exists()
    assert records(tmp_path) == [event(i) for i in range(6)]


def test_bit_flip_in_a_middle_frame_refuses_to_open(tmp_path: Path) -> None:
    write_log(tmp_path, 10)
    starts = frame_starts(tmp_path / FIRST)
    for target, at in [(3, starts[3] + 12), (5, starts[5] + 1), (0, starts[0] + 6)]:  # body, length, CRC
        flip_bit(tmp_path / FIRST, at)
        with pytest.raises(LogCorruptError) as caught:
            FileLog(tmp_path)
        assert caught.value.file == str(tmp_path / FIRST)
        assert caught.value.offset == starts[target]
        assert str(tmp_path / FIRST) in str(caught.value) and f"byte offset {starts[target]}" in str(caught.value)
        flip_bit(tmp_path / FIRST, at)  # undo
    assert records(tmp_path) == [event(i) for i in range(10)]


def test_bit_flip_in_the_last_frame_is_a_torn_tail(tmp_path: Path) -> None:
    """The documented rule: nothing valid after the bad frame, in the last segment, so it is torn."""
    write_log(tmp_path, 10)
    last = frame_starts(tmp_path / FIRST)[-1]
    size = (tmp_path / FIRST).stat().st_size
    for at in [last + 10, last + 1, last + 5]:  # body, length, CRC
        write_log(tmp_path / f"at-{at}", 10)
        flip_bit(tmp_path / f"at-{at}" / FIRST, at)
        with FileLog(tmp_path / f"at-{at}") as log:
            torn = log.open_report.torn_tail
            assert torn is not None and (torn.offset, torn.bytes_dropped) == (last, size - last)
            assert log.end_lsn == 9


def test_bad_frame_in_a_non_last_segment_is_corruption(tmp_path: Path) -> None:
    write_log(tmp_path, 12, segment_size_bytes=150)
    segments = sorted(tmp_path.glob("*.seg"))
    assert len(segments) >= 3
    last_frame = frame_starts(segments[0])[-1]
    flip_bit(segments[0], last_frame + 12)  # the last frame of a non-last segment has no excuse
    # Sealed: opening trusts the seal (no read of the frames); reading refuses, naming the frame.
    with FileLog(tmp_path) as log:
        assert log.open_report.sealed_segments == len(segments) - 1
        with pytest.raises(LogCorruptError) as caught:
            list(log.read())
        assert (caught.value.file, caught.value.offset) == (str(segments[0]), last_frame)
    problem = verify(tmp_path).problems[0]
    assert (problem.file, problem.offset, problem.kind) == (str(segments[0]), last_frame, "bad_crc")
    # Without its seal, the segment is scanned on open, which refuses it.
    seal_path(segments[0]).unlink()
    with pytest.raises(LogCorruptError) as caught:
        FileLog(tmp_path)
    assert (caught.value.file, caught.value.offset) == (str(segments[0]), last_frame)


def test_truncated_non_last_segment_is_corruption(tmp_path: Path) -> None:
    write_log(tmp_path, 12, segment_size_bytes=150)
    segments = sorted(tmp_path.glob("*.seg"))
    os.truncate(segments[1], segments[1].stat().st_size - 3)
    with pytest.raises(LogCorruptError) as caught:
        FileLog(tmp_path)
    assert caught.value.file == str(segments[1])


def test_lsn_gap_and_foreign_header_refuse_to_open(tmp_path: Path) -> None:
    write_log(tmp_path, 12, segment_size_bytes=150)
    segments = sorted(tmp_path.glob("*.seg"))
    moved = tmp_path / "aside"
    segments[1].rename(moved)
    with pytest.raises(LogCorruptError) as caught:
        FileLog(tmp_path)
    assert (caught.value.file, caught.value.offset) == (str(segments[2]), 0)
    assert "lsn_gap" in str(caught.value)
    moved.rename(segments[1])
    flip_bit(segments[0], 2)  # the magic
    with pytest.raises(LogCorruptError, match="bad_header"):
        FileLog(tmp_path)
    flip_bit(segments[0], 2)
    segments[1].write_bytes(b"#!/bin/sh\necho not a segment\n" * 3)
    with pytest.raises(LogCorruptError, match="not a segment file"):
        FileLog(tmp_path)


def test_read_checks_crcs_again(tmp_path: Path) -> None:
    write_log(tmp_path, 10)
    starts = frame_starts(tmp_path / FIRST)
    with FileLog(tmp_path) as log:
        flip_bit(tmp_path / FIRST, starts[4] + 12)  # bit rot after open
        with pytest.raises(LogCorruptError) as caught:
            list(log.read())
        assert caught.value.offset == starts[4]



def test_a_log_of_an_older_format_version_is_refused_with_the_reason(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    data = bytearray((tmp_path / FIRST).read_bytes())
    struct.pack_into("<I", data, 8, 1)  # format version 1: records were msgpack maps then
    struct.pack_into("<I", data, 20, crc32c(bytes(data[:20])))
    (tmp_path / FIRST).write_bytes(bytes(data))
    with pytest.raises(LogCorruptError, match="version 1 .written by an older release.*re-ingest"):
        FileLog(tmp_path)

"""Sealed segments: opening trusts a matching seal, reads check the bytes, bad seals fall back or get removed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from crc32c import crc32c

from indexes.log import FileLog, LogCorruptError, repair, rewrite, verify
from indexes.log.seal import SEAL_BYTES, Seal, decode_seal, encode_seal, read_seal, seal_path
from indexes.log.segment_file import SEGMENT_HEADER_BYTES
from tests.log_files import event, flip_bit, frame_starts, records, write_log

pytestmark = pytest.mark.timeout(60)


def sealed_log(data_dir: Path, count: int = 60, segment_size_bytes: int = 400) -> list[Path]:
    write_log(data_dir, count, batch=3, segment_size_bytes=segment_size_bytes)
    segments = sorted(data_dir.glob("*.seg"))
    assert len(segments) >= 4
    return segments


def test_every_rolled_segment_is_sealed_with_its_frames_size_and_crc(tmp_path: Path) -> None:
    segments = sealed_log(tmp_path)
    base = 0
    for path in segments[:-1]:
        seal = read_seal(path)
        assert seal == Seal(base, len(frame_starts(path)), path.stat().st_size, crc32c(path.read_bytes()))
        base += seal.frames
    assert read_seal(segments[-1]) is None, "the active segment still grows"
    with FileLog(tmp_path) as log:
        assert log.open_report.sealed_segments == len(segments) - 1
        assert [r for _, r in log.read()] == [event(i) for i in range(60)]
        assert [r for run in log.read_bodies(7, max_records=5) for r in run.decode()] == [event(i) for i in range(7, 60)]


def test_opening_does_not_read_a_sealed_segment_but_reading_does(tmp_path: Path) -> None:
    segments = sealed_log(tmp_path, count=90, segment_size_bytes=1000)
    assert len(frame_starts(segments[1])) > 6
    middle = frame_starts(segments[1])[2]
    flip_bit(segments[1], middle + 10)
    with FileLog(tmp_path) as log:  # trusted by its seal
        first_frames = len(frame_starts(segments[0]))
        assert [r for _, r in zip(range(first_frames), log.read(), strict=False)] == [
            (i, event(i)) for i in range(first_frames)
        ]
        with pytest.raises(LogCorruptError) as caught:
            list(log.read())
        assert (caught.value.file, caught.value.offset) == (str(segments[1]), middle)
        with pytest.raises(LogCorruptError) as caught:
            list(log.read_bodies(first_frames + 5))  # a read that starts after the damaged frame
        assert (caught.value.file, caught.value.offset) == (str(segments[1]), middle)


@pytest.mark.parametrize("damage", ["missing", "torn", "flipped", "other_size", "other_base"])
def test_an_unusable_seal_means_a_scan(tmp_path: Path, damage: str) -> None:
    segments = sealed_log(tmp_path)
    target = seal_path(segments[1])
    seal = read_seal(segments[1])
    assert seal is not None
    if damage == "missing":
        target.unlink()
    elif damage == "torn":
        target.write_bytes(target.read_bytes()[: SEAL_BYTES // 2])
    elif damage == "flipped":
        flip_bit(target, 20)
        assert decode_seal(target.read_bytes()) is None
    elif damage == "other_size":
        target.write_bytes(encode_seal(Seal(seal.base_lsn, seal.frames, seal.size_bytes + 1, seal.crc)))
    else:
        target.write_bytes(encode_seal(Seal(seal.base_lsn + 1, seal.frames, seal.size_bytes, seal.crc)))
    with FileLog(tmp_path) as log:
        assert log.open_report.sealed_segments == len(segments) - 2
        assert [r for _, r in log.read()] == [event(i) for i in range(60)]
    assert verify(tmp_path).ok


def test_a_seal_that_lies_is_caught_by_verify_and_removed_by_repair(tmp_path: Path) -> None:
    segments = sealed_log(tmp_path)
    wrong_crc, wrong_count = read_seal(segments[1]), read_seal(segments[2])
    assert wrong_crc is not None and wrong_count is not None
    seal_path(segments[1]).write_bytes(encode_seal(replace(wrong_crc, crc=wrong_crc.crc ^ 1)))
    with FileLog(tmp_path) as log:  # the frame count is right, so it opens; reading checks every frame
        assert [r for _, r in log.read()] == [event(i) for i in range(60)]
    seal_path(segments[2]).write_bytes(encode_seal(replace(wrong_count, frames=wrong_count.frames + 1)))
    with pytest.raises(LogCorruptError, match="lsn_gap"):  # the next segment's name gives it away
        FileLog(tmp_path)
    report = verify(tmp_path)
    assert [(p.file, p.kind) for p in report.problems] == [
        (str(seal_path(segments[1])), "bad_seal"),
        (str(seal_path(segments[2])), "bad_seal"),
    ]
    report = repair(tmp_path)
    assert report.ok and len(report.problems_found) == 2
    assert not seal_path(segments[1]).exists() and not seal_path(segments[2]).exists()
    assert seal_path(segments[3]).exists() or len(segments) == 4
    assert records(tmp_path) == [event(i) for i in range(60)]


def test_a_sealed_last_segment_grows_again_without_its_seal(tmp_path: Path) -> None:
    """A crash between sealing a segment and writing its successor's header: the successor is removed
    as a torn header, and the sealed segment is the last one again."""
    segments = sealed_log(tmp_path)
    segments[-1].write_bytes(b"")  # the header never reached the disk
    with FileLog(tmp_path, segment_size_bytes=10_000) as log:
        assert log.open_report.torn_tail is not None and log.open_report.torn_tail.offset == 0
        assert not seal_path(segments[-2]).exists()
        end = log.end_lsn
        log.append([event(end)])
    assert verify(tmp_path).ok
    assert records(tmp_path) == [event(i) for i in range(end + 1)]


def test_repair_removes_the_seals_of_the_segments_it_cuts(tmp_path: Path) -> None:
    segments = sealed_log(tmp_path)
    cut = frame_starts(segments[1])[1]
    flip_bit(segments[1], cut + 10)
    report = repair(tmp_path, truncate_corrupt=True)
    assert report.ok
    assert seal_path(segments[0]).exists()
    assert not any(seal_path(path).exists() for path in segments[1:])
    kept = len(frame_starts(segments[0])) + 1
    assert records(tmp_path) == [event(i) for i in range(kept)]


def test_rewrite_replaces_seals_with_the_new_segments(tmp_path: Path) -> None:
    segments = sealed_log(tmp_path, count=90)
    rewrite(tmp_path, lambda record: record["ts"] % 3 == 0, segment_size_bytes=400)
    after = sorted(tmp_path.glob("*.seg"))
    assert len(after) < len(segments)
    assert sorted(tmp_path.glob("*.seal")) == [seal_path(path) for path in after[:-1]]
    with FileLog(tmp_path) as log:
        assert log.open_report.sealed_segments == len(after) - 1
    assert verify(tmp_path).ok
    assert records(tmp_path) == [event(i) for i in range(0, 90, 3)]


def test_header_is_checked_even_for_a_sealed_segment(tmp_path: Path) -> None:
    segments = sealed_log(tmp_path)
    flip_bit(segments[1], 2)  # the magic
    assert SEGMENT_HEADER_BYTES > 2
    with pytest.raises(LogCorruptError, match="bad_header"):
        FileLog(tmp_path)

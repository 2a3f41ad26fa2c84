"""FileLog on disk: torn tails vs corruption, roll-over, fsync failure, backpressure, verify/repair/rewrite."""

from __future__ import annotations

import importlib
import os
import shutil
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from crc32c import crc32c

from indexes.log import (
    FileLog,
    LogBackpressureError,
    LogCorruptError,
    LogFailedError,
    LogLockedError,
    repair,
    rewrite,
    verify,
)
from indexes.log import swap as swap_module
from indexes.log.seal import seal_path
from indexes.log.segment_file import SEGMENT_HEADER_BYTES, segment_name
from indexes.log.swap import REWRITE_DIR

pytestmark = pytest.mark.timeout(60)
REWRITE_MODULE = importlib.import_module("indexes.log.rewrite")  # the package re-exports a function by that name
WRITER_MODULE = importlib.import_module("indexes.log.segment_writer")

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


# -- segments ---------------------------------------------------------------------------------------


def test_segments_roll_over_and_reopen(tmp_path: Path) -> None:
    write_log(tmp_path, 200, batch=3, segment_size_bytes=1024)
    segments = sorted(tmp_path.glob("*.seg"))
    assert len(segments) > 5
    base = 0
    for path in segments:
        assert path.name == segment_name(base)  # named by the LSN of the first record
        assert path.stat().st_size <= 1024
        base += len(frame_starts(path))
    assert base == 200
    with FileLog(tmp_path, segment_size_bytes=1024) as log:
        assert log.open_report.segments == len(segments)
        for start in [0, 1, 57, 199, 200]:
            assert [r for _, r in log.read(start)] == [event(i) for i in range(start, 200)]
        log.append([event(200)])
    assert len(records(tmp_path)) == 201


def test_one_batch_larger_than_a_segment_gets_its_own(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    with FileLog(tmp_path, segment_size_bytes=200) as log:
        log.append([event(i) for i in range(3, 40)])
        log.append([event(40)])
    assert sorted(p.name for p in tmp_path.glob("*.seg")) == [FIRST, segment_name(3), segment_name(40)]
    assert records(tmp_path) == [event(i) for i in range(41)]


def test_second_writer_is_locked_out(tmp_path: Path) -> None:
    with FileLog(tmp_path):
        with pytest.raises(LogLockedError):
            FileLog(tmp_path)
        with pytest.raises(LogLockedError):
            repair(tmp_path)
        with pytest.raises(LogLockedError):
            rewrite(tmp_path, lambda record: True)


# -- failure, backpressure, sync policies -------------------------------------------------------------


class FsyncHook:
    """A stand-in for os.fsync that counts, can block until released, and can start failing."""

    def __init__(self) -> None:
        self.calls = 0  # entered
        self.completed = 0
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(30)
        if self.fail:
            raise OSError(5, "simulated EIO from fsync")
        os.fsync(fd)
        self.completed += 1


def start_appends(log: FileLog, count: int, outcomes: list[object]) -> list[threading.Thread]:
    def one(i: int) -> None:
        try:
            outcomes.append(log.append([event(i)]))
        except Exception as exc:  # collected for the assertions
            outcomes.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


def test_fsync_failure_fails_pending_and_later_appends(tmp_path: Path) -> None:
    hook = FsyncHook()
    log = FileLog(tmp_path, fsync=hook)
    acked = log.append([event(0)])  # creates the segment (header and directory fsyncs) and commits
    hook.gate.clear()
    hook.entered.clear()
    outcomes: list[object] = []
    threads = start_appends(log, 1, outcomes)
    assert hook.entered.wait(10)  # the writer is inside the group's fsync
    threads += start_appends(log, 5, outcomes)  # these queue up behind it
    time.sleep(0.05)
    hook.fail = True
    hook.gate.set()
    for thread in threads:
        thread.join(10)
    assert len(outcomes) == 6 and all(isinstance(o, LogFailedError) for o in outcomes)
    with pytest.raises(LogFailedError, match="simulated EIO"):
        log.append([event(100)])
    with pytest.raises(LogFailedError):
        log.sync()
    calls = hook.calls
    time.sleep(0.05)
    assert hook.calls == calls, "a failed fsync is never retried"
    log.close()  # releases the directory; the failure was already reported
    with FileLog(tmp_path) as reopened:  # what was acknowledged is there; the rest may or may not be
        assert reopened.end_lsn >= acked.last_lsn + 1
        assert next(reopened.read())[1] == event(0)


def test_fsync_failure_on_first_append(tmp_path: Path) -> None:
    def failing(fd: int) -> None:
        raise OSError(28, "simulated ENOSPC")

    log = FileLog(tmp_path, fsync=failing)
    with pytest.raises(LogFailedError, match="ENOSPC"):
        log.append([event(0)])
    with pytest.raises(LogFailedError):
        log.append([event(1)])
    log.close()


def test_write_failure_is_fatal_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = FileLog(tmp_path)
    log.append([event(0)])

    def failing_write(fd: int, data: bytes) -> None:
        raise OSError(28, "simulated ENOSPC from write")

    monkeypatch.setattr(WRITER_MODULE, "write_all", failing_write)
    with pytest.raises(LogFailedError, match="ENOSPC"):
        log.append([event(1)])
    monkeypatch.undo()
    with pytest.raises(LogFailedError):
        log.append([event(2)])  # the disk may be fine again: the log stays failed
    log.close()
    assert records(tmp_path) == [event(0)]


def test_backpressure_times_out_with_a_clear_error(tmp_path: Path) -> None:
    hook = FsyncHook()
    log = FileLog(tmp_path, fsync=hook, max_pending_records=4, max_pending_bytes=1 << 20)
    log.append([event(0)])
    hook.gate.clear()
    hook.entered.clear()
    outcomes: list[object] = []
    threads = start_appends(log, 1, outcomes)
    assert hook.entered.wait(10)  # writer stuck in fsync: nothing leaves the queue
    threads += start_appends(log, 4, outcomes)  # fills the queue (4 records)
    wait_for(lambda: log.pending_records == 4)
    started = time.monotonic()
    with pytest.raises(LogBackpressureError, match="pending queue full"):
        log.append([event(99)], timeout_ms=50)
    assert 0.04 <= time.monotonic() - started < 5
    with pytest.raises(ValueError, match="split it"):
        log.append([event(i) for i in range(5)])  # could never fit
    hook.gate.set()
    for thread in threads:
        thread.join(10)
    assert len(outcomes) == 5 and not any(isinstance(o, Exception) for o in outcomes)
    assert log.end_lsn == 6
    log.close()


def test_interval_policy_acknowledges_before_fsync_and_syncs_within_the_interval(tmp_path: Path) -> None:
    hook = FsyncHook()
    with FileLog(tmp_path, sync="interval", sync_interval_ms=20, fsync=hook) as log:
        log.append([event(0)])
        wait_for(lambda: hook.completed >= 3)  # header, directory, then the interval fsync
        calls = hook.calls
        hook.gate.clear()  # an fsync would now block, yet appends are still acknowledged
        log.append([event(1)])
        assert log.end_lsn == 2
        hook.gate.set()
        wait_for(lambda: hook.calls > calls)  # the interval fsync came by itself
        time.sleep(0.1)
        idle = hook.calls
        time.sleep(0.1)
        assert hook.calls == idle, "no fsync when nothing is dirty"


def test_never_policy_syncs_only_on_request_and_close(tmp_path: Path) -> None:
    hook = FsyncHook()
    log = FileLog(tmp_path, sync="never", fsync=hook)
    log.append([event(0)])
    after_create = hook.calls  # the new segment's header and directory
    for i in range(1, 20):
        log.append([event(i)])
    assert hook.calls == after_create
    log.sync()
    assert hook.calls == after_create + 1
    log.sync()  # nothing new: nothing to do
    assert hook.calls == after_create + 1
    log.append([event(20)])
    log.close()
    assert hook.calls == after_create + 2


def test_always_policy_group_commits(tmp_path: Path) -> None:
    hook = FsyncHook()
    log = FileLog(tmp_path, fsync=hook)
    log.append([event(0)])
    hook.gate.clear()
    hook.entered.clear()
    before = hook.calls
    outcomes: list[object] = []
    threads = start_appends(log, 1, outcomes)
    assert hook.entered.wait(10)
    threads += start_appends(log, 20, outcomes)
    wait_for(lambda: log.pending_records == 20)  # all 20 wait behind the fsync
    hook.gate.set()
    for thread in threads:
        thread.join(10)
    assert hook.calls - before == 2, "one fsync for the first append, one for the 20 gathered behind it"
    assert log.end_lsn == 22
    log.close()


# -- verify, repair, rewrite ----------------------------------------------------------------------------


def test_verify_reports_segments_torn_tail_and_problems(tmp_path: Path) -> None:
    write_log(tmp_path, 12, segment_size_bytes=300)
    report = verify(tmp_path)
    assert report.ok and report.torn_tail is None and report.end_lsn == 12
    assert report.segments[0].first_lsn == 0 and report.segments[-1].last_lsn == 11
    assert sum(s.frames for s in report.segments) == 12
    assert all(s.last_lsn - s.first_lsn + 1 == s.frames for s in report.segments)
    segments = sorted(tmp_path.glob("*.seg"))
    with open(segments[-1], "ab") as file:
        file.write(b"\x05\x00\x00")
    report = verify(tmp_path)
    assert report.ok and report.torn_tail is not None and report.torn_tail.bytes_dropped == 3
    bad = frame_starts(segments[0])[1]
    flip_bit(segments[0], bad + 12)
    before = {p.name: p.read_bytes() for p in segments}
    report = verify(tmp_path)
    assert not report.ok
    assert (report.problems[0].file, report.problems[0].offset) == (str(segments[0]), bad)
    assert report.problems[0].kind == "bad_crc"
    assert {p.name: p.read_bytes() for p in segments} == before, "verify is read-only"


def test_verify_finds_a_body_that_is_not_a_record(tmp_path: Path) -> None:
    write_log(tmp_path, 2)
    body = b"\xa3abc"  # a msgpack string, not a map or an array: valid CRC, wrong content
    offset = (tmp_path / FIRST).stat().st_size
    with open(tmp_path / FIRST, "ab") as file:
        file.write(struct.pack("<II", len(body), crc32c(body)) + body)
    report = verify(tmp_path)
    assert [(p.kind, p.offset) for p in report.problems] == [("undecodable", offset)]


def test_repair_cuts_a_torn_tail(tmp_path: Path) -> None:
    write_log(tmp_path, 5)
    size = (tmp_path / FIRST).stat().st_size
    with open(tmp_path / FIRST, "ab") as file:
        file.write(b"\x40\x00\x00\x00garbage")
    report = repair(tmp_path)
    assert report.ok and report.torn_tail is not None and report.side_files == ()
    assert (tmp_path / FIRST).stat().st_size == size
    assert repair(tmp_path).actions == ("nothing to repair",)


def test_repair_truncates_corruption_only_when_asked_and_keeps_the_bytes(tmp_path: Path) -> None:
    write_log(tmp_path, 30, segment_size_bytes=300)
    segments = sorted(tmp_path.glob("*.seg"))
    assert len(segments) >= 4
    damaged = segments[1]
    cut = frame_starts(damaged)[1]
    flip_bit(damaged, cut + 12)
    snapshot = tmp_path.parent / "snapshot"
    shutil.copytree(tmp_path, snapshot)

    report = repair(tmp_path)
    assert not report.ok and report.side_files == ()
    assert (report.problems_found[0].file, report.problems_found[0].offset) == (str(damaged), cut)
    assert same_files(tmp_path, snapshot), "without truncate_corrupt nothing changes"

    report = repair(tmp_path, truncate_corrupt=True)
    assert report.ok
    side = tmp_path / f"{damaged.name}.corrupt-{cut}"
    assert str(side) in report.side_files
    assert side.read_bytes() == (snapshot / damaged.name).read_bytes()[cut:]
    assert damaged.read_bytes() == (snapshot / damaged.name).read_bytes()[:cut]
    for later in segments[2:]:
        assert not later.exists()
        assert (tmp_path / f"{later.name}.corrupt-0").read_bytes() == (snapshot / later.name).read_bytes()
    kept = len(frame_starts(segments[0])) + 1
    assert report.end_lsn == kept
    assert records(tmp_path) == [event(i) for i in range(kept)]


def test_rewrite_keeps_order_drops_filtered_and_leaves_no_temp_files(tmp_path: Path) -> None:
    write_log(tmp_path, 100, batch=7, segment_size_bytes=600)
    report = rewrite(tmp_path, lambda record: record["customer_id"] != "c-3", segment_size_bytes=600)
    expected = [event(i) for i in range(100) if i % 7 != 3]
    assert (report.records_before, report.records_kept, report.records_dropped) == (100, len(expected), 100 - len(expected))
    assert report.end_lsn == len(expected)
    segments = sorted(tmp_path.glob("*.seg"))
    assert report.segments == len(segments) > 1
    # Every segment but the last (still appendable) is sealed; no other file is left behind.
    seals = sorted(seal_path(path).name for path in segments[:-1])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".seg")) == sorted(["LOCK", *seals])
    with FileLog(tmp_path, segment_size_bytes=600) as log:
        assert log.open_report.sealed_segments == len(segments) - 1
        assert [(lsn, r) for lsn, r in log.read()] == list(enumerate(expected))  # renumbered from 0
        log.append([event(1000)])
    assert verify(tmp_path).ok
    assert rewrite(tmp_path, lambda record: False).end_lsn == 0
    assert list(tmp_path.glob("*.seg")) == [] and list(tmp_path.glob("*.seal")) == []
    assert records(tmp_path) == []


def test_rewrite_interrupted_before_commit_keeps_the_old_log(tmp_path: Path) -> None:
    write_log(tmp_path, 20)

    def keep(record: dict) -> bool:
        if record["ts"] == 15:
            raise RuntimeError("crash in the middle")
        return True

    with pytest.raises(RuntimeError):
        rewrite(tmp_path, keep)
    assert not (tmp_path / REWRITE_DIR).exists()
    (tmp_path / REWRITE_DIR).mkdir()  # as a kill -9 would leave it
    (tmp_path / REWRITE_DIR / FIRST).write_bytes(b"half")
    with FileLog(tmp_path) as log:
        assert not log.open_report.rewrite_completed
        assert [r for _, r in log.read()] == [event(i) for i in range(20)]
    assert not (tmp_path / REWRITE_DIR).exists()


def test_rewrite_interrupted_after_commit_rolls_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_log(tmp_path, 30, segment_size_bytes=200)
    real_install = swap_module.install

    def crash_midway(data_dir: Path, fsync: Callable[[int], None]) -> None:
        # Remove one old segment, then "crash": the directory is half old, half pending.
        sorted(data_dir.glob("*.seg"))[-1].unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(REWRITE_MODULE, "install", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        rewrite(tmp_path, lambda record: record["ts"] % 2 == 0, segment_size_bytes=200)
    assert verify(tmp_path).rewrite_pending
    monkeypatch.setattr(REWRITE_MODULE, "install", real_install)
    with FileLog(tmp_path) as log:
        assert log.open_report.rewrite_completed
        assert [r for _, r in log.read()] == [event(i) for i in range(0, 30, 2)]
    assert not (tmp_path / REWRITE_DIR).exists()


def test_a_log_of_an_older_format_version_is_refused_with_the_reason(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    data = bytearray((tmp_path / FIRST).read_bytes())
    struct.pack_into("<I", data, 8, 1)  # format version 1: records were msgpack maps then
    struct.pack_into("<I", data, 20, crc32c(bytes(data[:20])))
    (tmp_path / FIRST).write_bytes(bytes(data))
    with pytest.raises(LogCorruptError, match="version 1 .written by an older release.*re-ingest"):
        FileLog(tmp_path)

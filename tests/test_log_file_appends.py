"""FileLog appends: segments rolling over, one writer at a time, fsync and write failures (final),
backpressure, and the sync policies (always: group commit; interval; never)."""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from indexes.log import FileLog, LogBackpressureError, LogFailedError, LogLockedError, repair, rewrite
from indexes.log.segment_file import segment_name
from tests.log_files import FIRST, event, frame_starts, records, write_log

pytestmark = pytest.mark.timeout(60)
WRITER_MODULE = importlib.import_module("indexes.log.segment_writer")


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

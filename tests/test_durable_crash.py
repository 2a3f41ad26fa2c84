"""Crashes: SIGKILL at random moments, torn writes, bit flips, failing fsync, killed compaction.

The kill loop is benchmarks/crash_soak.py (the soak script runs it for longer); its check asserts
that every acknowledged batch is present exactly once and that no batch is half applied.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from benchmarks.crash_soak import SoakState, batch_records, check_workspace, soak
from indexes.cli import main
from indexes.durable import DurableEngine, compact
from indexes.engine import Engine
from indexes.log import LogCorruptError, LogFailedError
from indexes.snapshot import list_snapshots

SIZE = 6
FAR_MS = 10**13


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    """50 kills: 45 of a forked child, 5 of a spawned `python -m benchmarks.crash_soak child`."""
    state = SoakState(tmp_path / "w", size=SIZE, threads=3, snapshot_every=20)
    results = soak(state, kills=50, mode="fork", seed=20261126, spawn_every=10)
    assert state.kills == 50 and len(results) == 50
    assert len(state.acked) > 50, "the children got work acknowledged between kills"
    assert state.snapshot_opens > 0, "some restarts started from a snapshot"
    assert set(results[-1].present) >= state.acked


def build(data_dir: Path, batches: int, snapshot_at: int | None = None) -> list[int]:
    """Ingest batches 0..batches-1; returns the last segment's size after each (the batch's end)."""
    ends = []
    with DurableEngine.open(data_dir) as engine:
        for n in range(batches):
            engine.ingest(batch_records(n, SIZE))
            ends.append(_segment(data_dir).stat().st_size)
            if snapshot_at is not None and n == snapshot_at:
                engine.snapshot()
    return ends


def _segment(data_dir: Path) -> Path:
    return sorted((data_dir / "log").glob("*.seg"))[-1]


def test_a_torn_last_write_never_shows_half_a_batch(tmp_path: Path) -> None:
    """Cut the last batch's bytes at random offsets (sometimes followed by garbage or zeros, as a
    crash can leave): the batch was never acknowledged, and none of it may appear."""
    origin = tmp_path / "origin"
    ends = build(origin, 6)
    rng = random.Random(7)
    for trial in range(12):
        work = tmp_path / f"t{trial}"
        shutil.copytree(origin, work)
        segment = _segment(work)
        cut = rng.randrange(ends[-2], ends[-1])  # inside the last batch (never at its end)
        data = segment.read_bytes()[:cut]
        tail = [b"", bytes(rng.randrange(1, 200)), os.urandom(rng.randrange(1, 200))][trial % 3]
        segment.write_bytes(data + tail)
        result = check_workspace(work, acked=set(range(5)), sent_up_to=5, size=SIZE)
        assert result.present == [0, 1, 2, 3, 4], f"cut at {cut}: {result.present}"
        with DurableEngine.open(work) as engine:  # re-sending the torn batch is accepted in full
            assert engine.ingest(batch_records(5, SIZE)).accepted == SIZE + 1
        assert check_workspace(work, set(range(6)), 5, SIZE).present == list(range(6))


def test_a_bit_flip_in_the_last_frame_is_a_torn_tail(tmp_path: Path) -> None:
    ends = build(tmp_path, 4)
    segment = _segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[ends[-1] - 2] ^= 0x01  # inside the last frame: the last batch's commit mark
    segment.write_bytes(bytes(data))
    engine, report = DurableEngine.open_with_report(tmp_path)
    with engine:
        assert report.log.torn_tail is not None and report.abort_written
    assert check_workspace(tmp_path, set(range(3)), 3, SIZE).present == [0, 1, 2]


def test_a_bit_flip_mid_log_refuses_to_open_until_repaired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ends = build(tmp_path, 8, snapshot_at=6)
    segment = _segment(tmp_path)
    data = bytearray(segment.read_bytes())
    flip_at = (ends[2] + ends[3]) // 2  # inside batch 3; valid frames follow: corruption, not a torn tail
    data[flip_at] ^= 0x10
    segment.write_bytes(bytes(data))
    with pytest.raises(LogCorruptError) as caught:
        DurableEngine.open(tmp_path)
    assert caught.value.file == str(segment) and ends[2] <= caught.value.offset <= flip_at
    assert main(["log", "verify", "--data-dir", str(tmp_path)]) == 1
    assert f"{segment} at byte offset {caught.value.offset}" in capsys.readouterr().out
    assert main(["log", "repair", "--data-dir", str(tmp_path)]) == 1  # reports only, without the flag
    assert main(["log", "repair", "--data-dir", str(tmp_path), "--truncate-corrupt"]) == 0
    assert list(segment.parent.glob("*.corrupt-*")), "the cut bytes are kept in a side file"
    engine, report = DurableEngine.open_with_report(tmp_path)
    with engine:
        # The snapshot covered batches the log no longer holds: removed, full replay.
        assert report.stale_snapshots_removed and report.snapshot is None
        assert list_snapshots(tmp_path / "snapshots") == []
    # Batches 0-2 survive; batch 3 is cut in the middle and must not show; 4-7 are to be re-sent.
    assert check_workspace(tmp_path, set(range(3)), 7, SIZE).present == [0, 1, 2]
    with DurableEngine.open(tmp_path) as engine:
        for n in range(3, 8):
            engine.ingest(batch_records(n, SIZE))
    assert check_workspace(tmp_path, set(range(8)), 7, SIZE).present == list(range(8))


def test_failing_fsync_under_concurrent_producers(tmp_path: Path) -> None:
    """Once an fsync fails, nothing more is acknowledged; after a reopen, every acknowledged batch is
    there and none is half applied."""
    fail_after = threading.Event()
    calls = [0]

    def fsync(fd: int) -> None:
        calls[0] += 1
        if fail_after.is_set():
            raise OSError(5, "simulated EIO")
        os.fsync(fd)

    acked: set[int] = set()
    failures: list[BaseException] = []
    lock = threading.Lock()
    engine = DurableEngine.open(tmp_path, fsync=fsync)
    counter = iter(range(10_000))

    def produce() -> None:
        for _ in range(200):
            with lock:
                n = next(counter)
            try:
                engine.ingest(batch_records(n, SIZE))
            except LogFailedError as exc:
                failures.append(exc)
                return
            with lock:
                acked.add(n)

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.15)
    fail_after.set()
    for thread in threads:
        thread.join(30)
    assert len(failures) == 4, "every producer learns of the failure"
    sent = max(acked | {0}) + 8
    engine.close()
    result = check_workspace(tmp_path, acked, sent, SIZE)
    assert set(result.present) >= acked


def _compaction_data(data_dir: Path) -> list[list[dict]]:
    batches = [batch_records(n, SIZE) for n in range(30)]
    batches.insert(10, [{"forget_customer": "c-1", "ts": 1}])
    batches.insert(20, [{"forget_customer": "c-2", "ts": 1}])
    with DurableEngine.open(data_dir) as engine:
        for number, batch in enumerate(batches):
            engine.ingest(batch)
            if number % 9 == 0:
                engine.snapshot()
    return batches


def _answers(engine: Engine | DurableEngine) -> list[object]:
    rules = ["count(page_viewed) >= 1", "count(page_viewed) >= 15", "language exists", 'language = "l29"']
    return [engine.members(rule, FAR_MS) for rule in rules]


def test_sigkill_during_compaction_leaves_a_workspace_that_opens(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    batches = _compaction_data(origin)
    reference = Engine()
    for batch in batches:
        reference.ingest(batch)
    expected = _answers(reference)
    rng = random.Random(3)
    for trial in range(8):
        work = tmp_path / f"k{trial}"
        shutil.copytree(origin, work)
        pid = os.fork()
        if pid == 0:
            try:
                compact(work)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with DurableEngine.open(work) as engine:
            assert _answers(engine) == expected, f"trial {trial}"
        report = compact(work)  # finishing the job
        assert report.digest_equal
        with DurableEngine.open(work) as engine:
            assert _answers(engine) == expected
            assert engine.ingest(batches[0]).duplicates == SIZE

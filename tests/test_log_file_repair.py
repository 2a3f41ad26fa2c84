"""FileLog maintenance: verify (read-only), repair (torn tails; corruption cut only when asked, its
bytes kept aside), rewrite (filtered, renumbered, crash-safe before and after its commit)."""

from __future__ import annotations

import importlib
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from crc32c import crc32c

from indexes.log import FileLog, repair, rewrite, verify
from indexes.log import swap as swap_module
from indexes.log.seal import seal_path
from indexes.log.swap import REWRITE_DIR
from tests.log_files import FIRST, event, flip_bit, frame_starts, records, same_files, write_log

pytestmark = pytest.mark.timeout(60)
REWRITE_MODULE = importlib.import_module("indexes.log.rewrite")  # the package re-exports a function by that name


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

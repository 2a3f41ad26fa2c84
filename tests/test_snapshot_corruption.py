"""Damaged snapshots (indexes/snapshot): the newest one damaged in any file, framed but wrong, half
written, renamed or beyond the log's end is skipped with its reason, and the older one loads; writes
are atomic (a failed fsync leaves nothing, every file is fsynced before the rename)."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from indexes.engine import Engine
from indexes.snapshot import (
    SnapshotError,
    load_newest_snapshot,
    prune_snapshots,
    shard_digest,
    write_snapshot,
)
from indexes.snapshot.blobs import ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE
from indexes.snapshot.layout import TEMP_PREFIX, snapshot_name
from indexes.snapshot.manifest import MANIFEST_FILE, encode_manifest, read_manifest
from tests.snapshot_engines import build, no_fsync
from tests.strategies_records import BASE_MS, HOUR_MS


# --- corruption and fallback -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_engine() -> Engine:
    records = [
        {"customer_id": f"c{i}", "ts": BASE_MS, "properties": {"email": f"u{i}@x.com", "tags": ["vip"] if i % 2 else []}}
        for i in range(40)
    ] + [
        {"event_id": f"e{i}", "customer_id": f"c{i % 40}", "type": "product_viewed", "ts": BASE_MS + i * HOUR_MS,
         "attrs": {"category": f"cat{i % 3}", "price": i}}
        for i in range(200)
    ]
    return build("Europe/Istanbul", [records])


@pytest.fixture
def two_snapshots(tmp_path: Path, sample_engine: Engine) -> Path:
    write_snapshot(sample_engine.shard, tmp_path, 100, fsync=no_fsync)
    sample_engine.ingest([{"event_id": "late", "customer_id": "c1", "type": "product_viewed", "ts": BASE_MS}])
    write_snapshot(sample_engine.shard, tmp_path, 200, fsync=no_fsync)
    return tmp_path


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if offset is None else offset
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def future_version(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, 99)
    path.write_bytes(bytes(data))


DAMAGE = {
    "flip manifest": (MANIFEST_FILE, flip_byte, "CRC32C"),
    "flip manifest magic": (MANIFEST_FILE, lambda p: flip_byte(p, 0), "magic"),
    "flip arrays": (ARRAYS_FILE, flip_byte, "CRC32C"),
    "flip bitmaps": (BITMAPS_FILE, flip_byte, "CRC32C"),
    "flip strings": (STRINGS_FILE, flip_byte, "CRC32C"),
    "truncate manifest": (MANIFEST_FILE, truncate, "manifest"),
    "truncate arrays": (ARRAYS_FILE, truncate, "bytes"),
    "truncate bitmaps": (BITMAPS_FILE, truncate, "bytes"),
    "truncate strings": (STRINGS_FILE, truncate, "bytes"),
    "delete manifest": (MANIFEST_FILE, Path.unlink, "missing MANIFEST"),
    "delete arrays": (ARRAYS_FILE, Path.unlink, "missing file"),
    "unknown version": (MANIFEST_FILE, future_version, "unknown format version 99"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_snapshot_falls_back_to_the_older_one(two_snapshots: Path, damage: str) -> None:
    name, act, reason = DAMAGE[damage]
    newest = two_snapshots / snapshot_name(200)
    act(newest / name)
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 100
    assert [s.path for s in loaded.skipped] == [newest]
    assert reason in loaded.skipped[0].reason, loaded.skipped[0].reason
    assert loaded.shard.ids.lookup("c5") is not None


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda body: body.update(capacity=0), "bad capacity 0"),
    (lambda body: body.update(tz="Mars/Olympus"), "unknown time zone"),
    (lambda body: body["shard"].update(event_count=-1), "bad event_count"),
    (lambda body: body["shard"].pop("ids"), "KeyError"),
    (lambda body: body["blobs"]["arrays"][0].__setitem__(0, "|O"), "refused dtype"),
])
def test_well_framed_but_wrong_manifest_is_skipped(two_snapshots: Path, edit: object, reason: str) -> None:
    """A manifest with a valid CRC whose content does not fit (another build wrote it, say)."""
    path = two_snapshots / snapshot_name(200) / MANIFEST_FILE
    body = read_manifest(path.parent)
    edit(body)  # type: ignore[operator]
    path.write_bytes(encode_manifest(body))
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 100
    assert reason in loaded.skipped[0].reason, loaded.skipped[0].reason


def test_half_written_temp_dir_is_ignored_and_reported(two_snapshots: Path) -> None:
    temp = two_snapshots / f"{TEMP_PREFIX}00000000000000000300-1-ab"
    shutil.copytree(two_snapshots / snapshot_name(200), temp)
    (temp / MANIFEST_FILE).unlink()
    truncate(temp / ARRAYS_FILE)
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 200
    assert [s.path for s in loaded.skipped] == [temp]
    assert prune_snapshots(two_snapshots, keep=2, fsync=no_fsync) == [temp]


def test_nothing_valid_gives_none(two_snapshots: Path) -> None:
    for lsn in (100, 200):
        flip_byte(two_snapshots / snapshot_name(lsn) / BITMAPS_FILE)
    assert load_newest_snapshot(two_snapshots) is None
    assert load_newest_snapshot(two_snapshots / "missing") is None


def test_snapshot_beyond_the_log_end_is_skipped(two_snapshots: Path) -> None:
    loaded = load_newest_snapshot(two_snapshots, max_covered_lsn=150)
    assert loaded is not None and loaded.info.covered_lsn == 100
    assert "beyond the log's end 150" in loaded.skipped[0].reason


def test_renamed_snapshot_is_refused(two_snapshots: Path) -> None:
    os.rename(two_snapshots / snapshot_name(100), two_snapshots / snapshot_name(300))
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 200
    assert "directory name says 300" in loaded.skipped[0].reason


# --- atomicity -------------------------------------------------------------------------------
def test_failed_fsync_leaves_no_snapshot_and_no_temp_dir(tmp_path: Path, sample_engine: Engine) -> None:
    write_snapshot(sample_engine.shard, tmp_path, 100, fsync=no_fsync)
    calls = 0

    def failing(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(5, "Input/output error")

    with pytest.raises(SnapshotError, match="Input/output error"):
        write_snapshot(sample_engine.shard, tmp_path, 200, fsync=failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == [snapshot_name(100)]
    loaded = load_newest_snapshot(tmp_path)
    assert loaded is not None and loaded.info.covered_lsn == 100 and loaded.skipped == []


def test_every_file_and_both_directories_are_fsynced(tmp_path: Path, sample_engine: Engine) -> None:
    synced: list[str] = []

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        os.fsync(fd)

    info = write_snapshot(sample_engine.shard, tmp_path / "snaps", 5, fsync=recording)
    names = [Path(p).name for p in synced]
    for name in (ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE, MANIFEST_FILE):
        assert name in names
    assert names.index(MANIFEST_FILE) > max(names.index(n) for n in (ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE))
    assert any(n.startswith(TEMP_PREFIX) for n in names)  # the temp dir, before its rename
    assert names[-1] == "snaps"  # the snapshots dir, after it
    assert info.size_bytes == sum(p.stat().st_size for p in info.path.iterdir())


def test_same_lsn_again_replaces_the_snapshot(tmp_path: Path) -> None:
    engine = Engine()
    write_snapshot(engine.shard, tmp_path, 10, fsync=no_fsync)
    engine.ingest([{"customer_id": "a", "ts": BASE_MS, "properties": {"country": "TR"}}])
    write_snapshot(engine.shard, tmp_path, 10, fsync=no_fsync)
    assert [p.name for p in tmp_path.iterdir()] == [snapshot_name(10)]
    loaded = load_newest_snapshot(tmp_path)
    assert loaded is not None and shard_digest(loaded.shard) == shard_digest(engine.shard)


def test_unknown_shard_attribute_refuses_to_write(tmp_path: Path) -> None:
    engine = Engine()
    engine.shard.events_cache = {}  # type: ignore[attr-defined]  # state the format does not know
    with pytest.raises(SnapshotError, match="events_cache"):
        write_snapshot(engine.shard, tmp_path, 1, fsync=no_fsync)
    assert list(tmp_path.iterdir()) == []

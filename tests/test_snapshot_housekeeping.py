"""Snapshot housekeeping (indexes/snapshot): pruning keeps the newest valid ones, deleting removes all."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexes.engine import Engine
from indexes.snapshot import (
    delete_all_snapshots,
    list_snapshots,
    load_newest_snapshot,
    prune_snapshots,
    write_snapshot,
)
from indexes.snapshot.layout import TEMP_PREFIX, snapshot_name
from indexes.snapshot.manifest import MANIFEST_FILE
from tests.snapshot_engines import no_fsync


# --- housekeeping ----------------------------------------------------------------------------
def test_prune_keeps_the_newest_valid_ones(tmp_path: Path) -> None:
    engine = Engine()
    for lsn in (1, 2, 3, 4, 5):
        write_snapshot(engine.shard, tmp_path, lsn, fsync=no_fsync)
    (tmp_path / snapshot_name(5) / MANIFEST_FILE).unlink()  # the newest is unusable
    (tmp_path / f"{TEMP_PREFIX}00000000000000000006-1-cd").mkdir()
    assert [i.covered_lsn for i in list_snapshots(tmp_path)] == [4, 3, 2, 1]
    removed = prune_snapshots(tmp_path, keep=2, fsync=no_fsync)
    assert sorted(p.name for p in removed) == sorted(
        [snapshot_name(5), snapshot_name(2), snapshot_name(1), f"{TEMP_PREFIX}00000000000000000006-1-cd"])
    assert [i.covered_lsn for i in list_snapshots(tmp_path)] == [4, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [snapshot_name(3), snapshot_name(4)]
    assert prune_snapshots(tmp_path, keep=2, fsync=no_fsync) == []
    with pytest.raises(ValueError):
        prune_snapshots(tmp_path, keep=0)


def test_delete_all(tmp_path: Path) -> None:
    engine = Engine()
    for lsn in (1, 2):
        write_snapshot(engine.shard, tmp_path, lsn, fsync=no_fsync)
    (tmp_path / f"{TEMP_PREFIX}00000000000000000003-1-ef").mkdir()
    delete_all_snapshots(tmp_path, fsync=no_fsync)
    assert list(tmp_path.iterdir()) == [] and list_snapshots(tmp_path) == []
    assert load_newest_snapshot(tmp_path) is None
    delete_all_snapshots(tmp_path / "missing")

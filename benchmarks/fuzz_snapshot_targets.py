"""Fuzz targets of the snapshot loader: a damaged file of the newest snapshot, or a manifest with a valid
CRC and wrong content; loading falls back to the older snapshot (with its reason) and never raises."""

from __future__ import annotations

from typing import Any

from benchmarks.fuzz_scratch import damage, scratch
from indexes.snapshot import load_newest_snapshot
from indexes.snapshot.layout import snapshot_name
from indexes.snapshot.manifest import FORMAT_VERSION, MANIFEST_FILE, encode_manifest, read_manifest


def snapshot_files(data: bytes) -> None:
    """One file of the newest snapshot damaged: loading falls back to the older one, never raises."""
    state = scratch()
    names = sorted(state.snapshot_files)
    if not data:
        return
    name = names[data[0] % len(names)]
    path = state.root / "snapshots" / snapshot_name(200) / name
    damaged = damage(state.snapshot_files[name], data[1:])
    try:
        path.write_bytes(damaged)
        loaded = load_newest_snapshot(state.root / "snapshots")
        assert loaded is not None, "the older snapshot is intact"
        assert loaded.info.covered_lsn in (100, 200)
        if loaded.info.covered_lsn == 100:
            assert loaded.skipped and loaded.skipped[0].reason
    finally:
        path.write_bytes(state.snapshot_files[name])


_PALETTE: tuple[Any, ...] = (None, 0, -1, 1, 2**31, 2**63, -(2**63), 1.5, float("nan"), "", "x" * 300, "|O", [], {},
                             [0], {"": 0}, True, b"\x00\xff")


def _edit(value: Any, data: bytes, at: int) -> Any:
    """`value` (a decoded manifest) with one leaf or branch replaced, chosen by data[at:]."""
    if at >= len(data) or not isinstance(value, (dict, list)) or not value or data[at] % 4 == 0:
        return _PALETTE[data[at] % len(_PALETTE)] if at < len(data) else None
    if isinstance(value, dict):
        keys = sorted(value, key=repr)
        key = keys[data[at] % len(keys)]
        edited = dict(value)
        if at + 1 < len(data) and data[at + 1] % 7 == 0:
            del edited[key]
        else:
            edited[key] = _edit(value[key], data, at + 2)
        return edited
    index = data[at] % len(value)
    edited_list = list(value)
    edited_list[index] = _edit(value[index], data, at + 1)
    return edited_list


def snapshot_manifest(data: bytes) -> None:
    """A manifest with a valid CRC whose content is wrong (up to four edits): the snapshot loads, or is
    skipped with its reason for the older one; no other exception."""
    state = scratch()
    path = state.root / "snapshots" / snapshot_name(200) / MANIFEST_FILE
    body = read_manifest(path.parent)
    for start in range(0, min(len(data), 4 * 16), 16):
        body = _edit(body, data[start:start + 16], 0)
    if not isinstance(body, dict):
        return
    body["format_version"] = FORMAT_VERSION  # the version check is the byte-level target's; go deeper
    try:
        path.write_bytes(encode_manifest(body))
    except (TypeError, ValueError, OverflowError):
        return  # msgpack cannot encode the edit (a float NaN is fine, 2**64 is not): not a manifest
    try:
        loaded = load_newest_snapshot(state.root / "snapshots")
        assert loaded is not None and loaded.info.covered_lsn in (100, 200), "the older snapshot is intact"
    finally:
        path.write_bytes(state.snapshot_files[MANIFEST_FILE])

"""Fuzzing snapshot decoding (issue 10): a damaged file of the newest snapshot (bit flips, cuts, extra
bytes) or a manifest with a valid CRC and wrong content makes loading fall back to the older snapshot
with the reason recorded - never an exception out of load_newest_snapshot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import scratch, snapshot_files, snapshot_manifest, time_bound
from indexes.snapshot import load_newest_snapshot
from indexes.snapshot.layout import snapshot_name
from indexes.snapshot.manifest import MANIFEST_FILE, encode_manifest, read_manifest
from tests.fuzzing import fuzz_scratch, fuzz_settings  # noqa: F401 - fuzz_scratch: the module's fixture, used by name

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("fuzz_scratch")]
PER_INPUT_S = 10.0
FUZZ = fuzz_settings(120)


@FUZZ
@given(st.binary(min_size=4, max_size=30))
def test_a_damaged_snapshot_file_falls_back(script: bytes) -> None:
    with time_bound(PER_INPUT_S):
        snapshot_files(script)


@FUZZ
@given(st.binary(min_size=2, max_size=64))
def test_a_manifest_with_wrong_content_falls_back(script: bytes) -> None:
    with time_bound(PER_INPUT_S):
        snapshot_manifest(script)


def test_a_list_where_the_blob_layout_belongs_falls_back() -> None:
    """Found by the fuzzer: AttributeError ('list' object has no attribute 'get') out of the loader."""
    snapshots = scratch().root / "snapshots"
    path = snapshots / snapshot_name(200) / MANIFEST_FILE
    body = read_manifest(path.parent)
    body["blobs"] = [1, 2]
    path.write_bytes(encode_manifest(body))
    try:
        loaded = load_newest_snapshot(snapshots)
        assert loaded is not None and loaded.info.covered_lsn == 100
        assert "AttributeError" in loaded.skipped[0].reason
    finally:
        path.write_bytes(scratch().snapshot_files[MANIFEST_FILE])

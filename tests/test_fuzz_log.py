"""Fuzzing log decoding (issue 10): frames walked over any bytes, and FileLog opened on a damaged segment
(bit flips, truncations, overwritten, appended and deleted bytes). The open either recovers a valid
prefix - a torn tail cut and reported - and reads to its end, or refuses with LogCorruptError naming
the file and the offset; never another exception, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import (
    damage,
    log_frames,
    log_open,
    log_random_file,
    scratch,
    time_bound,
)
from indexes.log import FileLog, LogCorruptError
from indexes.log.segment_file import SEGMENT_HEADER_BYTES
from tests.fuzzing import fuzz_scratch, fuzz_settings  # noqa: F401 - fuzz_scratch: the module's fixture, used by name

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("fuzz_scratch")]
PER_INPUT_S = 5.0
FUZZ = fuzz_settings(120)


@FUZZ
@given(st.binary(max_size=600))
def test_frames_over_any_bytes(data: bytes) -> None:
    with time_bound(PER_INPUT_S):
        log_frames(data)


@FUZZ
@given(st.binary(min_size=3, max_size=30))
def test_a_damaged_segment_opens_with_a_report_or_is_refused_with_its_place(script: bytes) -> None:
    with time_bound(PER_INPUT_S):
        log_open(script)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_as_the_last_segment(data: bytes) -> None:
    with time_bound(PER_INPUT_S):
        log_random_file(data)


def test_a_damaged_sealed_segment_is_refused_when_read_with_its_place(tmp_path: Path) -> None:
    """Sealed segments are trusted at open (their seal matches the length): a flipped bit in one is
    found when its frames are read, as LogCorruptError naming the file and the offset."""
    files = dict(scratch().segments)
    first = sorted(files)[0]
    assert first + ".seal" in files
    damaged = bytearray(files[first])
    damaged[-3] ^= 0x10  # inside the body of its last frame
    files[first] = bytes(damaged)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with FileLog(tmp_path) as log, pytest.raises(LogCorruptError) as caught:
        list(log.read())
    assert caught.value.file == str(tmp_path / first) and caught.value.offset is not None


@pytest.mark.parametrize("edit", ["flip every header byte", "truncate everywhere"])
def test_every_position_of_a_small_segment(edit: str) -> None:
    """Exhaustive over the header and the first frames: one bit flip, or a cut, at each offset."""
    size = len(scratch().segment)
    for position in range(min(size, SEGMENT_HEADER_BYTES + 60)):
        op = 0 if edit.startswith("flip") else 1
        log_open(bytes([0, op | (3 << 5), position >> 8, position & 0xFF]))  # 0: the one-segment log


def test_damage_scripts_do_what_they_say() -> None:
    original = bytes(range(10))
    assert damage(original, bytes([1, 0, 4])) == original[:4]  # truncate at 4
    assert damage(original, bytes([0 | (2 << 5), 0, 1])) == bytes([0, 1 ^ 4, *range(2, 10)])  # flip bit 2 of byte 1
    assert damage(original, bytes([3, 0xAA, 0xBB])) == original + b"\xaa\xbb"  # append two bytes

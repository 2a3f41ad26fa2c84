"""The three data files of a snapshot, written in one pass and verified in one pass.

  arrays.bin       numpy arrays back to back, raw bytes (the manifest's array table gives each one's
                   dtype and shape, so offsets follow from the order); one `readinto` per array on
                   load, straight into an array the shard then owns (no shared buffer pinning memory)
  bitmaps.bin      roaring bitmaps in the portable format (`BitMap.serialize`), back to back; the end
                   offset of each is a uint64 array in arrays.bin. Many small bitmaps (days, months,
                   values) therefore cost one file, not one file each
  strings.msgpack  one msgpack list of string lists: dictionaries and the external id table, unpacked
                   with one C call

A reference from the manifest's shard tree is an int: the index of an array, of a bitmap or of a
string list. A run of bitmaps is [first, count].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import msgpack
import numpy as np
from crc32c import crc32c
from pyroaring import BitMap

from indexes.snapshot.errors import SnapshotError

ARRAYS_FILE = "arrays.bin"
BITMAPS_FILE = "bitmaps.bin"
STRINGS_FILE = "strings.msgpack"
DATA_FILES = (ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE)
# bool and integer arrays are all a shard holds; refusing anything else (object arrays above all)
# means a manifest can never make the loader build something unexpected.
ALLOWED_DTYPE_KINDS = frozenset("biu")
READ_CHUNK_BYTES = 64 << 20  # CRC is computed per chunk while reading; bounds the temporary buffers

Fsync = Callable[[int], None]


class _SummedFile:
    """A file being written, with its size and CRC32C kept up to date."""

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close_durably / abort
        self.size_bytes = 0
        self.crc = 0

    def write(self, data: bytes | memoryview) -> None:
        if len(data) == 0:
            return
        self._file.write(data)
        self.crc = crc32c(data, self.crc)
        self.size_bytes += len(data)

    def close_durably(self, fsync: Fsync) -> None:
        self._file.flush()
        fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        self._file.close()


def _raw_bytes(array: np.ndarray) -> memoryview:
    contiguous = np.ascontiguousarray(array)
    return memoryview(contiguous).cast("B") if contiguous.nbytes else memoryview(b"")


class BlobWriter:
    """Streams arrays and bitmaps to disk as the shard is encoded; strings are packed at the end."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._arrays = _SummedFile(directory / ARRAYS_FILE)
        self._bitmaps = _SummedFile(directory / BITMAPS_FILE)
        self._array_table: list[list[Any]] = []
        self._bitmap_ends: list[int] = []
        self._strings: list[list[str | None]] = []

    def array(self, values: np.ndarray) -> int:
        assert values.dtype.kind in ALLOWED_DTYPE_KINDS, f"unexpected dtype {values.dtype}"
        self._array_table.append([values.dtype.str, list(values.shape)])
        self._arrays.write(_raw_bytes(values))
        return len(self._array_table) - 1

    def bitmap(self, bitmap: BitMap) -> int:
        self._bitmaps.write(bitmap.serialize())
        self._bitmap_ends.append(self._bitmaps.size_bytes)
        return len(self._bitmap_ends) - 1

    def bitmaps(self, bitmaps: Iterable[BitMap]) -> list[int]:
        first = len(self._bitmap_ends)
        for bitmap in bitmaps:
            self.bitmap(bitmap)
        return [first, len(self._bitmap_ends) - first]

    def strings(self, values: list[str | None]) -> int:
        self._strings.append(values)
        return len(self._strings) - 1

    def finish(self, fsync: Fsync) -> tuple[dict[str, Any], dict[str, list[int]]]:
        """Close every file durably; returns (the blob layout for the manifest, {file: [size, crc]})."""
        ends = self.array(np.array(self._bitmap_ends, dtype=np.uint64))
        strings = _SummedFile(self._directory / STRINGS_FILE)
        strings.write(msgpack.packb(self._strings, use_bin_type=True))
        sums: dict[str, list[int]] = {}
        for name, file in ((ARRAYS_FILE, self._arrays), (BITMAPS_FILE, self._bitmaps), (STRINGS_FILE, strings)):
            file.close_durably(fsync)
            sums[name] = [file.size_bytes, file.crc]
        return {"arrays": self._array_table, "bitmap_ends": ends}, sums

    def abort(self) -> None:
        self._arrays.abort()
        self._bitmaps.abort()


def _open_checked(path: Path, expected_size: int) -> BinaryIO:
    try:
        file = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise SnapshotError(f"missing file {path.name}") from None
    size = path.stat().st_size
    if size != expected_size:
        file.close()
        raise SnapshotError(f"{path.name} is {size} bytes, the manifest says {expected_size}")
    return file


def _check_crc(name: str, crc: int, expected: int) -> None:
    if crc != expected:
        raise SnapshotError(f"{name}: CRC32C mismatch (file {crc:#010x}, manifest {expected:#010x})")


def _array_specs(table: Any) -> list[tuple[np.dtype, tuple[int, ...], int]]:
    if not isinstance(table, list):
        raise SnapshotError("manifest: array table is not a list")
    specs = []
    for position, entry in enumerate(table):
        try:
            dtype_text, shape = entry
            dtype = np.dtype(dtype_text)
            shape_tuple = tuple(int(n) for n in shape)
        except (TypeError, ValueError) as exc:
            raise SnapshotError(f"manifest: array {position}: bad entry {entry!r} ({exc})") from None
        if dtype.kind not in ALLOWED_DTYPE_KINDS or any(n < 0 for n in shape_tuple):
            raise SnapshotError(f"manifest: array {position}: refused dtype {dtype} / shape {shape_tuple}")
        specs.append((dtype, shape_tuple, dtype.itemsize * math.prod(shape_tuple)))
    return specs


def _read_arrays(path: Path, specs: list[tuple[np.dtype, tuple[int, ...], int]], sums: list[int]) -> list[np.ndarray]:
    expected_size, expected_crc = sums
    total = sum(nbytes for _, _, nbytes in specs)
    if total != expected_size:
        raise SnapshotError(f"{path.name}: the array table adds up to {total} bytes, the manifest says {expected_size}")
    arrays: list[np.ndarray] = []
    crc = 0
    with _open_checked(path, expected_size) as file:
        for dtype, shape, nbytes in specs:
            array = np.empty(shape, dtype=dtype)
            view = memoryview(array).cast("B") if nbytes else memoryview(bytearray())
            for start in range(0, nbytes, READ_CHUNK_BYTES):
                chunk = view[start : start + READ_CHUNK_BYTES]
                if file.readinto(chunk) != len(chunk):
                    raise SnapshotError(f"{path.name}: short read")
                crc = crc32c(chunk, crc)
            arrays.append(array)
    _check_crc(path.name, crc, expected_crc)
    return arrays


def _read_whole(path: Path, sums: list[int]) -> bytes:
    expected_size, expected_crc = sums
    with _open_checked(path, expected_size) as file:
        data = file.read()
    if len(data) != expected_size:
        raise SnapshotError(f"{path.name}: short read")
    _check_crc(path.name, crc32c(data), expected_crc)
    return data


class BlobReader:
    """Every data file read and checked up front; then the shard tree's references resolve here."""

    def __init__(self, directory: Path, layout: dict[str, Any], files: dict[str, list[int]]) -> None:
        for name in DATA_FILES:
            if name not in files:
                raise SnapshotError(f"manifest: no entry for {name}")
        self._taken: set[int] = set()
        self._arrays = _read_arrays(directory / ARRAYS_FILE, _array_specs(layout.get("arrays")), files[ARRAYS_FILE])
        self._bitmap_data = _read_whole(directory / BITMAPS_FILE, files[BITMAPS_FILE])
        ends = self.array(layout.get("bitmap_ends"), np.uint64)
        self._bitmap_starts = [0, *ends.tolist()]
        if np.any(np.diff(ends.astype(np.int64)) < 0) or (self._bitmap_starts[-1] != len(self._bitmap_data)):
            raise SnapshotError(f"{BITMAPS_FILE}: the offset table does not tile the file")
        strings = msgpack.unpackb(_read_whole(directory / STRINGS_FILE, files[STRINGS_FILE]), raw=False)
        if not isinstance(strings, list) or not all(isinstance(s, list) for s in strings):
            raise SnapshotError(f"{STRINGS_FILE}: not a list of lists")
        self._strings: list[list[Any]] = strings

    def array(self, ref: Any, dtype: type | np.dtype, ndim: int = 1) -> np.ndarray:
        """The array a reference names; each may be taken once (so no two indexes share memory)."""
        if not isinstance(ref, int) or not 0 <= ref < len(self._arrays) or ref in self._taken:
            raise SnapshotError(f"bad array reference {ref!r}")
        self._taken.add(ref)
        array = self._arrays[ref]
        if array.dtype != np.dtype(dtype) or array.ndim != ndim:
            raise SnapshotError(f"array {ref}: {array.dtype} x{array.ndim}d where {np.dtype(dtype)} x{ndim}d is due")
        return array

    def bitmap(self, ref: Any) -> BitMap:
        if not isinstance(ref, int) or not 0 <= ref < len(self._bitmap_starts) - 1:
            raise SnapshotError(f"bad bitmap reference {ref!r}")
        start, stop = self._bitmap_starts[ref], self._bitmap_starts[ref + 1]
        return BitMap.deserialize(self._bitmap_data[start:stop])

    def bitmaps(self, ref: Any) -> list[BitMap]:
        try:
            first, count = ref
        except (TypeError, ValueError):
            raise SnapshotError(f"bad bitmap run {ref!r}") from None
        if not (isinstance(first, int) and isinstance(count, int) and count >= 0):
            raise SnapshotError(f"bad bitmap run {ref!r}")
        if first < 0 or first + count > len(self._bitmap_starts) - 1:
            raise SnapshotError(f"bitmap run {ref!r} out of range")
        data, starts = self._bitmap_data, self._bitmap_starts
        deserialize = BitMap.deserialize
        return [deserialize(data[starts[i] : starts[i + 1]]) for i in range(first, first + count)]

    def strings(self, ref: Any) -> list[Any]:
        if not isinstance(ref, int) or not 0 <= ref < len(self._strings):
            raise SnapshotError(f"bad string list reference {ref!r}")
        return self._strings[ref]

"""The manifest: one msgpack map per snapshot, framed so that damage to it is detected too.

File layout, little-endian:

  bytes 0..8    magic b"SHRDSNAP"
  bytes 8..12   u32 format version
  bytes 12..16  u32 body length
  bytes 16..20  u32 CRC32C of the body
  bytes 20..    body: msgpack map (format_version, covered_lsn, created_at_ms, tz, capacity,
                schema, files: {name: [size, crc32c]}, blobs: layout, shard: tree)

The version is in the header as well as the body so that a reader can refuse a format it does not
know before trying to decode it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import msgpack
from crc32c import crc32c

from indexes.snapshot.errors import SnapshotError

MANIFEST_FILE = "MANIFEST"
MAGIC = b"SHRDSNAP"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIII")
MAX_MANIFEST_BYTES = 256 << 20  # a sanity bound: the tree is small, its arrays live elsewhere


def encode_manifest(body: dict[str, Any]) -> bytes:
    assert body["format_version"] == FORMAT_VERSION
    payload = msgpack.packb(body, use_bin_type=True)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), crc32c(payload)) + payload


def decode_manifest(data: bytes) -> dict[str, Any]:
    if len(data) < _HEADER.size:
        raise SnapshotError(f"manifest: {len(data)} bytes, shorter than its header")
    magic, version, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(f"manifest: bad magic {magic!r}")
    if version != FORMAT_VERSION:
        raise SnapshotError(f"manifest: unknown format version {version} (this build reads {FORMAT_VERSION})")
    payload = data[_HEADER.size :]
    if len(payload) != length:
        raise SnapshotError(f"manifest: body is {len(payload)} bytes, the header says {length}")
    if crc32c(payload) != crc:
        raise SnapshotError("manifest: CRC32C mismatch")
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise SnapshotError(f"manifest: undecodable body ({exc})") from None
    if not isinstance(body, dict) or body.get("format_version") != FORMAT_VERSION:
        raise SnapshotError("manifest: body is not a map of this format version")
    for key, kind in (("covered_lsn", int), ("created_at_ms", int), ("tz", str), ("files", dict)):
        if not isinstance(body.get(key), kind):
            raise SnapshotError(f"manifest: missing or mistyped {key!r}")
    if body["covered_lsn"] < 0:
        raise SnapshotError("manifest: negative covered_lsn")
    return body


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST_FILE
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise SnapshotError("missing MANIFEST") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise SnapshotError(f"manifest: over {MAX_MANIFEST_BYTES} bytes")
    return decode_manifest(data)

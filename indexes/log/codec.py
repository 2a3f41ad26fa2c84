"""Record <-> body: a record is any dict msgpack can encode; the log never looks inside it.

Bodies decode with `strict_map_key=False` so that anything `append` accepted reads back (msgpack would
otherwise refuse non-string map keys on the way out). Tuples come back as lists, as with JSON.
"""

from __future__ import annotations

from typing import Any

import msgpack

from indexes.log.errors import RecordTooLargeError

Record = dict[str, Any]

# A format limit, not a tuning knob: a reader trusts no length field above it, which bounds the
# memory a corrupt length can make it allocate.
MAX_RECORD_BYTES = 16 * 1024 * 1024


def new_packer() -> msgpack.Packer:
    """A packer for one batch; packers are not thread-safe, so each append call makes its own."""
    return msgpack.Packer(use_bin_type=True)


def pack_record(packer: msgpack.Packer, record: Record, index: int) -> bytes:
    """The body of `record` (item `index` of its batch, for error messages)."""
    if not isinstance(record, dict):
        raise TypeError(f"record {index}: expected a dict, got {type(record).__name__}")
    try:
        body = packer.pack(record)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"record {index}: not encodable as msgpack: {exc}") from exc
    if len(body) > MAX_RECORD_BYTES:
        raise RecordTooLargeError(f"record {index}: {len(body)} bytes encoded, limit {MAX_RECORD_BYTES}")
    return body


def unpack_record(body: bytes) -> Record:
    """The record of a body; raises ValueError when the bytes are not one msgpack map."""
    try:
        record = msgpack.unpackb(body, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ValueError(f"body does not decode as msgpack: {exc!r}") from exc
    if not isinstance(record, dict):
        raise ValueError(f"body decodes to {type(record).__name__}, not a map")
    return record

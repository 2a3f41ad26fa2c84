"""Opaque, self-checking tokens of the saved-segment RPCs: page tokens and change-log positions.

    token = base64url(msgpack([VERSION, kind, binding, cursor...]) + blake2b-64 of those bytes)

Like service/page_token.py (the members of an ad-hoc rule): the server keeps no cursor state, any
server process continues a listing, and the checksum catches damaged tokens. `kind` says what the token
is for ("segments", "versions", "members", "changes", "position"); `binding` is a digest of what a
page token was issued for (the filters, the segment id), so a token used with other filters is refused
instead of paging wrongly. A position (per shard: change-log epoch and last seq read) is valid with any
filters: it says which entries were seen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import msgpack

from actors.api import PageTokenError
from actors.api_segments import ChangePosition, ShardPosition

VERSION = 1
CHECKSUM_BYTES = 8
BINDING_BYTES = 16
MAX_SHARDS_IN_POSITION = 4096


@dataclass(frozen=True)
class Cursor:
    kind: str
    binding: bytes
    values: list[Any]


def binding_of(*parts: object) -> bytes:
    """Digest of what a page token is issued for (filters, ids), in a fixed order."""
    packed = msgpack.packb([repr(p) for p in parts], use_bin_type=True)
    return hashlib.blake2b(packed, digest_size=BINDING_BYTES).digest()


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=CHECKSUM_BYTES).digest()


def encode(kind: str, binding: bytes, values: list[Any]) -> str:
    body = msgpack.packb([VERSION, kind, binding, *values], use_bin_type=True)
    return base64.urlsafe_b64encode(body + _checksum(body)).rstrip(b"=").decode("ascii")


def decode(text: str, kind: str, binding: bytes, what: str = "page token") -> list[Any]:
    """The token's values; PageTokenError when it is damaged, of another version or kind, or bound to
    something else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PageTokenError(f"not a {what} issued by this service (bad encoding)") from None
    body, checksum = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
    if len(raw) <= CHECKSUM_BYTES or _checksum(body) != checksum:
        raise PageTokenError(f"not a {what} issued by this service (checksum mismatch)")
    try:
        fields = msgpack.unpackb(body, raw=False)
    except (ValueError, msgpack.UnpackException):
        raise PageTokenError(f"not a {what} issued by this service (bad content)") from None
    if not isinstance(fields, list) or len(fields) < 3 or fields[0] != VERSION:
        raise PageTokenError(f"{what} of another version of the service; start again")
    if fields[1] != kind:
        raise PageTokenError(f"a {fields[1]!r} token where a {kind!r} {what} belongs")
    if fields[2] != binding:
        raise PageTokenError(f"the {what} was issued for other arguments (send the first request's unchanged)")
    return list(fields[3:])


# --- change-log positions ---------------------------------------------------------------------------
_BEFORE_OLDEST = -2  # after_seq None: before the oldest entry kept (-1 is a real position: an empty log)


def position_values(position: ChangePosition) -> list[Any]:
    return [[p.epoch, _BEFORE_OLDEST if p.after_seq is None else p.after_seq] for p in position]


def position_from_values(values: list[Any], what: str) -> ChangePosition:
    if not 1 <= len(values) <= MAX_SHARDS_IN_POSITION:
        raise PageTokenError(f"not a {what} issued by this service (bad content)")
    out = []
    for value in values:
        if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)) or (
                value[1] < _BEFORE_OLDEST or value[0] < -1):
            raise PageTokenError(f"not a {what} issued by this service (bad content)")
        epoch, seq = value
        out.append(ShardPosition(epoch, None if seq == _BEFORE_OLDEST else seq))
    return tuple(out)


def encode_position(position: ChangePosition) -> str:
    return encode("position", b"", position_values(position))


def decode_position(text: str) -> ChangePosition:
    return position_from_values(decode(text, "position", b"", "position token"), "position token")

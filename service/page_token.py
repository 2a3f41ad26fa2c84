"""Members page tokens: opaque to clients, self-checking, bound to one rule and one evaluation instant.

    token = base64url(msgpack([VERSION, rule digest, as_of_ms, last id]) + blake2b-64 of those bytes)

The server keeps no cursor state: the next page is "members with id > last id at as_of_ms", so any
server process (or a restarted one) continues a listing. The checksum catches truncated or edited
tokens; it is not a secret (a forged token could only ask for members of a rule the caller sends
anyway). The rule digest is over the rule exactly as sent, so a token used with another rule, or
the same rule spelled differently, is refused (INVALID_ARGUMENT) instead of paging wrongly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import msgpack

from actors.api import PageTokenError

VERSION = 1
CHECKSUM_BYTES = 8
RULE_DIGEST_BYTES = 16


@dataclass(frozen=True)
class PageToken:
    rule_digest: bytes
    as_of_ms: int
    last_id: str


def rule_digest(form: str, content: str) -> bytes:
    """Digest of a rule as sent: its form ("text" or "json") and its exact text."""
    hasher = hashlib.blake2b(digest_size=RULE_DIGEST_BYTES)
    hasher.update(form.encode("ascii") + b"\0" + content.encode("utf-8"))
    return hasher.digest()


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=CHECKSUM_BYTES).digest()


def encode(token: PageToken) -> str:
    assert len(token.rule_digest) == RULE_DIGEST_BYTES
    body = msgpack.packb([VERSION, token.rule_digest, token.as_of_ms, token.last_id], use_bin_type=True)
    return base64.urlsafe_b64encode(body + _checksum(body)).rstrip(b"=").decode("ascii")


def decode(text: str, expected_rule_digest: bytes) -> PageToken:
    """The token's content; PageTokenError when it is damaged, of another version, or for another rule."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PageTokenError("not a page token issued by this service (bad encoding)") from None
    body, checksum = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
    if len(raw) <= CHECKSUM_BYTES or _checksum(body) != checksum:
        raise PageTokenError("not a page token issued by this service (checksum mismatch)")
    try:
        fields = msgpack.unpackb(body, raw=False)
    except (ValueError, msgpack.UnpackException):  # a valid checksum over bytes we did not write
        raise PageTokenError("not a page token issued by this service (bad content)") from None
    if not isinstance(fields, list) or not fields or fields[0] != VERSION:
        raise PageTokenError("page token of another version of the service; start the listing again")
    if len(fields) != 4:
        raise PageTokenError("not a page token issued by this service (bad content)")
    _, digest, as_of_ms, last_id = fields
    if not (isinstance(digest, bytes) and isinstance(as_of_ms, int) and isinstance(last_id, str)):
        raise PageTokenError("not a page token issued by this service (bad content)")
    if digest != expected_rule_digest:
        raise PageTokenError("the page token was issued for another rule (send the first page's rule unchanged)")
    return PageToken(digest, as_of_ms, last_id)

"""Fuzz target of the page and position tokens: opaque to clients, checksummed, not secret, so a client
can forge any body under a valid checksum; decoding gives PageTokenError or a value."""

from __future__ import annotations

import base64
import hashlib
from contextlib import suppress

import msgpack

from actors.api import PageTokenError
from benchmarks.fuzz_inputs import MAX_INPUT_BYTES, Choices, json_value
from benchmarks.fuzz_rule_targets import RULE_KEYS
from service import cursor_token, page_token

_TOKEN_DIGEST = bytes(16)


def _forged_token(body: bytes) -> str:
    """What a client could send: any msgpack body under a valid checksum (the checksum is no secret)."""
    checksum = hashlib.blake2b(body, digest_size=page_token.CHECKSUM_BYTES).digest()
    return base64.urlsafe_b64encode(body + checksum).rstrip(b"=").decode("ascii")


def page_tokens(data: bytes) -> None:
    """Members page tokens, cursor tokens and change-log positions: PageTokenError or a value."""
    choices = Choices(data)
    if choices.byte() % 2:
        text = data[1:MAX_INPUT_BYTES].decode("latin-1")
    else:
        fields = [choices.pick([1, 2, 0, "x"]), *(json_value(choices, RULE_KEYS, 3) for _ in range(choices.byte() % 5))]
        if choices.byte() % 2:
            fields[1:2] = [choices.pick(["position", "changes", "profiles"]), choices.pick([b"", _TOKEN_DIGEST])]
        try:
            text = _forged_token(msgpack.packb(fields, use_bin_type=True))
        except (TypeError, ValueError, OverflowError):
            return  # not encodable (a surrogate, an int beyond 64 bits): no client can send it either
    for decode in (lambda: page_token.decode(text, _TOKEN_DIGEST),
                   lambda: cursor_token.decode(text, "changes", b""),
                   lambda: cursor_token.decode_position(text)):
        with suppress(PageTokenError):
            decode()

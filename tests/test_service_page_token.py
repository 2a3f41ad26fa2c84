"""service/page_token.py: opaque, self-checking, bound to the rule as sent."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.api import PageTokenError
from service.limits import MAX_PAGE_SIZE, MAX_REPLY_MESSAGE_BYTES
from service.page_token import PageToken, decode, encode, rule_digest

RULE = rule_digest("text", "order_count >= 5")


@given(st.integers(-(2**62), 2**62), st.text(min_size=1, max_size=256))
def test_round_trip(as_of_ms: int, last_id: str) -> None:
    token = PageToken(RULE, as_of_ms, last_id)
    text = encode(token)
    assert text.isascii() and "=" not in text and "+" not in text and "/" not in text
    assert decode(text, RULE) == token


def test_a_token_for_another_rule_is_refused() -> None:
    text = encode(PageToken(RULE, 5, "c-1"))
    with pytest.raises(PageTokenError, match="another rule"):
        decode(text, rule_digest("text", "order_count >= 6"))
    with pytest.raises(PageTokenError, match="another rule"):
        decode(text, rule_digest("json", "order_count >= 5"))  # same characters, other form


@given(st.data())
def test_damaged_tokens_are_refused(data: st.DataObject) -> None:
    raw = bytearray(base64.urlsafe_b64decode(encode(PageToken(RULE, 1_795_000_000_000, "c-12345")) + "=="))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(PageTokenError):
        decode(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="), RULE)


@pytest.mark.parametrize("text", ["", "x", "!!!", "AAAA", encode(PageToken(RULE, 1, "a"))[:-3]])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(PageTokenError):
        decode(text, RULE)


def test_the_longest_token_leaves_room_for_a_full_page() -> None:
    token = encode(PageToken(RULE, -(2**63), "\U0010ffff" * 64))  # 256 bytes of 4-byte characters
    assert len(token) < 1024
    assert MAX_PAGE_SIZE * (256 + 3) + len(token) < MAX_REPLY_MESSAGE_BYTES

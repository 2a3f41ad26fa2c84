"""Fuzzing page, cursor and position tokens (issue 10): clients send them back, and the checksum is no
secret, so any text and any msgpack body under a valid checksum must give a value or PageTokenError
(INVALID_ARGUMENT at the token's field) - nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import page_tokens, time_bound
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.timeout(60)
FUZZ = fuzz_settings(200)


@FUZZ
@given(st.binary(max_size=200))
def test_any_token_text_or_forged_body_decodes_or_is_refused(data: bytes) -> None:
    with time_bound(5.0):
        page_tokens(data)

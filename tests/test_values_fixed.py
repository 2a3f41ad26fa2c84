"""parse_fixed's integer fast path gives exactly what the Decimal path gives, errors included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.values import _parse_fixed_decimal, parse_fixed

NUMBER_TEXT = st.from_regex(r"\A[ +-]?[0-9]{0,22}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3})? ?\Z")
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    NUMBER_TEXT,
    st.sampled_from(["", ".", ".5", "5.", "-0", "+0.000", "0.100", "١٢", "1_000", "NaN", "inf", True, False, None]),
)


def outcome(parse, value: object, scale: int) -> object:  # type: ignore[no-untyped-def]
    try:
        return parse(value, scale)
    except ValueError as exc:
        return ("error", str(exc))


@settings(max_examples=3000, deadline=None)
@given(value=VALUES, scale=st.integers(0, 9))
def test_fast_path_equals_the_decimal_path(value: object, scale: int) -> None:
    assert outcome(parse_fixed, value, scale) == outcome(_parse_fixed_decimal, value, scale)


@pytest.mark.parametrize(("value", "scale", "expected"), [
    ("12.34", 2, 1234), ("-3.5", 2, -350), ("1.500", 2, 150), (7, 3, 7000), (99.5, 2, 9950), ("+0.01", 2, 1),
])
def test_examples(value: object, scale: int, expected: int) -> None:
    assert parse_fixed(value, scale) == expected

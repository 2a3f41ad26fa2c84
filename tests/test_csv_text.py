"""indexes/csv_text.py against the csv module it replaces on the export path: byte-identical output."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.csv_text import csv_block, csv_header, csv_rows

CELLS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", ",", '"', "\n", "\r", "a,b", 'x"y', " "]))


def _module(rows: list[tuple[str | None, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4).flatmap(lambda width: st.lists(st.tuples(*[CELLS] * width), max_size=20)))
def test_rows_equal_the_csv_module(rows: list[tuple[str | None, ...]]) -> None:
    assert csv_rows(rows) == _module(rows)
    if rows:
        assert csv_block(list(zip(*rows, strict=True))) == _module(rows)


def test_header_and_single_empty_cells() -> None:
    assert csv_header(["customer_id", "e,mail"]) == _module([("customer_id", "e,mail")])
    assert csv_rows([(None,), ("",), ("a",)]) == '""\n""\na\n' == _module([(None,), ("",), ("a",)])
    assert csv_block([[]]) == ""

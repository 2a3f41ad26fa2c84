"""String columns: value lookups through bitmaps, sole holders and scans equal a per-customer loop,
whenever the derived sole-holder table is built (before, between or after writes, erasures and
overwrites), and the substring memo stays right as the dictionary grows."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.schema import STRING
from indexes.shard.property_index import StringColumn

CUSTOMERS = 12
# A popular value (earns a bitmap), a few shared ones, and many near-unique e-mail-like ones.
POOL = ["vip@shop.de", "a@edu.com.tr", "b@edu.com.tr", "c@xedu.com.tr", "d@gmail.com", "e@gmail.com",
        "f@metu.edu.com.tr", "g@hotmail.com", "", "edu.com.tr"]
NEEDLES = [("ends_with", "edu.com.tr"), ("starts_with", "a"), ("contains", "@"), ("contains", "gmail"),
           ("ends_with", ""), ("starts_with", "zz")]

write = st.tuples(st.just("write"), st.lists(st.tuples(st.integers(0, CUSTOMERS - 1), st.one_of(st.none(), st.sampled_from(POOL))),
                                            min_size=1, max_size=10))
forget = st.tuples(st.just("forget"), st.integers(0, CUSTOMERS - 1))
query = st.tuples(st.just("query"), st.lists(st.sampled_from(POOL), max_size=5))
match = st.tuples(st.just("match"), st.sampled_from(NEEDLES))


def _expected(column: StringColumn, wanted: set[str]) -> set[int]:
    return {c for c in range(CUSTOMERS) if column.current(c) in wanted}


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.one_of(write, forget, query, match), min_size=1, max_size=25),
    min_holders=st.sampled_from([1, 2, 3, 16]),
    few_scans=st.sampled_from([0, 4]),
    many_codes=st.sampled_from([0, 256]),
)
def test_lookups_equal_a_loop(steps: list, min_holders: int, few_scans: int, many_codes: int) -> None:
    with (
        patch.object(StringColumn, "BITMAP_MIN_HOLDERS", min_holders),
        patch.object(StringColumn, "FEW_SCANS", few_scans),
        patch.object(StringColumn, "MANY_CODES", many_codes),
    ):
        column = StringColumn(STRING)
        clock = 0
        for kind, arg in steps:
            if kind == "write":
                clock += 1
                ids = np.array([c for c, _ in arg], dtype=np.int64)
                column.write_many(ids, np.full(len(arg), clock, dtype=np.int64), [v for _, v in arg])
            elif kind == "forget":
                column.forget(arg)
            elif kind == "query":
                expected = _expected(column, set(arg))
                assert set(column.equal_to_any(tuple(arg))) == expected
                codes = column.dictionary.codes(arg)
                assert set(column.union_by_scan(codes)) == expected
            else:
                op, needle = arg
                tests = {"ends_with": str.endswith, "starts_with": str.startswith, "contains": lambda v, n: n in v}
                wanted = {v for v in column.dictionary.values if tests[op](v, needle)}
                assert set(column.matching(op, needle)) == _expected(column, wanted)
        # Holder counts and the sole-holder table agree with the code array.
        held = column.code_of[column.code_of >= 0]
        counts = np.bincount(held, minlength=len(column.holders))
        assert counts.tolist() == column.holders.tolist()
        if column._sole_holders is not None:
            for code in np.flatnonzero(counts == 1).tolist():
                assert int(column._sole_holders.holders_of(np.array([code]))[0]) == int(np.flatnonzero(column.code_of == code)[0])

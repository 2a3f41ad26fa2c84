"""BitSlicedIndex updates (set / add / remove, in any mix) keep every slice equal to its values' bits."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.shard.bsi import BitSlicedIndex

IDS = st.lists(st.integers(0, 300), unique=True, min_size=1, max_size=40)
VALUES = st.integers(-(2**40), 2**40) | st.integers(-3, 3)
STEPS = st.lists(st.tuples(st.sampled_from(["set", "add", "remove"]), IDS, st.lists(VALUES, min_size=40, max_size=40)),
                 max_size=30)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS)
def test_slices_always_hold_the_bits_of_the_values(steps: list[tuple[str, list[int], list[int]]]) -> None:
    bsi, reference = BitSlicedIndex(), {}
    for op, ids, values in steps:
        id_array = np.array(ids, dtype=np.uint32)
        deltas = np.array(values[: len(ids)], dtype=np.int64)
        if op == "set":
            bsi.set_many(id_array, deltas)
            reference.update(zip(ids, deltas.tolist(), strict=True))
        elif op == "add":
            bsi.add_many(id_array, deltas)
            for i, delta in zip(ids, deltas.tolist(), strict=True):
                reference[i] = reference.get(i, 0) + delta
        else:
            bsi.remove_many(id_array)
            for i in ids:
                reference.pop(i, None)
    assert sorted(bsi.exists) == sorted(reference)
    assert sorted(bsi.negative) == sorted(i for i, v in reference.items() if v < 0)
    for bit, bitmap in enumerate(bsi.slices):
        assert sorted(bitmap) == sorted(i for i, v in reference.items() if abs(v) >> bit & 1)
    assert all(abs(v) < 1 << len(bsi.slices) for v in reference.values())
    for i, v in reference.items():
        assert bsi.get(i) == v

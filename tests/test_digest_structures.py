"""The numpy digest structures against Python references: DigestTable (customer ids), KeyFilter and the
filtered path of EventIdSet (event ids)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes import event_ids
from indexes.event_ids import EventIdSet, digests
from indexes.key_filter import KeyFilter
from indexes.shard.dense_ids import DenseIds
from indexes.shard.digest_table import DigestTable

NAMES = [f"name-{i}" for i in range(400)]


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.lists(st.sampled_from(NAMES), max_size=60), st.lists(st.sampled_from(NAMES), max_size=3)), max_size=25))
def test_digest_table_equals_a_dict(steps: list[tuple[list[str], list[str]]]) -> None:
    table = DigestTable()  # starts small: the steps make it grow several times
    reference: dict[str, int] = {}
    next_value = 0
    for looked_up, retired in steps:
        batch = list(dict.fromkeys(looked_up))
        found = table.lookup(digests(batch)) if batch else np.zeros(0, dtype=np.int64)
        assert found.tolist() == [reference.get(name, -1) for name in batch]
        new = [name for name in batch if name not in reference]
        values = np.arange(next_value, next_value + len(new), dtype=np.int64)
        table.insert(digests(new) if new else np.zeros((0, 2), dtype=np.uint64), values)
        reference.update(zip(new, values.tolist(), strict=True))
        next_value += len(new)
        gone = [name for name in dict.fromkeys(retired) if name in reference]
        table.retire(digests(gone) if gone else np.zeros((0, 2), dtype=np.uint64))
        for name in gone:
            del reference[name]  # it may come back later with a new value
    everyone = table.lookup(digests(NAMES))
    assert everyone.tolist() == [reference.get(name, -1) for name in NAMES]


def test_dense_ids_agree_with_their_table_through_retire_and_return() -> None:
    ids = DenseIds()
    first = ids.assign(["a", "b", "a", "c"]).tolist()
    assert first == [0, 1, 0, 2]
    assert ids.retire("b") == 1
    assert ids.lookup_array(["a", "b", "c"]).tolist() == [0, -1, 2]
    assert ids.assign(["b", "d"]).tolist() == [3, 4]  # b comes back with a new id
    assert ids.get_or_create("e") == 5
    assert ids.lookup_array(["e", "b", "d"]).tolist() == [5, 3, 4]
    rebuilt = DenseIds()  # as a snapshot load leaves it: the table is built on the first batch lookup
    rebuilt._external_by_dense = list(ids._external_by_dense)
    rebuilt._dense_by_external = dict(ids._dense_by_external)
    assert rebuilt.lookup_array(["a", "b", "c", "d", "e"]).tolist() == [0, 3, 2, 4, 5]


def test_key_filter_never_forgets_a_key() -> None:
    rng = np.random.default_rng(1)
    keys = np.sort(rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64))
    key_filter = KeyFilter(16 * len(keys))
    key_filter.add_sorted(keys[:30_000])
    key_filter.add_sorted(keys[30_000:])
    assert key_filter.test(keys).all()
    others = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64)
    assert key_filter.test(others).mean() < 0.1  # ~1/16 expected


@pytest.mark.parametrize("sorted_path", [False, True])
def test_event_id_set_with_its_filter_equals_a_set(monkeypatch: pytest.MonkeyPatch, sorted_path: bool) -> None:
    monkeypatch.setattr(event_ids, "FILTERED_SET", 500)
    rng = np.random.default_rng(4)
    pool = [f"e{i}" for i in range(30_000)]
    id_set, seen = EventIdSet(), set()
    for _ in range(30):
        batch = rng.choice(pool, 2000).tolist()
        fresh, keys = id_set.filter_new_sorted(batch) if sorted_path else id_set.filter_new(batch)
        expected, within = [], set()
        for event_id in batch:
            expected.append(event_id not in seen and event_id not in within)
            within.add(event_id)
        assert fresh.tolist() == expected
        assert len(keys) == sum(expected)
        id_set.add(keys)
        seen |= within
    assert id_set._filter is not None and len(id_set) == len(seen)

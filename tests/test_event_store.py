"""Event store windows stay exact through late rows, tail merges and list columns."""

from __future__ import annotations

import numpy as np

from indexes.schema import LIST, NUMBER, STRING
from indexes.shard import event_store
from indexes.shard.event_store import MISSING_CODE, EventStore


def _store_with(rows: list[tuple[int, int, dict]], monkeypatch=None) -> EventStore:
    store = EventStore({"category": STRING, "amount": NUMBER, "product_ids": LIST})
    for start in range(0, len(rows), 7):
        chunk = rows[start : start + 7]
        attrs = {name: [r[2].get(name) for r in chunk] for name in store.attributes}
        store.append(
            np.array([r[0] for r in chunk], dtype=np.uint32),
            np.array([r[1] for r in chunk], dtype=np.int64),
            store.encode(attrs, len(chunk)),
        )
    return store


def test_windows_are_exact_through_merges(monkeypatch) -> None:
    monkeypatch.setattr(event_store, "MIN_TAIL_ROWS", 10)
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        attrs = {"category": f"c{i % 3}", "amount": int(rng.integers(0, 1000))}
        if i % 4:
            attrs["product_ids"] = tuple(sorted({f"p{j}" for j in rng.integers(0, 5, 2)}))
        rows.append((int(rng.integers(0, 20)), int(rng.integers(0, 10_000)), attrs))
    store = _store_with(rows)
    assert len(store) == 200
    for lo, hi in [(None, None), (0, 5000), (2500, 2600), (9999, None), (None, 0)]:
        got = store.window(lo, hi, ("category", "amount", "product_ids"))
        expected = [r for r in rows if (lo is None or r[1] >= lo) and (hi is None or r[1] <= hi)]
        assert sorted(got.ts.tolist()) == sorted(r[1] for r in expected)
        pairs = sorted(zip(got.ts.tolist(), got.columns["amount"].tolist(), strict=True))
        assert pairs == sorted((r[1], r[2]["amount"]) for r in expected)
        lists = got.columns["product_ids"]
        lengths = (lists.offsets[1:] - lists.offsets[:-1]).tolist()
        assert sorted(lengths) == sorted(len(r[2].get("product_ids", ())) for r in expected)
    store.flush()
    assert np.all(np.diff(store.ts) >= 0)


def test_missing_attributes_are_explicit() -> None:
    store = _store_with([(1, 10, {}), (2, 20, {"category": "shoes"})])
    rows = store.window(None, None, ("category",))
    assert sorted(rows.columns["category"].tolist()) == sorted([MISSING_CODE, 0])

"""Router-side query helpers without Ray: micro-batched counts per shard (actors/count_batcher.py) and
the cache of compiled rules (actors/plan_cache.py)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from actors.count_batcher import CountBatcher
from actors.plan_cache import PLAN_CACHE_MAX_RULE_CHARS, PlanCache, rule_key


class FakeShard:
    """count_many that answers len(plan) + as_of, waits for `gate` and records every call."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[Any, int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def count_many(self, queries: list[tuple[Any, int]]) -> list[Any]:
        self.calls.append(list(queries))
        await self.gate.wait()
        return [ValueError(f"bad {plan}") if plan == "bad" else len(plan) + as_of for plan, as_of in queries]


def test_a_lone_count_goes_at_once_and_concurrent_ones_share_the_next_call() -> None:
    async def main() -> None:
        shard = FakeShard()
        batcher = CountBatcher(shard.count_many, max_calls_in_flight=1)
        assert await batcher.count("d-a", "aa", 10) == 12
        assert shard.calls == [[("aa", 10)]]

        shard.gate.clear()
        first = asyncio.ensure_future(batcher.count("d-a", "aa", 10))
        await asyncio.sleep(0)  # sent: the shard is now busy with it
        later = [asyncio.ensure_future(batcher.count(d, p, t)) for d, p, t in
                 [("d-b", "bbb", 1), ("d-a", "aa", 10), ("d-b", "bbb", 1), ("d-b", "bbb", 2)]]
        await asyncio.sleep(0)
        shard.gate.set()
        assert await first == 12
        assert [await f for f in later] == [4, 12, 4, 5]
        # The identical count that arrived while "aa"@10 was out got its own evaluation (the next call);
        # the two identical "bbb"@1 waiting together were evaluated once.
        assert shard.calls[1:] == [[("aa", 10)], [("bbb", 1), ("aa", 10), ("bbb", 2)]]
        assert batcher.shared == 1 and batcher.calls == 3

    asyncio.run(main())


def test_failures_reach_exactly_their_callers() -> None:
    async def main() -> None:
        shard = FakeShard()
        batcher = CountBatcher(shard.count_many, max_calls_in_flight=1)
        shard.gate.clear()
        blocker = asyncio.ensure_future(batcher.count("d", "x", 0))
        await asyncio.sleep(0)
        bad, good = asyncio.ensure_future(batcher.count("d-bad", "bad", 0)), asyncio.ensure_future(batcher.count("d-g", "gg", 0))
        await asyncio.sleep(0)
        shard.gate.set()
        assert await blocker == 1
        with pytest.raises(ValueError, match="bad bad"):
            await bad
        assert await good == 2

        async def broken(queries: list[tuple[Any, int]]) -> list[Any]:
            raise ConnectionError("shard gone")

        failing = CountBatcher(broken)
        results = await asyncio.gather(failing.count("a", "a", 0), failing.count("b", "b", 0), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)

    asyncio.run(main())


def test_a_caller_giving_up_does_not_cancel_the_shared_answer() -> None:
    async def main() -> None:
        shard = FakeShard()
        batcher = CountBatcher(shard.count_many, max_calls_in_flight=1)
        shard.gate.clear()
        blocker = asyncio.ensure_future(batcher.count("d", "x", 0))
        await asyncio.sleep(0)
        impatient = asyncio.ensure_future(batcher.count("d-y", "yy", 0))
        patient = asyncio.ensure_future(batcher.count("d-y", "yy", 0))
        await asyncio.sleep(0)
        impatient.cancel()
        shard.gate.set()
        assert await patient == 2 and await blocker == 1
        assert impatient.cancelled()

    asyncio.run(main())


def test_batches_are_bounded() -> None:
    async def main() -> None:
        shard = FakeShard()
        batcher = CountBatcher(shard.count_many, max_calls_in_flight=1, max_counts_per_call=3)
        shard.gate.clear()
        futures = [asyncio.ensure_future(batcher.count(f"d{i}", "p" * i, 0)) for i in range(8)]
        await asyncio.sleep(0)
        shard.gate.set()
        assert [await f for f in futures] == list(range(8))
        assert [len(call) for call in shard.calls] == [1, 3, 3, 1]

    asyncio.run(main())


def test_plan_cache_hits_per_rule_and_schema_version() -> None:
    cache: PlanCache[str] = PlanCache(max_entries=2)
    compiled: list[str] = []

    def compile_as(name: str) -> Any:
        return lambda: compiled.append(name) or name

    assert cache.get_or_compile("a = 1", 1, compile_as("v1")) == "v1"
    assert cache.get_or_compile("a = 1", 1, compile_as("again")) == "v1"
    assert cache.get_or_compile("a = 1", 2, compile_as("v2")) == "v2"  # a declaration: compiled anew
    assert cache.get_or_compile({"p": 1}, 2, compile_as("json")) == "json"  # evicts ("a = 1", 1)
    assert cache.get_or_compile("a = 1", 1, compile_as("v1 again")) == "v1 again"
    assert compiled == ["v1", "v2", "json", "v1 again"] and cache.hits == 1


def test_plan_cache_keys_keep_types_and_skip_long_rules() -> None:
    assert rule_key({"value": "5"}, 0) != rule_key({"value": 5}, 0)
    assert rule_key({"value": Decimal("5")}, 0) is None  # not JSON: compiled every time, never confused
    assert rule_key("x" * (PLAN_CACHE_MAX_RULE_CHARS + 1), 0) is None
    cache: PlanCache[int] = PlanCache()
    calls = [0]

    def compile_rule() -> int:
        calls[0] += 1
        return calls[0]

    long_rule = "x" * (PLAN_CACHE_MAX_RULE_CHARS + 1)
    assert cache.get_or_compile(long_rule, 0, compile_rule) == 1
    assert cache.get_or_compile(long_rule, 0, compile_rule) == 2

"""What the snapshot tests (tests/test_snapshot_*.py) share: engines built from record batches under
shrunk storage thresholds (so every representation occurs), and their index digests compared."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest.mock import patch

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.schema import Schema
from indexes.shard import event_store, keyed_bitmaps
from indexes.shard.property_index import StringColumn
from indexes.snapshot import index_digests
from tests.strategies_records import BASE_MS

SCHEMA = Schema()
TEST_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)


def no_fsync(fd: int) -> None:
    """Durability is not under test in most cases; skipping fsync keeps the suite fast."""


@contextlib.contextmanager
def thresholds(tiny_tail: bool, bitmap_min_holders: int, tiny_buffers: bool) -> Iterator[None]:
    """Shrunk storage thresholds (as in test_engine_vs_reference) so every representation occurs."""
    with (
        patch.object(event_store, "MIN_TAIL_ROWS", 2 if tiny_tail else event_store.MIN_TAIL_ROWS),
        patch.object(StringColumn, "BITMAP_MIN_HOLDERS", bitmap_min_holders),
        patch.object(keyed_bitmaps, "MAX_PENDING_PAIRS", 1 if tiny_buffers else keyed_bitmaps.MAX_PENDING_PAIRS),
    ):
        yield


THRESHOLDS = st.tuples(st.booleans(), st.sampled_from([1, 2, StringColumn.BITMAP_MIN_HOLDERS]), st.booleans())


def build(tz: str, batches: list[list[dict]], queries: list = (), as_of: int = BASE_MS) -> Engine:  # type: ignore[assignment]
    engine = Engine(tz=tz)
    for batch in batches:
        engine.ingest(batch)
        for rule in queries:  # builds first/last/sum indexes on the way, as a live shard would
            engine.members(rule, as_of)
    return engine



def differing(a: Engine, b: Engine) -> list[str]:
    da, db = index_digests(a.shard), index_digests(b.shard)
    return sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))


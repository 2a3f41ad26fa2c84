"""The engine equals the naive reference on random records x random rules x zones x as_of."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.plan import event_eval, per_customer
from indexes.records import validate_batch
from indexes.rules import format_rule, parse_rule, rule_from_json, rule_to_json
from indexes.rules.model import iter_nodes
from indexes.schema import Schema
from indexes.shard import bsi, event_store, keyed_bitmaps
from indexes.shard.property_index import StringColumn
from tests.reference import ReferenceEvaluator
from tests.strategies_records import ZONES, as_of_ms, record_batches
from tests.strategies_rules import rules

SCHEMA = Schema()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    tz=st.sampled_from(ZONES),
    batches=record_batches(),
    rule_list=st.lists(rules(SCHEMA), min_size=1, max_size=4),
    as_of=as_of_ms(),
    tiny_tail=st.booleans(),
    bitmap_min_holders=st.sampled_from([1, 2, StringColumn.BITMAP_MIN_HOLDERS]),
    tiny_buffers=st.booleans(),
    at_universe=st.booleans(),
)
def test_engine_equals_reference(
    tz: str,
    batches: list[list[dict]],
    rule_list: list,
    as_of: int,
    tiny_tail: bool,
    bitmap_min_holders: int,
    tiny_buffers: bool,
    at_universe: bool,
) -> None:
    # Thresholds shrunk so that every storage path and every transition between paths is taken
    # with a handful of customers: a tiny tail merges the event store on almost every append,
    # string values earn bitmaps after 1 or 2 holders, substring matches gather over customers,
    # deferred bitmap inserts flush on every batch, and window aggregates take the sorted path
    # (or always the dense one); comparisons restricted to an AND's running result read it at its
    # ids (BSI shadow arrays, dense per-customer arrays) always or never.
    with (
        patch.object(event_store, "MIN_TAIL_ROWS", 2 if tiny_tail else event_store.MIN_TAIL_ROWS),
        patch.object(StringColumn, "BITMAP_MIN_HOLDERS", bitmap_min_holders),
        patch.object(StringColumn, "MANY_CODES", 1 if tiny_buffers else StringColumn.MANY_CODES),
        patch.object(keyed_bitmaps, "MAX_PENDING_PAIRS", 1 if tiny_buffers else keyed_bitmaps.MAX_PENDING_PAIRS),
        patch.object(per_customer, "SORTED_PATH_MAX_ROWS_PER_CUSTOMER", 1e9 if tiny_buffers else 0.0),
        patch.object(bsi, "SHADOW_UNIVERSE_FRACTION", 0 if at_universe else 10**9),
        patch.object(event_eval, "UNIVERSE_COMPARE_FRACTION", 0 if at_universe else 10**9),
    ):
        _check(tz, batches, rule_list, as_of)


def _check(tz: str, batches: list[list[dict]], rule_list: list, as_of: int) -> None:
    engine = Engine(tz=tz)
    reference = ReferenceEvaluator(tz=tz)
    for batch in batches:
        engine.ingest(batch)
        reference.apply(validate_batch(batch, SCHEMA).records)
        # Query between batches too: indexes built on first use must then stay right as rows arrive.
        for rule in rule_list:
            assert set(engine.members(rule, as_of)) == reference.members(rule, as_of), format_rule(rule)
    assert set(engine.shard.ids.externals(engine.shard.alive)) == reference.customer_ids()
    for rule in rule_list:
        for node in iter_nodes(rule):  # every sub-rule on its own, so each leaf is held to account
            expected = reference.members(node, as_of)
            got = set(engine.members(node, as_of))
            assert got == expected, f"rule {format_rule(node)} as_of {as_of} tz {tz}"


@settings(max_examples=300, deadline=None)
@given(rule=rules(SCHEMA, max_leaves=8, allow_segments=True))
def test_every_generated_rule_round_trips(rule: object) -> None:
    exists = lambda _: True  # noqa: E731
    assert parse_rule(format_rule(rule), SCHEMA, exists) == rule  # type: ignore[arg-type]
    assert rule_from_json(rule_to_json(rule), SCHEMA, exists) == rule  # type: ignore[arg-type]

"""Issue 6, item 10: saved segments stay exact under any interleaving of ingest and time.

A hypothesis state machine drives an engine with random batches (events on time, late and
future-dated, profile writes, erasures, duplicates), segment commands (create with references to
other segments, rule edits, activation and deactivation, rollbacks, deletes, campaigns) and clock
advances across hour and day boundaries in zones with DST. After every step, each active segment's
materialized membership equals the naive reference evaluator at as_of = the engine's clock, and the
change log, replayed from empty, gives exactly that membership. When advance_clock declines to
tick, the materialized membership must also be right at the time it was asked for. The durable
variant also closes and reopens (log replay, then snapshot + tail) and requires the same state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from indexes.durable import DurableEngine
from indexes.engine import Engine
from indexes.records import validate_batch
from indexes.rules import RuleError
from indexes.rules.json_form import rule_from_json
from indexes.rules.model import (
    ALL_TIME,
    All,
    AnyOf,
    Count,
    Duration,
    EventCondition,
    FirstLast,
    Last,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Since,
    Sum,
    segment_ids,
)
from indexes.schema import Schema
from indexes.segments import SegmentInUseError, SegmentNotFoundError
from indexes.snapshot import state_digests
from tests.reference import ReferenceEvaluator
from tests.strategies_records import BASE_MS, CUSTOMERS, HOUR_MS, event_records, profile_records
from tests.strategies_rules import DEFAULT_DAYS, dates, rules

SCHEMA = Schema()
ZONES = ["Europe/Istanbul", "America/New_York"]  # New York falls back on 2026-11-01 06:00Z
MAX_LIVE_SEGMENTS = 5
START_MS = BASE_MS - 30 * HOUR_MS


def any_segment(_segment_id: str) -> bool:
    return True


DURATIONS = st.one_of(st.builds(Duration, st.just("hours"), st.sampled_from([1, 2, 3, 5, 24, 30])),
                      st.builds(Duration, st.just("days"), st.sampled_from([1, 2, 3])))
BUSY_TYPES = st.sampled_from(["order_created", "product_viewed", "order_created", "product_viewed", "email_opened"])


def time_leaves() -> st.SearchStrategy[Node]:
    """Leaves whose answer moves with the clock, over the event types and properties the machine's
    records hit often: windows, first/last thresholds, last_seen_at, timestamp and date properties."""
    counts = st.builds(lambda t, op, k, d: EventCondition(t, (), Count(op, k), Last(d)),
                       BUSY_TYPES, st.sampled_from(["gte", "eq", "lt", "gt"]), st.integers(0, 2), DURATIONS)
    since = st.builds(lambda t, day: EventCondition(t, (), Count("gte", 1), Since(day)), BUSY_TYPES, dates(DEFAULT_DAYS))
    extremes = st.builds(lambda t, which, op, d, window: EventCondition(t, (), FirstLast(which, op, d), window),
                         BUSY_TYPES, st.sampled_from(["first", "last"]), st.sampled_from(["within_last", "more_than_ago"]),
                         DURATIONS, st.one_of(st.just(ALL_TIME), st.builds(Last, DURATIONS)))
    sums = st.builds(lambda d, v: EventCondition("order_created", (), Sum("amount", "gte", v), Last(d)),
                     DURATIONS, st.sampled_from([Decimal("10"), Decimal("25.5"), Decimal("0.01")]))
    properties = st.builds(lambda p, op, d: PropertyCondition(p, op, d),
                           st.sampled_from(["last_seen_at", "consent_updated_at", "birth_date"]),
                           st.sampled_from(["within_last", "within_last", "more_than_ago"]), DURATIONS)
    computed = st.sampled_from([PropertyCondition("lifetime_value", "gt", Decimal("10")),
                                PropertyCondition("order_count", "gte", Decimal("2")),
                                PropertyCondition("last_seen_at", "exists")])
    return st.one_of(counts, counts, since, extremes, extremes, sums, properties, properties, computed)


def machine_rules(segment_choices: list[str]) -> st.SearchStrategy[Node]:
    leaves = [time_leaves(), time_leaves(), rules(SCHEMA, max_leaves=1)]
    if segment_choices:
        leaves.append(st.builds(SegmentCondition, st.sampled_from(segment_choices)))
    return st.recursive(
        st.one_of(*leaves),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: All(tuple(xs))),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: AnyOf(tuple(xs))),
            inner.map(Not),
        ),
        max_leaves=4,
    )


class SegmentMachine(RuleBasedStateMachine):
    durable = False

    def __init__(self) -> None:
        super().__init__()
        self.directory: Path | None = None
        self.engine: Engine | DurableEngine | None = None

    # --- setup --------------------------------------------------------------------------------
    @initialize(tz=st.sampled_from(ZONES), data=st.data())
    def start(self, tz: str, data: st.DataObject) -> None:
        self.tz = tz
        if self.durable:
            self.directory = Path(tempfile.mkdtemp(prefix="segments-machine-"))
            self.engine = DurableEngine.open(self.directory, tz=tz, sync="never")
        else:
            self.engine = Engine(tz=tz)
        self.reference = ReferenceEvaluator(tz=tz)
        self.clock_ms = START_MS
        self.rules: dict[str, Node] = {}  # live segments' current rules
        self.active: set[str] = set()
        self.next_event = 0
        self.next_name = 0
        self.event_ids: list[str] = []
        self.engine.ingest([{"customer_id": CUSTOMERS[0], "ts": START_MS, "properties": {"country": "TR"}}],
                           now_ms=self.clock_ms)
        self.reference.apply(validate_batch(
            [{"customer_id": CUSTOMERS[0], "ts": START_MS, "properties": {"country": "TR"}}], SCHEMA).records)
        # Start from some data, a live segment and one that reads it, so that the steps that follow
        # have work to do and changes to propagate.
        self.ingest(data, 0)
        self.next_name += 1
        first = data.draw(time_leaves(), label="first segment")
        self._take(self.engine.create_segment(f"segment {self.next_name}", first, now_ms=self.clock_ms))
        upstream = SegmentCondition(sorted(self.rules)[0])
        reader = data.draw(st.one_of(st.just(upstream), st.just(Not(upstream)),
                                     time_leaves().map(lambda leaf: AnyOf((upstream, leaf)))), label="reader")
        self.next_name += 1
        self._take(self.engine.create_segment(f"segment {self.next_name}", reader, now_ms=self.clock_ms))

    def teardown(self) -> None:
        if self.durable and self.engine is not None:
            self.engine.close()  # type: ignore[union-attr]
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    @contextlib.contextmanager
    def inner(self) -> Iterator[Engine]:
        assert self.engine is not None
        if isinstance(self.engine, DurableEngine):
            with self.engine.read_state() as engine:
                yield engine
        else:
            yield self.engine

    # --- ingest and time ----------------------------------------------------------------------
    @rule(data=st.data(), advance_h=st.sampled_from([0, 0, 1, 3, 7]))
    def ingest(self, data: st.DataObject, advance_h: int) -> None:
        raws: list[dict] = []
        for _ in range(data.draw(st.integers(1, 8), label="records")):
            kind = data.draw(st.sampled_from(["event"] * 6 + ["profile", "profile", "erase", "duplicate"]))
            if kind == "duplicate" and self.event_ids:
                event = data.draw(event_records(data.draw(st.sampled_from(self.event_ids))))
                event["ts"] = self.clock_ms
                raws.append(event)
            elif kind in ("event", "duplicate"):
                event_id = f"e-{self.next_event}"
                self.next_event += 1
                self.event_ids.append(event_id)
                event = data.draw(event_records(event_id))
                # Late (up to 3 days), on time, or future-dated (up to a day), often on the hour.
                offset_h = data.draw(st.integers(-72, 24))
                event["ts"] = self.clock_ms + offset_h * HOUR_MS + data.draw(st.sampled_from([0, 1, -1, 1_800_000]))
                raws.append(event)
            elif kind == "profile":
                profile = data.draw(profile_records())
                profile["ts"] = self.clock_ms + data.draw(st.integers(-2, 2)) * HOUR_MS  # later writes mostly win
                properties = profile["properties"]
                if properties.get("consent_updated_at") is not None:  # past and future values near the clock
                    properties["consent_updated_at"] = self.clock_ms + data.draw(st.integers(-72, 30)) * HOUR_MS
                if properties.get("birth_date") is not None:
                    day = dt.datetime.fromtimestamp(self.clock_ms / 1000, dt.UTC).date()
                    properties["birth_date"] = (day + dt.timedelta(days=data.draw(st.integers(-3, 2)))).isoformat()
                raws.append(profile)
            else:
                raws.append({"forget_customer": data.draw(st.sampled_from(CUSTOMERS)), "ts": self.clock_ms})
        now_ms = self.clock_ms + advance_h * HOUR_MS + data.draw(st.sampled_from([0, 17, 59 * 60_000]))
        assert self.engine is not None
        result = self.engine.ingest(raws, now_ms=now_ms)
        self.reference.apply(validate_batch(raws, SCHEMA).records)
        if result.accepted or not self.durable:  # a durable batch of duplicates only appends nothing
            self.clock_ms = max(self.clock_ms, now_ms)

    @rule(event_type=BUSY_TYPES, customer=st.sampled_from(CUSTOMERS), ahead_h=st.integers(1, 30),
          consent=st.booleans())
    def ingest_ahead(self, event_type: str, customer: str, ahead_h: int, consent: bool) -> None:
        """A record dated ahead of the clock: it counts once the clock reaches it, with no record
        arriving then (the time step must find it)."""
        assert self.engine is not None
        ts = self.clock_ms + ahead_h * HOUR_MS
        raw = ({"customer_id": customer, "ts": self.clock_ms, "properties": {"consent_updated_at": ts}} if consent
               else {"event_id": f"e-{self.next_event}", "customer_id": customer, "type": event_type, "ts": ts,
                     "attrs": {"amount": "30"} if event_type == "order_created" else {}})
        self.next_event += 1
        self.engine.ingest([raw], now_ms=self.clock_ms)
        self.reference.apply(validate_batch([raw], SCHEMA).records)

    @rule(hours=st.sampled_from([1, 2, 5, 11, 23, 24, 25, 49]), minutes=st.sampled_from([0, 1, 30, 59]))
    def advance(self, hours: int, minutes: int) -> None:
        assert self.engine is not None
        now_ms = self.clock_ms + hours * HOUR_MS + minutes * 60_000
        if self.engine.advance_clock(now_ms):
            self.clock_ms = now_ms
            return
        # Nothing could change: the materialized state must also be right at now_ms.
        expected = self.reference.saved_members(self.rules, now_ms)
        for segment_id in self.active:
            got = set(self.engine.segment_members(segment_id))
            assert got == expected[segment_id], f"{segment_id} at {now_ms} (no tick) {self.rules[segment_id]}"

    # --- segment commands ---------------------------------------------------------------------
    def _draw_rule(self, data: st.DataObject, exclude: str | None = None) -> Node:
        choices = sorted(s for s in self.rules if s != exclude)
        return data.draw(machine_rules(choices), label="rule")

    def _take(self, view: object) -> None:
        segment_id = view.id  # type: ignore[attr-defined]
        self.rules[segment_id] = rule_from_json(view.rule, SCHEMA, any_segment)  # type: ignore[attr-defined]
        if view.active:  # type: ignore[attr-defined]
            self.active.add(segment_id)
        else:
            self.active.discard(segment_id)

    @precondition(lambda self: len(self.rules) < MAX_LIVE_SEGMENTS)
    @rule(data=st.data(), active=st.sampled_from([True, True, False]), step_ms=st.sampled_from([0, 0, 1, 600_000]))
    def create(self, data: st.DataObject, active: bool, step_ms: int) -> None:
        assert self.engine is not None
        rule_model = self._draw_rule(data)
        self.next_name += 1
        self.clock_ms += step_ms
        view = self.engine.create_segment(f"segment {self.next_name}", rule_model, active=active,
                                          tags=["t"] if active else [], now_ms=self.clock_ms)
        self._take(view)

    @precondition(lambda self: bool(self.rules))
    @rule(data=st.data())
    def edit_rule(self, data: st.DataObject) -> None:
        assert self.engine is not None
        segment_id = data.draw(st.sampled_from(sorted(self.rules)))
        new_rule = self._draw_rule(data)  # may name the segment itself or one that reads it: a cycle
        closes_cycle = any(segment_id == u or segment_id in self._upstream(u) | {u} for u in segment_ids(new_rule))
        try:
            view = self.engine.edit_segment(segment_id, rule=new_rule, now_ms=self.clock_ms)
        except RuleError as exc:
            assert closes_cycle, f"refused without a cycle: {exc}"
            return
        assert not closes_cycle
        self._take(view)

    def _upstream(self, segment_id: str) -> set[str]:
        out: set[str] = set()
        stack = list(segment_ids(self.rules[segment_id]))
        while stack:
            current = stack.pop()
            if current not in out:
                out.add(current)
                stack.extend(segment_ids(self.rules[current]))
        return out

    @precondition(lambda self: bool(self.rules))
    @rule(data=st.data())
    def toggle_active(self, data: st.DataObject) -> None:
        assert self.engine is not None
        segment_id = data.draw(st.sampled_from(sorted(self.rules)))
        view = self.engine.edit_segment(segment_id, active=segment_id not in self.active, now_ms=self.clock_ms)
        self._take(view)

    @precondition(lambda self: bool(self.rules))
    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        assert self.engine is not None
        segment_id = data.draw(st.sampled_from(sorted(self.rules)))
        latest = self.engine.get_segment(segment_id).latest_version
        version = data.draw(st.integers(1, latest))
        old = rule_from_json(self.engine.get_segment(segment_id, version=version).rule, SCHEMA, any_segment)
        try:
            view = self.engine.rollback_segment(segment_id, version, now_ms=self.clock_ms)
        except RuleError:
            # Only when the old rule names a segment that is gone or that now reads this one.
            gone = any(u not in self.rules for u in segment_ids(old))
            assert gone or any(segment_id == u or segment_id in self._upstream(u) for u in segment_ids(old))
            return
        self._take(view)

    @precondition(lambda self: bool(self.rules))
    @rule(data=st.data(), campaign_active=st.booleans())
    def delete(self, data: st.DataObject, campaign_active: bool) -> None:
        assert self.engine is not None
        segment_id = data.draw(st.sampled_from(sorted(self.rules)))
        if data.draw(st.booleans(), label="with a campaign"):
            self.engine.attach_campaign(segment_id, "camp-1", active=campaign_active, now_ms=self.clock_ms)
        readers = sorted(s for s, r in self.rules.items() if segment_id in segment_ids(r))
        campaigns = self.engine.get_segment(segment_id).campaigns
        blocking = [c for c, active in campaigns if active]
        try:
            self.engine.delete_segment(segment_id, now_ms=self.clock_ms)
        except SegmentInUseError as exc:
            assert exc.segments == readers and exc.campaigns == blocking
            self.engine.detach_campaign(segment_id, "camp-1", now_ms=self.clock_ms) if blocking else None
            return
        assert not readers and not blocking
        del self.rules[segment_id]
        self.active.discard(segment_id)
        with pytest.raises(SegmentNotFoundError):
            self.engine.get_segment(segment_id)

    # --- restarts (durable only) --------------------------------------------------------------
    @precondition(lambda self: self.durable)
    @rule(with_snapshot=st.booleans())
    def reopen(self, with_snapshot: bool) -> None:
        assert isinstance(self.engine, DurableEngine) and self.directory is not None
        if with_snapshot:
            self.engine.snapshot()
        with self.engine.read_state() as inner:
            before = state_digests(inner.shard, inner.segments)
        self.engine.close()
        self.engine = DurableEngine.open(self.directory, sync="never", use_snapshots=with_snapshot)
        with self.engine.read_state() as inner:
            after = state_digests(inner.shard, inner.segments)
        assert {k for k in before if before[k] != after.get(k)} == set(), "restart differs from live"

    # --- the judge ----------------------------------------------------------------------------
    @invariant()
    def materialized_equals_reference(self) -> None:
        if self.engine is None:
            return
        assert self.engine.clock_ms == self.clock_ms
        expected = self.reference.saved_members(self.rules, self.clock_ms)
        with self.inner() as engine:
            live = engine.segments
            assert live.active_ids() == self.active
            for segment_id in sorted(self.rules):
                if segment_id in self.active:
                    got = set(engine.shard.ids.externals(live.members[segment_id]))
                    assert got == expected[segment_id], f"{segment_id}: {self.rules[segment_id]}"
                    assert self._replayed_log(engine, segment_id) == set(live.members[segment_id])
                else:
                    got = set(engine.segment_members(segment_id, self.clock_ms))
                    assert got == expected[segment_id], f"inactive {segment_id}: {self.rules[segment_id]}"
            if self.rules:  # an ad-hoc query through segment nodes at another time
                earlier = self.clock_ms - 5 * HOUR_MS
                segment_id = sorted(self.rules)[-1]
                got = set(engine.members({"segment": segment_id}, earlier))
                assert got == self.reference.saved_members(self.rules, earlier)[segment_id]

    @staticmethod
    def _replayed_log(engine: Engine, segment_id: str) -> set[int]:
        members: set[int] = set()
        after = None
        for _ in range(10_000):  # bounded paging
            page = engine.segments.changes.read([segment_id], after, None, None, None, 500)
            for row in page.rows:
                (members.add if row.entered else members.discard)(row.dense_id)
            if page.next_after_seq + 1 >= page.end_seq:
                return members
            after = page.next_after_seq
        raise AssertionError("change log paging does not end")


class DurableSegmentMachine(SegmentMachine):
    durable = True


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.filter_too_much])
TestSegmentsStayExact = SegmentMachine.TestCase
TestSegmentsStayExact.settings = settings(max_examples=50, stateful_step_count=30, **_SETTINGS)  # type: ignore[arg-type]
TestDurableSegmentsStayExact = DurableSegmentMachine.TestCase
TestDurableSegmentsStayExact.settings = settings(max_examples=15, stateful_step_count=25, **_SETTINGS)  # type: ignore[arg-type]

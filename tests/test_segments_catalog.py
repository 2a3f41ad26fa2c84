"""Saved-segment catalog: ids, versions, rollback, names, search, dependencies, delete-in-use."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexes.durable import DurableEngine
from indexes.engine import Engine
from indexes.rules import RuleError
from indexes.segments import SegmentConflictError, SegmentError, SegmentInUseError, SegmentNotFoundError

T = 1_790_000_000_000


@pytest.fixture()
def engine() -> Engine:
    return Engine(tz="Europe/Istanbul")


def test_ids_are_generated_or_given_and_never_reused(engine: Engine) -> None:
    first = engine.create_segment("A", "order_count >= 1", now_ms=T)
    second = engine.create_segment("B", "order_count >= 2", segment_id="custom-b", now_ms=T)
    third = engine.create_segment("C", "order_count >= 3", now_ms=T)
    assert (first.id, second.id, third.id) == ("seg_1", "custom-b", "seg_3")
    engine.delete_segment("seg_1", now_ms=T)
    with pytest.raises(SegmentConflictError) as taken:
        engine.create_segment("D", "order_count >= 4", segment_id="seg_1", now_ms=T)
    assert taken.value.field == "id"
    with pytest.raises(SegmentError) as bad:
        engine.create_segment("E", "order_count >= 4", segment_id="no spaces", now_ms=T)
    assert bad.value.field == "id"
    assert engine.create_segment("F", "order_count >= 5", now_ms=T).id == "seg_4"


def test_every_edit_is_a_version_and_rollback_copies_one(engine: Engine) -> None:
    created = engine.create_segment("Buyers", "order_count >= 1", tags=["b", "a", "a"], now_ms=T)
    assert created.version == 1 and created.tags == ("a", "b") and created.op == "create"
    assert created.rule == {"property": "order_count", "op": "gte", "value": 1}  # text in, canonical JSON kept
    renamed = engine.edit_segment(created.id, name="Buyers 2", now_ms=T + 1)
    changed = engine.edit_segment(created.id, rule={"property": "order_count", "op": "gte", "value": 2},
                                  description="two or more", active=False, now_ms=T + 2)
    assert (renamed.version, changed.version, changed.latest_version) == (2, 3, 3)
    assert not changed.active and changed.rule_text == "order_count >= 2"
    old = engine.get_segment(created.id, version=1)
    assert (old.name, old.rule_text, old.active, old.version_at_ms) == ("Buyers", "order_count >= 1", True, T)
    back = engine.rollback_segment(created.id, 1, now_ms=T + 3)
    assert (back.version, back.op, back.from_version, back.name, back.rule_text, back.active) == (
        4, "rollback", 1, "Buyers", "order_count >= 1", True)
    assert back.created_at_ms == T and back.updated_at_ms == T + 3
    assert [v.version for v in engine.segment_versions(created.id)] == [1, 2, 3, 4]
    with pytest.raises(SegmentNotFoundError):
        engine.rollback_segment(created.id, 9, now_ms=T)
    with pytest.raises(SegmentNotFoundError):
        engine.get_segment(created.id, version=5)
    with pytest.raises(SegmentError):
        engine.segment_command({"op": "edit", "id": created.id}, now_ms=T)  # names no field
    with pytest.raises(SegmentError) as unknown_field:
        engine.segment_command({"op": "edit", "id": created.id, "colour": "red"}, now_ms=T)
    assert unknown_field.value.field == "colour"


def test_names_are_unique_among_live_segments_ignoring_case(engine: Engine) -> None:
    vip = engine.create_segment("VIP", "order_count > 10", now_ms=T)
    with pytest.raises(SegmentConflictError) as clash:
        engine.create_segment("vip", "order_count > 11", now_ms=T)
    assert clash.value.field == "name"
    other = engine.create_segment("Others", "order_count > 1", now_ms=T)
    with pytest.raises(SegmentConflictError):
        engine.edit_segment(other.id, name="Vip", now_ms=T)
    engine.edit_segment(vip.id, name="VIP", description="same name again is fine", now_ms=T)
    engine.delete_segment(vip.id, now_ms=T)
    assert engine.create_segment("vip", "order_count > 12", now_ms=T).name == "vip"
    with pytest.raises(SegmentError) as empty:
        engine.create_segment("   ", "order_count > 1", now_ms=T)
    assert empty.value.field == "name"


def test_search_by_name_and_tag(engine: Engine) -> None:
    engine.create_segment("Cart abandoners", "count(product_added_to_cart) >= 1", tags=["cart", "win-back"], now_ms=T)
    engine.create_segment("Lapsed VIPs", "order_count > 10", tags=["vip", "win-back"], now_ms=T)
    gone = engine.create_segment("Old cart test", "order_count > 1", tags=["cart"], now_ms=T)
    engine.delete_segment(gone.id, now_ms=T)
    assert [s.name for s in engine.list_segments(name_contains="CART")] == ["Cart abandoners"]
    assert [s.name for s in engine.list_segments(tag="win-back")] == ["Cart abandoners", "Lapsed VIPs"]
    assert [s.name for s in engine.list_segments(name_contains="cart", include_deleted=True)] == [
        "Cart abandoners", "Old cart test"]
    assert [s.name for s in engine.list_segments(name_contains="vip", tag="cart")] == []
    assert engine.get_segment(gone.id, include_deleted=True).deleted
    with pytest.raises(SegmentNotFoundError):
        engine.get_segment(gone.id)
    with pytest.raises(SegmentNotFoundError):
        engine.edit_segment(gone.id, name="again", now_ms=T)
    with pytest.raises(SegmentNotFoundError):
        engine.get_segment("never-was")


def test_references_must_exist_and_cycles_are_refused_with_the_node_path(engine: Engine) -> None:
    a = engine.create_segment("A", "order_count >= 1", now_ms=T)
    b = engine.create_segment("B", {"all": [{"segment": a.id}, {"property": "country", "op": "eq", "value": "TR"}]},
                              now_ms=T)
    c = engine.create_segment("C", f'not in_segment("{b.id}")', now_ms=T)
    with pytest.raises(RuleError) as unknown:
        engine.create_segment("D", 'in_segment("nope")', now_ms=T)
    assert unknown.value.path == "segment"
    with pytest.raises(RuleError) as cycle:
        engine.edit_segment(a.id, rule={"any": [{"property": "country", "op": "eq", "value": "DE"},
                                                {"not": {"segment": c.id}}]}, now_ms=T)
    assert cycle.value.path == "any[1].not.segment"
    assert f"{a.id} -> {c.id} -> {b.id} -> {a.id}" in str(cycle.value)
    with pytest.raises(RuleError) as self_loop:
        engine.edit_segment(a.id, rule=f'in_segment("{a.id}")', now_ms=T)
    assert self_loop.value.path == "segment"
    assert engine.get_segment(a.id).version == 1  # nothing of a refused edit is kept
    with pytest.raises(RuleError):
        engine.dry_run_edit(a.id, f'in_segment("{c.id}")')  # a dry run is validated the same way


def test_delete_fails_while_a_segment_or_an_active_campaign_uses_it(engine: Engine) -> None:
    a = engine.create_segment("A", "order_count >= 1", now_ms=T)
    b = engine.create_segment("B", f'in_segment("{a.id}")', now_ms=T)
    engine.attach_campaign(a.id, "black-friday", now_ms=T)
    engine.attach_campaign(a.id, "paused-one", active=False, now_ms=T)
    with pytest.raises(SegmentInUseError) as in_use:
        engine.delete_segment(a.id, now_ms=T)
    assert (in_use.value.campaigns, in_use.value.segments) == (["black-friday"], [b.id])
    assert "campaign black-friday" in str(in_use.value) and f"segment {b.id}" in str(in_use.value)
    engine.edit_segment(b.id, rule="order_count >= 2", now_ms=T)  # b no longer reads a
    engine.attach_campaign(a.id, "black-friday", active=False, now_ms=T)  # the campaign is paused
    assert engine.get_segment(a.id).campaigns == (("black-friday", False), ("paused-one", False))
    engine.detach_campaign(a.id, "paused-one", now_ms=T)
    with pytest.raises(SegmentNotFoundError):
        engine.detach_campaign(a.id, "paused-one", now_ms=T)
    assert engine.delete_segment(a.id, now_ms=T) is None
    # A rollback to a version that read a deleted segment is refused.
    with pytest.raises(RuleError):
        engine.rollback_segment(b.id, 1, now_ms=T)


def test_the_catalog_survives_a_restart(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, tz="America/New_York", sync="never") as engine:
        a = engine.create_segment("A", "order_count >= 1", tags=["x"], now_ms=T)
        engine.edit_segment(a.id, name="A2", now_ms=T + 5)
        engine.attach_campaign(a.id, "camp", now_ms=T + 6)
        before = engine.segment_versions(a.id)
        with pytest.raises(SegmentConflictError):
            engine.create_segment("a2", "order_count >= 1", now_ms=T)  # refused before it is appended
        end = engine.applied_lsn
    with DurableEngine.open(tmp_path, sync="never") as engine:
        assert engine.segment_versions(a.id) == before and engine.applied_lsn == end
        assert engine.get_segment(a.id).campaigns == (("camp", True),)
        assert engine.create_segment("B", "order_count >= 2", now_ms=T).id == "seg_2"

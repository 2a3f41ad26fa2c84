"""Templates: the seeds' ready-made segments, valid against the standard catalog, copied into segments."""

from __future__ import annotations

import pytest

from indexes.engine import Engine
from indexes.rules.json_form import rule_from_json
from indexes.schema import Schema
from indexes.segments import TEMPLATES, SegmentNotFoundError

T = 1_790_000_000_000
# The twelve the issue names (item 8), by template id.
REQUIRED = {
    "tpl_wishlist_no_purchase", "tpl_no_email_open_90d", "tpl_vip", "tpl_one_time_buyers", "tpl_repeat_buyers",
    "tpl_never_ordered", "tpl_cart_abandoners_7d", "tpl_lapsed_high_value", "tpl_new_customers",
    "tpl_engaged_non_buyers", "tpl_students", "tpl_mobile_browsers",
}


def test_every_template_is_complete_and_validates_against_the_standard_catalog() -> None:
    assert len(TEMPLATES) >= 12
    assert {t.id for t in TEMPLATES} >= REQUIRED
    assert len({t.id for t in TEMPLATES}) == len(TEMPLATES)
    assert len({t.name.casefold() for t in TEMPLATES}) == len(TEMPLATES)
    for template in TEMPLATES:
        assert template.name and template.description and template.tags and template.source.endswith(".txt")
        rule_from_json(template.rule, Schema())  # RuleError on anything invalid; no segment nodes


def test_templates_are_listed_and_copied_into_editable_segments() -> None:
    engine = Engine(tz="Europe/Istanbul")
    engine.ingest([{"event_id": "o1", "customer_id": "c1", "type": "order_created", "ts": T - 1000,
                    "attrs": {"amount": "20"}}], now_ms=T)
    assert [t.id for t in engine.segment_templates()] == [t.id for t in TEMPLATES]
    copy = engine.create_from_template("tpl_one_time_buyers", now_ms=T)
    assert (copy.name, copy.tags, copy.rule_text) == ("One-time buyers", ("orders",), "count(order_created) = 1")
    assert engine.segment_members(copy.id) == ["c1"]
    mine = engine.create_from_template("tpl_students", name="My students", tags=["edu"], active=False, now_ms=T)
    assert (mine.name, mine.tags, mine.active) == ("My students", ("edu",), False)
    edited = engine.edit_segment(copy.id, rule="count(order_created) = 2", now_ms=T + 1)
    assert edited.version == 2 and engine.segment_members(copy.id) == []
    with pytest.raises(SegmentNotFoundError):
        engine.create_from_template("tpl_nothing", now_ms=T)

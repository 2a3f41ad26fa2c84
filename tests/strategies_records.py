"""Hypothesis strategies for raw records (RECORDS.md JSON), aimed at the edges.

A handful of customers, values from small pools (so rules built from the same pools hit data),
instants clustered around a base day that contains a DST change in the zones under test, late
events, duplicate ids, erasures and profile writes with equal timestamps.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

ZONES = ["UTC", "America/New_York", "Europe/Istanbul", "Asia/Kolkata", "America/Santiago"]
# 2026-11-01 06:00Z New York falls back; Santiago springs forward on 2026-09-06; windows reach both.
BASE_MS = int(dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
SPAN_HOURS = 24 * 12

CUSTOMERS = [f"c-{i}" for i in range(6)]
VALUE_POOLS: dict[str, list] = {
    "country": ["TR", "DE", "GB"],
    "language": ["tr", "en", "de"],
    "city": ["Istanbul", "Berlin"],
    "email": ["Ali@METU.edu.com.tr", "b@gmail.com", "c@edu.com.tr", "d@xedu.com.tr"],
    "phone": ["+90", "+49"],
    "tags": ["vip", "newsletter", "blacklist"],
    "customer_groups": ["wholesale", "retail"],
    "total_order_value": [0, 10, 99.5, 1000, "1000.00", -5],
    "event:category": ["shoes", "bags", "hats"],
    "event:product_id": ["p1", "p2", "p3"],
    "event:brand": ["b1", "b2"],
    "event:device": ["mobile", "desktop"],
    "event:form_id": ["f1", "f2"],
    "event:campaign_id": ["m1", "m2"],
    "event:currency": ["EUR", "TRY"],
    "event:product_ids": ["p1", "p2", "p3", "p4"],
    "event:amount": [0, 10, 25.5, 100, "0.01"],
    "event:price": [1, 5.5, 20],
    "event:item_count": [1, 2, 3],
}
EVENT_ATTRS: dict[str, list[str]] = {
    "product_viewed": ["category", "product_id", "brand", "price", "device"],
    "product_added_to_cart": ["category", "product_id", "price"],
    "order_created": ["amount", "product_ids", "currency", "item_count"],
    "order_refunded": ["amount"],
    "email_opened": ["campaign_id"],
    "subscribed": ["form_id"],
    "session_started": ["device"],
}
EVENT_TYPES = list(EVENT_ATTRS)
# Most events go to two types, so per-customer counts and sums vary enough to split customers.
WEIGHTED_TYPES = ["order_created"] * 4 + ["product_viewed"] * 4 + EVENT_TYPES


def instants() -> st.SearchStrategy[int]:
    """ms instants within a 12-day span around BASE, often on hour / day boundaries."""
    hours = st.integers(-SPAN_HOURS // 2, SPAN_HOURS // 2)
    jitter = st.sampled_from([0, 0, 1, -1, 1800_000, 59 * 60_000, HOUR_MS - 1])
    return st.builds(lambda h, j: BASE_MS + h * HOUR_MS + j, hours, jitter)


def ts_forms(t_ms: int) -> st.SearchStrategy[object]:
    """The same instant as epoch ms or RFC 3339 with different offsets."""
    def rfc(offset_minutes: int) -> str:
        tz = dt.timezone(dt.timedelta(minutes=offset_minutes))
        moment = dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC).astimezone(tz)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return st.sampled_from([t_ms, rfc(0), rfc(180), rfc(-300), rfc(330)])


@st.composite
def event_records(draw: st.DrawFn, event_id: str) -> dict:
    event_type = draw(st.sampled_from(WEIGHTED_TYPES))
    attrs: dict[str, object] = {}
    for attr in EVENT_ATTRS[event_type]:
        if draw(st.booleans()):
            pool = VALUE_POOLS[f"event:{attr}"]
            if attr == "product_ids":
                attrs[attr] = draw(st.lists(st.sampled_from(pool), max_size=3))
            else:
                attrs[attr] = draw(st.sampled_from(pool))
    t = draw(instants())
    record = {"event_id": event_id, "customer_id": draw(st.sampled_from(CUSTOMERS)), "type": event_type,
              "ts": draw(ts_forms(t))}
    if attrs or draw(st.booleans()):
        record["attrs"] = attrs
    return record


@st.composite
def profile_records(draw: st.DrawFn) -> dict:
    names = draw(st.lists(st.sampled_from([
        "country", "language", "email", "tags", "customer_groups", "total_order_value", "marketing_consent",
        "account_status", "consent_updated_at", "birth_date", "b2b_status", "city",
    ]), min_size=1, max_size=4, unique=True))
    properties: dict[str, object] = {}
    for name in names:
        if draw(st.integers(0, 6)) == 0:
            properties[name] = None
        elif name in ("tags", "customer_groups"):
            properties[name] = draw(st.lists(st.sampled_from(VALUE_POOLS[name]), max_size=3))
        elif name == "marketing_consent":
            properties[name] = draw(st.sampled_from(["granted", "denied", "pending"]))
        elif name == "account_status":
            properties[name] = draw(st.sampled_from(["has_account", "guest"]))
        elif name == "b2b_status":
            properties[name] = draw(st.sampled_from(["none", "pending", "approved"]))
        elif name == "consent_updated_at":
            properties[name] = draw(instants())
        elif name == "birth_date":
            properties[name] = (dt.date(2026, 11, 1) + dt.timedelta(days=draw(st.integers(-8, 8)))).isoformat()
        else:
            properties[name] = draw(st.sampled_from(VALUE_POOLS[name]))
    ts = BASE_MS + draw(st.sampled_from([0, 0, HOUR_MS, -HOUR_MS, 5 * HOUR_MS]))
    return {"customer_id": draw(st.sampled_from(CUSTOMERS)), "ts": ts, "properties": properties}


@st.composite
def record_batches(draw: st.DrawFn, min_records: int = 12, max_records: int = 60) -> list[list[dict]]:
    """1..3 batches of raw records; ids repeat sometimes (duplicates are ignored)."""
    count = draw(st.integers(min_records, max_records))
    records: list[dict] = []
    for i in range(count):
        kind = draw(st.sampled_from(["event"] * 10 + ["profile"] * 3 + ["erase", "duplicate"]))
        if kind == "event" or (kind == "duplicate" and not records):
            records.append(draw(event_records(f"e-{i}")))
        elif kind == "duplicate":
            earlier = [r for r in records if "event_id" in r]
            if earlier:
                again = dict(draw(st.sampled_from(earlier)))
                again["ts"] = draw(instants())  # same id, different payload: still ignored
                records.append(again)
        elif kind == "profile":
            records.append(draw(profile_records()))
        else:
            records.append({"forget_customer": draw(st.sampled_from(CUSTOMERS)), "ts": BASE_MS})
    cuts = sorted(draw(st.lists(st.integers(0, len(records)), max_size=2)))
    bounds = [0, *cuts, len(records)]
    return [records[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def as_of_ms() -> st.SearchStrategy[int]:
    return st.one_of(instants(), st.just(BASE_MS + SPAN_HOURS * HOUR_MS), st.just(BASE_MS - SPAN_HOURS * HOUR_MS))

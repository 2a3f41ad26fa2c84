"""Deterministic retail data: N customers, M events, with the skew real shops have.

* activity per customer is power-law (Pareto): most customers light, a few very heavy
* products and categories are Zipf-distributed; brands follow products
* a realistic event mix (views >> carts > wishlists > orders; e-mails; sessions by device)
* seasonality: a weekly cycle, a November peak and growth over the two years before AS_OF
* consent, language, country, tag and group mixes; a few student e-mails (edu.com.tr)

Everything is generated column-wise with numpy (seconds for 20M events) and can be turned into
RECORDS.md dicts (`iter_records`) for the public ingest path. `placeholders` maps the seed suite's
CATEGORY_A, PRODUCT_A, PRODUCT_B and FORM_A onto popular-but-not-top ids of the data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
AS_OF_MS = int(AS_OF.timestamp() * 1000)
SPAN_DAYS = 730
DAY_MS = 86_400_000
N_PRODUCTS = 20_000
N_CATEGORIES = 200
N_CAMPAIGNS = 300
N_FORMS = 20

EVENT_MIX: dict[str, float] = {
    "product_viewed": 0.36, "page_viewed": 0.10, "session_started": 0.10, "email_sent": 0.08,
    "product_added_to_cart": 0.07, "email_opened": 0.05, "category_viewed": 0.04,
    "search_performed": 0.03, "product_added_to_wishlist": 0.03, "order_created": 0.03,
    "order_delivered": 0.02, "email_clicked": 0.015, "product_removed_from_cart": 0.01,
    "brand_viewed": 0.01, "checkout_step_viewed": 0.01, "subscribed": 0.005,
    "order_refunded": 0.002, "order_cancelled": 0.002, "popup_form_filled": 0.003,
    "product_reviewed": 0.003, "sms_clicked": 0.002,
}
COUNTRIES = ["TR", "DE", "GB", "US", "NL", "FR"]
LANGUAGES = ["tr", "en", "de", "nl", "fr"]
DEVICES = ["mobile", "desktop", "tablet"]


@dataclass
class EventColumns:
    """Rows of one event type. Strings are codes into `vocab[attr]`; numbers are fixed-point ints."""

    customers: np.ndarray  # int32 customer index
    ts: np.ndarray  # int64 ms
    attrs: dict[str, np.ndarray] = field(default_factory=dict)
    lists: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # offsets, codes


@dataclass
class GeneratedData:
    customers: int
    events: dict[str, EventColumns]
    profiles: dict[str, np.ndarray]  # per customer; codes for strings, ints for numbers/times, -1/min = missing
    vocab: dict[str, list[str]]  # code -> string, for attribute and property columns
    as_of_ms: int = AS_OF_MS

    @property
    def event_count(self) -> int:
        return sum(len(c.ts) for c in self.events.values())


def _zipf_codes(rng: np.random.Generator, size: int, n: int, a: float = 1.25) -> np.ndarray:
    return ((rng.zipf(a, size) - 1) % n).astype(np.int32)


def _timestamps(rng: np.random.Generator, size: int) -> np.ndarray:
    days = np.arange(SPAN_DAYS)
    date0 = (AS_OF - dt.timedelta(days=SPAN_DAYS - 1)).date()
    weekday = (np.arange(SPAN_DAYS) + date0.weekday()) % 7
    months = np.array([(date0 + dt.timedelta(days=int(d))).month for d in days])
    weight = (1 + 0.25 * (weekday >= 5)) * (1 + 0.6 * (months == 11)) * (0.6 + 0.8 * days / SPAN_DAYS)
    day = rng.choice(SPAN_DAYS, size=size, p=weight / weight.sum())
    start_ms = AS_OF_MS - (SPAN_DAYS - 1) * DAY_MS - (AS_OF_MS % DAY_MS)
    ts = start_ms + day.astype(np.int64) * DAY_MS + rng.integers(0, DAY_MS, size)
    return np.minimum(ts, AS_OF_MS - 1)


def generate_columns(customers: int, events: int, seed: int = 7) -> GeneratedData:
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.3, customers) + 0.05
    activity /= activity.sum()
    types = list(EVENT_MIX)
    mix = np.array([EVENT_MIX[t] for t in types])
    per_type = rng.multinomial(events, mix / mix.sum())
    vocab: dict[str, list[str]] = {
        "product": [f"p-{i}" for i in range(N_PRODUCTS)],
        "category": [f"cat-{i}" for i in range(N_CATEGORIES)],
        "brand": [f"brand-{i}" for i in range(500)],
        "device": DEVICES,
        "campaign": [f"cmp-{i}" for i in range(N_CAMPAIGNS)],
        "form": [f"form-{i}" for i in range(N_FORMS)],
        "currency": ["EUR", "TRY", "GBP", "USD"],
        "url": [f"/page/{i}" for i in range(5000)],
        "query": [f"q{i}" for i in range(2000)],
        "step": ["1", "2", "3", "4"],
        "source": ["direct", "search", "email", "social"],
        "channel": ["email", "sms"],
    }
    out: dict[str, EventColumns] = {}
    for event_type, count in zip(types, per_type.tolist(), strict=True):
        cols = EventColumns(rng.choice(customers, size=count, p=activity).astype(np.int32), _timestamps(rng, count))
        product = _zipf_codes(rng, count, N_PRODUCTS)
        if event_type.startswith("product_"):
            cols.attrs["product_id"] = product
            if event_type != "product_reviewed":
                cols.attrs["category"] = (product % N_CATEGORIES).astype(np.int32)
                cols.attrs["brand"] = (product % 500).astype(np.int32)
            else:
                cols.attrs["rating"] = rng.integers(1, 6, count).astype(np.int64) * 100
            if event_type in ("product_viewed", "product_added_to_cart", "product_added_to_wishlist"):
                cols.attrs["price"] = (np.round(rng.lognormal(3.2, 0.8, count), 2) * 100).astype(np.int64)
            if event_type == "product_viewed":
                cols.attrs["device"] = rng.choice(3, count, p=[0.6, 0.32, 0.08]).astype(np.int32)
            if event_type == "product_added_to_cart":
                cols.attrs["quantity"] = rng.integers(1, 4, count).astype(np.int64) * 100
        elif event_type.startswith("order_"):
            cols.attrs["amount"] = np.maximum(1, (rng.lognormal(4.0, 0.9, count) * 100)).astype(np.int64)
            if event_type == "order_created":
                lengths = rng.integers(1, 6, count)
                offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
                cols.lists["product_ids"] = (offsets, _zipf_codes(rng, int(offsets[-1]), N_PRODUCTS))
                cols.attrs["item_count"] = lengths.astype(np.int64) * 100
                cols.attrs["currency"] = rng.choice(4, count, p=[0.5, 0.3, 0.1, 0.1]).astype(np.int32)
        elif event_type.startswith(("email_", "sms_")):
            cols.attrs["campaign_id"] = _zipf_codes(rng, count, N_CAMPAIGNS, 1.5)
            if event_type == "email_clicked":
                cols.attrs["url"] = _zipf_codes(rng, count, 5000)
        elif event_type in ("subscribed", "popup_form_filled"):
            cols.attrs["form_id"] = _zipf_codes(rng, count, N_FORMS, 1.6)
            if event_type == "subscribed":
                cols.attrs["channel"] = rng.integers(0, 2, count).astype(np.int32)
        elif event_type == "session_started":
            cols.attrs["device"] = rng.choice(3, count, p=[0.62, 0.3, 0.08]).astype(np.int32)
            cols.attrs["source"] = rng.integers(0, 4, count).astype(np.int32)
        elif event_type == "page_viewed":
            cols.attrs["url"] = _zipf_codes(rng, count, 5000)
            cols.attrs["device"] = rng.choice(3, count, p=[0.6, 0.32, 0.08]).astype(np.int32)
        elif event_type == "category_viewed":
            cols.attrs["category"] = _zipf_codes(rng, count, N_CATEGORIES)
        elif event_type == "brand_viewed":
            cols.attrs["brand"] = _zipf_codes(rng, count, 500)
        elif event_type == "search_performed":
            cols.attrs["query"] = _zipf_codes(rng, count, 2000)
        elif event_type == "checkout_step_viewed":
            cols.attrs["step"] = rng.integers(0, 4, count).astype(np.int32)
        out[event_type] = _arrival_order(rng, cols)
    profiles, profile_vocab = _profiles(rng, customers)
    vocab.update(profile_vocab)
    return GeneratedData(customers, out, profiles, vocab)


LATE_FRACTION = 0.01


def _arrival_order(rng: np.random.Generator, cols: EventColumns) -> EventColumns:
    """Rows in the order a shop sends them: by time, with ~1% arriving late (at the end)."""
    n = len(cols.ts)
    order = np.argsort(cols.ts, kind="stable")
    late = rng.random(n) < LATE_FRACTION
    order = np.concatenate([order[~late[order]], order[late[order]]])

    def take_list(offsets: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = (offsets[1:] - offsets[:-1])[order]
        new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        gather = np.repeat(offsets[:-1][order] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
        return new_offsets, codes[gather]

    return EventColumns(
        cols.customers[order],
        cols.ts[order],
        {name: values[order] for name, values in cols.attrs.items()},
        {name: take_list(*pair) for name, pair in cols.lists.items()},
    )


ATTR_VOCAB = {
    "product_id": "product", "category": "category", "brand": "brand", "device": "device",
    "campaign_id": "campaign", "form_id": "form", "currency": "currency", "url": "url", "query": "query",
    "step": "step", "source": "source", "channel": "channel", "product_ids": "product",
}
MISSING_INT = np.iinfo(np.int64).min


def _profiles(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    def pick(values: list[str], p: list[float]) -> np.ndarray:
        return rng.choice(len(values), n, p=p).astype(np.int32)

    two_years_ms = 730 * DAY_MS
    profiles = {
        "marketing_consent": pick(["granted", "denied", "pending"], [0.55, 0.3, 0.15]),
        "sms_consent": pick(["granted", "denied", "pending"], [0.35, 0.5, 0.15]),
        "account_status": pick(["has_account", "guest"], [0.7, 0.3]),
        "account_state": pick(["active", "passive"], [0.85, 0.15]),
        "b2b_status": pick(["none", "pending", "approved"], [0.9, 0.03, 0.07]),
        "language": pick(LANGUAGES, [0.45, 0.3, 0.15, 0.05, 0.05]),
        "country": pick(COUNTRIES, [0.45, 0.2, 0.15, 0.1, 0.05, 0.05]),
        "email_domain": pick(["gmail.com", "hotmail.com", "metu.edu.com.tr", "edu.com.tr", "shop.de"],
                             [0.5, 0.3, 0.02, 0.02, 0.16]),
        "tag_vip": (rng.random(n) < 0.05), "tag_newsletter": (rng.random(n) < 0.2),
        "tag_blacklist": (rng.random(n) < 0.01), "group_wholesale": (rng.random(n) < 0.05),
        "consent_updated_at": AS_OF_MS - rng.integers(0, two_years_ms, n),
        "total_order_value": (rng.lognormal(5.5, 1.3, n) * 100).astype(np.int64),
        "birth_date": rng.integers(-7300, 12000, n).astype(np.int64),
    }
    vocab = {"marketing_consent": ["granted", "denied", "pending"], "sms_consent": ["granted", "denied", "pending"],
             "account_status": ["has_account", "guest"], "account_state": ["active", "passive"],
             "b2b_status": ["none", "pending", "approved"], "language": LANGUAGES, "country": COUNTRIES,
             "email_domain": ["gmail.com", "hotmail.com", "metu.edu.com.tr", "edu.com.tr", "shop.de"]}
    return profiles, vocab


def customer_id(index: int) -> str:
    return f"c{index}"


def profile_record(data: GeneratedData, i: int) -> dict:
    p, v = data.profiles, data.vocab
    tags = [t for t in ("vip", "newsletter", "blacklist") if p[f"tag_{t}"][i]]
    properties: dict[str, object] = {
        name: v[name][int(p[name][i])]
        for name in ("marketing_consent", "sms_consent", "account_status", "account_state", "b2b_status",
                     "language", "country")
    }
    properties.update({
        "email": f"User{i}@{v['email_domain'][int(p['email_domain'][i])]}",
        "tags": tags,
        "customer_groups": ["wholesale"] if p["group_wholesale"][i] else ["retail"],
        "consent_updated_at": int(p["consent_updated_at"][i]),
        "total_order_value": f"{int(p['total_order_value'][i]) / 100:.2f}",
        "birth_date": (dt.date(1970, 1, 1) + dt.timedelta(days=int(p["birth_date"][i]))).isoformat(),
    })
    return {"customer_id": customer_id(i), "ts": data.as_of_ms - 800 * DAY_MS, "properties": properties}


def _attr_value(data: GeneratedData, name: str, value: int) -> object:
    vocab_name = ATTR_VOCAB.get(name)
    if vocab_name is not None:
        return data.vocab[vocab_name][value]
    return f"{value / 100:.2f}"


def iter_records(data: GeneratedData, batch_size: int = 100_000) -> Iterator[list[dict]]:
    """Profiles first, then every event type's rows (each type in ts order) as raw record dicts."""
    batch: list[dict] = []
    for i in range(data.customers):
        batch.append(profile_record(data, i))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    for event_type, cols in data.events.items():
        attr_names = list(cols.attrs)
        attr_lists = [cols.attrs[a].tolist() for a in attr_names]
        list_names = list(cols.lists)
        ts_list, cust_list = cols.ts.tolist(), cols.customers.tolist()
        for row in range(len(ts_list)):
            attrs = {a: _attr_value(data, a, vals[row]) for a, vals in zip(attr_names, attr_lists, strict=True)}
            for name in list_names:
                offsets, codes = cols.lists[name]
                attrs[name] = [data.vocab["product"][c] for c in codes[offsets[row] : offsets[row + 1]].tolist()]
            batch.append({"event_id": f"{event_type}-{row}", "customer_id": customer_id(cust_list[row]),
                          "type": event_type, "ts": ts_list[row], "attrs": attrs})
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def placeholders(data: GeneratedData) -> dict[str, str]:
    """Seed-suite placeholders -> ids present in the data (popular, not the very top)."""
    return {"CATEGORY_A": "cat-3", "PRODUCT_A": "p-5", "PRODUCT_B": "p-9", "FORM_A": "form-2"}


def load_seed_suite(path: Path, mapping: dict[str, str]) -> list[tuple[str, dict]]:
    text = path.read_text(encoding="utf-8")
    for placeholder, value in mapping.items():
        text = text.replace(placeholder, value)
    return [(q["id"], q["rule"]) for q in json.loads(text)["queries"]]

"""Small deterministic ingest batches for crash, failover and soak runs: batch n is a pure function of n,
so a checker can rebuild exactly what an acknowledged batch held.

Batch n holds one event per customer (event ids `{event_prefix}{n}-{i}`, customers `{customer_prefix}{i}`):
an order (amount (n % 7) + 1.5) for every third (n + i), a page view otherwise; with `profile`, one
country write for customer n % customers as well.
"""

from __future__ import annotations

from typing import Any

COUNTRIES = ("DE", "TR", "GB")


def numbered_batch(n: int, customers: int, *, event_prefix: str, customer_prefix: str,
                   profile: bool = True) -> list[dict[str, Any]]:
    assert n >= 0 and customers > 0
    records: list[dict[str, Any]] = []
    for i in range(customers):
        record: dict[str, Any] = {"event_id": f"{event_prefix}{n}-{i}", "customer_id": f"{customer_prefix}{i}",
                                  "ts": 1_000_000 + n * 1000 + i}
        if (n + i) % 3 == 0:
            record.update(type="order_created", attrs={"amount": (n % 7) + 1.5})
        else:
            record["type"] = "page_viewed"
        records.append(record)
    if profile:
        records.append({"customer_id": f"{customer_prefix}{n % customers}", "ts": n,
                        "properties": {"country": COUNTRIES[n % len(COUNTRIES)]}})
    return records

"""Ready-made segments ("templates", "smart segments" in the seeds): listed, and copied into a new,
editable saved segment (a create with the template's content; the caller may override name, tags,
description). Rules are those of ../shared/bench/seed_suite.json and the seed articles named in
`source`, with no placeholders: every one validates against the standard catalog (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from indexes.segments.errors import SegmentNotFoundError


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    rule: dict  # JSON form (RULES.md)
    source: str  # the seed article it comes from


def _count(event: str, op: str, value: int, window: object = "all_time", where: list | None = None) -> dict:
    node: dict = {"event": event, "count": {"op": op, "value": value}, "window": window}
    if where:
        node["where"] = where
    return node


def _days(n: int) -> dict:
    return {"last": {"days": n}}


TEMPLATES: tuple[Template, ...] = (
    Template("tpl_wishlist_no_purchase", "Wishlisted, no purchase in 30 days",
             "Consented to e-mail, added something to the wishlist, and ordered nothing in the last 30 days.",
             ("engagement", "win-back"),
             {"all": [{"property": "marketing_consent", "op": "eq", "value": "granted"},
                      _count("product_added_to_wishlist", "gte", 1),
                      _count("order_created", "eq", 0, _days(30))]},
             "000_748e822ce80eed1e.txt"),
    Template("tpl_no_email_open_90d", "No e-mail opened in 90 days",
             "Customers who have not opened a marketing e-mail in the last 90 days.",
             ("email", "inactive"),
             _count("email_opened", "eq", 0, _days(90)),
             "000_748e822ce80eed1e.txt"),
    Template("tpl_loyal_order_value", "Loyal customers by order value",
             "Customers with an account and a total order value of at least 1,000.",
             ("loyalty", "value"),
             {"all": [{"property": "account_status", "op": "eq", "value": "has_account"},
                      {"property": "total_order_value", "op": "gte", "value": 1000}]},
             "000_748e822ce80eed1e.txt"),
    Template("tpl_vip", "VIP customers",
             "More than 10 orders and a customer lifetime value above 1,000.",
             ("vip", "value"),
             {"all": [{"property": "order_count", "op": "gt", "value": 10},
                      {"property": "lifetime_value", "op": "gt", "value": 1000}]},
             "003_cc021bd77fe025b5.txt"),
    Template("tpl_one_time_buyers", "One-time buyers",
             "Customers who ordered exactly once.",
             ("orders",),
             _count("order_created", "eq", 1),
             "003_cc021bd77fe025b5.txt"),
    Template("tpl_repeat_buyers", "Repeat buyers",
             "Customers who ordered more than once.",
             ("orders", "loyalty"),
             _count("order_created", "gt", 1),
             "003_cc021bd77fe025b5.txt"),
    Template("tpl_never_ordered", "Never ordered",
             "Customers who have not ordered anything yet.",
             ("orders", "acquisition"),
             _count("order_created", "eq", 0),
             "003_cc021bd77fe025b5.txt"),
    Template("tpl_cart_abandoners_7d", "Cart abandoners (7 days)",
             "Added to the cart in the last 7 days without ordering in those days.",
             ("cart", "win-back"),
             {"all": [_count("product_added_to_cart", "gte", 1, _days(7)),
                      _count("order_created", "eq", 0, _days(7))]},
             "004_547e364041d1280f.txt"),
    Template("tpl_lapsed_high_value", "Lapsed high-value customers",
             "Spent at least 500 in the last year, but the last order is more than 90 days ago.",
             ("value", "win-back"),
             {"all": [{"event": "order_created", "sum": {"attr": "amount", "op": "gte", "value": 500},
                       "window": _days(365)},
                      {"event": "order_created", "last": {"op": "more_than_ago", "value": {"days": 90}}}]},
             "004_547e364041d1280f.txt"),
    Template("tpl_new_customers", "New customers",
             "First order within the last 30 days.",
             ("orders", "acquisition"),
             {"event": "order_created", "first": {"op": "within_last", "value": {"days": 30}}},
             "004_547e364041d1280f.txt"),
    Template("tpl_engaged_non_buyers", "Engaged non-buyers",
             "Opened at least 3 e-mails in the last 30 days and never ordered.",
             ("email", "engagement"),
             {"all": [_count("email_opened", "gte", 3, _days(30)), _count("order_created", "eq", 0)]},
             "004_547e364041d1280f.txt"),
    Template("tpl_students", "Students",
             "E-mail address at a Turkish university domain (ends with edu.com.tr).",
             ("demographics",),
             {"property": "email", "op": "ends_with", "value": "edu.com.tr"},
             "001_3f52d6315a9cd471.txt"),
    Template("tpl_mobile_browsers", "Mobile browsers without a cart",
             "Started at least 5 sessions on mobile in the last 14 days and added nothing to the cart.",
             ("mobile", "engagement"),
             {"all": [_count("session_started", "gte", 5, _days(14),
                             [{"attr": "device", "op": "eq", "value": "mobile"}]),
                      {"not": _count("product_added_to_cart", "gte", 1, _days(14))}]},
             "004_547e364041d1280f.txt"),
    Template("tpl_refunds_last_year", "Frequent refunders",
             "More than one refunded order in the last 365 days.",
             ("orders", "risk"),
             _count("order_refunded", "gt", 1, _days(365)),
             "000_748e822ce80eed1e.txt"),
)


def template(template_id: str) -> Template:
    for found in TEMPLATES:
        if found.id == template_id:
            return found
    raise SegmentNotFoundError("template", f"unknown template {template_id!r}")

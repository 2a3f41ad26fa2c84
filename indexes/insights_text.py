"""Insights as a readable table and as JSON (the CLI and the service print these)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from indexes.insights import Insights, Ranked


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def render_insights(report: Insights) -> str:
    aov_segment, aov_base = report.average_order_value()
    per_segment, per_base = report.orders_per_customer()
    rows = [
        ("customers", f"{report.members:,}", f"{report.base:,}", _share(report.members, report.base)),
        ("buyers", f"{report.buyers[0]:,}", f"{report.buyers[1]:,}", _share(report.buyers[0], report.buyers[1])),
        ("orders", f"{report.orders[0]:,}", f"{report.orders[1]:,}", _share(report.orders[0], report.orders[1])),
        ("revenue", _money(report.revenue[0]), _money(report.revenue[1]),
         _share(int(report.revenue[0] * 100), int(report.revenue[1] * 100))),
        ("average order value", _money(aov_segment), _money(aov_base), ""),
        ("orders per customer", f"{per_segment:.2f}", f"{per_base:.2f}", ""),
    ]
    lines = [_table(("", "segment", "all customers", "share"), rows)]
    lines.append("\nlifetime value")
    edges = [None, *report.ltv_edges, None]
    bucket_rows = []
    for (low, high), (seg, base) in zip(zip(edges[:-1], edges[1:], strict=True), report.ltv_buckets, strict=True):
        label = f"{'' if low is None else _money(low)} .. {'' if high is None else _money(high)}".strip()
        bucket_rows.append((label, f"{seg:,}", _share(seg, report.members), _share(base, report.base)))
    lines.append(_table(("bucket", "members", "of segment", "of all"), bucket_rows))
    for name, ranked in report.breakdowns.items():
        lines.append(f"\n{name}")
        lines.append(_ranked_table(ranked, report.members, report.base))
    for name, ranked in report.window_tops.items():
        lines.append(f"\n{name.replace('_', ' ')} (last {report.window_days} days, events)")
        lines.append(_ranked_table(ranked, None, None))
    return "\n".join(lines)


def _ranked_table(ranked: tuple[Ranked, ...], members: int | None, base: int | None) -> str:
    if not ranked:
        return "  (none)"
    rows = []
    for item in ranked:
        row = [item.value, f"{item.segment:,}"]
        row.append(_share(item.segment, members) if members is not None else f"{item.base:,}")
        if base is not None:
            row.append(_share(item.base, base))
        rows.append(tuple(row))
    header = ("value", "segment", "of segment", "of all") if members is not None else ("value", "segment", "all")
    return _table(header, rows)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)]
        out.append("  " + "  ".join(cells).rstrip())
    return "\n".join(out)


def insights_json(report: Insights) -> dict[str, Any]:
    aov = report.average_order_value()
    return {
        "customers": {"segment": report.members, "base": report.base, "share": report.share},
        "buyers": list(report.buyers), "orders": list(report.orders),
        "revenue": [str(v) for v in report.revenue],
        "average_order_value": [None if v is None else str(v) for v in aov],
        "orders_per_customer": list(report.orders_per_customer()),
        "lifetime_value": {"edges": [str(e) for e in report.ltv_edges], "buckets": [list(b) for b in report.ltv_buckets]},
        "breakdowns": {name: [[r.value, r.segment, r.base] for r in ranked] for name, ranked in report.breakdowns.items()},
        "window_days": report.window_days,
        "window_tops": {name: [[r.value, r.segment, r.base] for r in ranked] for name, ranked in report.window_tops.items()},
    }

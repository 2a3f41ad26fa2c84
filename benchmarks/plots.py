"""PNG plots of a run_all result (matplotlib, Agg: no display). Small figures, few points: small files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

DPI = 80


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def peers_plot(peers: dict[str, Any], path: Path) -> Path:
    rows = peers["queries"]
    engines = [e for e in ("engine", "grpc", "duckdb", "chdb") if f"{e}_ms" in rows[0]]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(engines)
    for k, engine in enumerate(engines):
        ax.bar([i + k * width for i in range(len(rows))], [max(r[f"{engine}_ms"]["p50"], 1e-3) for r in rows],
               width, label=engine)
    ax.set_yscale("log")
    ax.set_ylabel("p50 ms (log)")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))], [r["id"] for r in rows], rotation=70, fontsize=7)
    ax.set_title(f"Seed suite, {peers['source']}: {peers['customers']:,} customers, {peers['events']:,} events")
    ax.legend(fontsize=8)
    return _save(fig, path)


def curve_plot(points: list[dict[str, Any]], x: str, ys: list[str], title: str, path: Path,
               series: str | None = None, log_x: bool = False) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    groups = sorted({p[series] for p in points}) if series else [None]
    for group in groups:
        mine = [p for p in points if series is None or p[series] == group]
        for y in ys:
            label = f"{y} ({series}={group})" if series else y
            ax.plot([p[x] for p in mine], [p[y] for p in mine], marker="o", label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def memory_plot(points: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot([p["customers"] for p in points], [p["engine_rss_bytes"] / 2**20 for p in points], marker="o")
    ax.set_xlabel("customers")
    ax.set_ylabel("engine RSS grown by the build, MiB")
    ax.set_title("Engine memory against customers", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def load_plot(loads: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    labels = ["p50", "p90", "p99", "p99.9", "max"]
    for load in loads:
        summary = load["latency_ms"]["all"]
        name = f"{load['mode']}" + (f" {load['rate_target']:.0f}/s" if load["rate_target"] else "")
        ax.plot(labels, [max(summary[q], 1e-3) for q in labels], marker="o", label=name)
    ax.set_yscale("log")
    ax.set_ylabel("latency ms (log)")
    ax.set_title("Mixed gRPC load: latency percentiles", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)

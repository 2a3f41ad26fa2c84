"""The segment dependency graph: which saved segments a rule refers to, cycles, topological order.

An edge S -> U means S's current rule has a `segment` node naming U. Edges only ever point at
segments that exist and are not deleted (validation), and the graph is kept acyclic (a command that
would close a cycle is refused), so every walk here terminates; the walks still count their steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

MAX_GRAPH_STEPS = 10_000_000  # far above any real catalog (segments x edges); a bug guard


def json_segment_refs(rule: Any) -> tuple[str, ...]:
    """Segment ids a rule in canonical JSON form refers to, in document order, each once."""
    found: dict[str, None] = {}
    stack = [rule]
    steps = 0
    while stack:
        steps += 1
        assert steps <= MAX_GRAPH_STEPS, "rule walk does not end"
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if "segment" in node and isinstance(node["segment"], str):
            found[node["segment"]] = None
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                stack.extend(reversed(node[key]))
        if "not" in node:
            stack.append(node["not"])
    return tuple(found)


def path_between(start: str, target: str, refs: Callable[[str], Iterable[str]]) -> list[str] | None:
    """A path start -> ... -> target following refs (depth first, refs in order), or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    steps = 0
    while stack:
        steps += 1
        assert steps <= MAX_GRAPH_STEPS, "graph walk does not end"
        node, path = stack.pop()
        if node == target:
            return path
        if node in seen:
            continue
        seen.add(node)
        for upstream in reversed(list(refs(node))):
            stack.append((upstream, [*path, upstream]))
    return None


def topological_order(ids: Iterable[str], refs: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Every id after the ids it refers to; ties in the order `ids` come (creation order), so the
    order is a function of the catalog alone. Refs to ids outside `ids` are ignored."""
    order_of = {segment_id: position for position, segment_id in enumerate(ids)}
    waiting = {s: sum(1 for u in refs.get(s, ()) if u in order_of) for s in order_of}
    dependents: dict[str, list[str]] = {s: [] for s in order_of}
    for segment_id in order_of:
        for upstream in refs.get(segment_id, ()):
            if upstream in order_of:
                dependents[upstream].append(segment_id)
    ready = sorted((s for s, n in waiting.items() if n == 0), key=order_of.__getitem__)
    out: list[str] = []
    while ready:
        current = ready.pop(0)
        out.append(current)
        for dependent in dependents[current]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
                ready.sort(key=order_of.__getitem__)
    assert len(out) == len(order_of), "the segment graph has a cycle"
    return out


def upstream_closure(start: str, refs: Mapping[str, tuple[str, ...]]) -> set[str]:
    """Every segment `start` depends on, directly or not (itself excluded)."""
    out: set[str] = set()
    stack = list(refs.get(start, ()))
    steps = 0
    while stack:
        steps += 1
        assert steps <= MAX_GRAPH_STEPS, "graph walk does not end"
        node = stack.pop()
        if node in out:
            continue
        out.add(node)
        stack.extend(refs.get(node, ()))
    return out

"""Which shard owns a customer, and the split of an ingest batch into per-shard sub-batches.

A customer lives on shard `xxh3_64(customer_id as UTF-8) % shards`: stable across processes, machines
and Python versions (Python's `hash()` of a str is salted per process). The hash name is stored in
cluster.json (actors/layout.py) so a data directory can never be read with another placement.

Every record except a declaration names exactly one customer (events and profiles by `customer_id`,
erasures by `forget_customer`), so each goes to one shard, in batch order. Declarations are not routed:
they belong to every shard and go through `Cluster.declare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from actors.api import WireBatch

HASH_NAME = "xxh3_64"
DECLARATION_FIELD = "declare"
DECLARATION_REASON = "declarations go through SchemaService.Declare"
_ROUTED_KEYS = ("event_id", "type", "properties", "forget_customer")


def shard_of(customer_id: str, shards: int) -> int:
    """The shard owning `customer_id`. surrogatepass: a str that is not valid Unicode (never from
    gRPC) still hashes instead of raising; the shard's validation decides about it."""
    assert shards > 0
    return xxhash.xxh3_64_intdigest(customer_id.encode("utf-8", "surrogatepass")) % shards


def record_customer(raw: Any) -> str | None:
    """The customer a record names, classified the way `indexes.records` tells record kinds apart
    (event, then profile, then erasure); None for a declaration or a record naming no customer."""
    if not isinstance(raw, dict):
        return None
    if "event_id" in raw or "type" in raw or "properties" in raw:
        customer = raw.get("customer_id")
    elif "forget_customer" in raw:
        customer = raw.get("forget_customer")
    else:
        return None
    return customer if isinstance(customer, str) and customer else None


def is_declaration(raw: Any) -> bool:
    """A record `indexes.records` would read as a declaration (no event, profile or erasure key)."""
    return isinstance(raw, dict) and DECLARATION_FIELD in raw and not any(key in raw for key in _ROUTED_KEYS)


@dataclass
class RoutedBatch:
    """A batch split by owning shard; every input index is in exactly one of the lists."""

    # per shard: its records in input order - a list of dicts, or for a wire batch the bytes of a
    # serialized IngestRequest holding them (empty when the shard has none)
    raws: list[Any]
    indexes: list[list[int]]  # per shard: the input index of each of its records
    declarations: list[int] = field(default_factory=list)  # input indexes of declaration records
    unroutable: list[int] = field(default_factory=list)  # records naming no customer (rejected)

    def targets(self) -> list[int]:
        """Shards with at least one record."""
        return [shard for shard, indexes in enumerate(self.indexes) if indexes]


def owners(customers: Sequence[str | None], shards: int) -> list[int]:
    """The shard of each customer; -1 for None or "" (unroutable)."""
    assert shards > 0
    digest = xxhash.xxh3_64_intdigest
    # shard_of inlined: this runs once per ingested record on the router's one core.
    return [digest(c.encode("utf-8", "surrogatepass")) % shards if c else -1 for c in customers]


def route_wire(batch: WireBatch, shards: int) -> RoutedBatch:
    """Each shard's records cut out of the batch's bytes and joined: one serialized IngestRequest per
    shard (actors/api.py WireBatch), its records in input order."""
    owner_of = np.array(owners(batch.customers, shards), dtype=np.int64)
    order = np.argsort(owner_of, kind="stable")  # stable: input order within a shard
    bounds = np.searchsorted(owner_of[order], np.arange(-1, shards + 1)).tolist()
    routed = RoutedBatch([b""] * shards, [[] for _ in range(shards)])
    routed.unroutable = order[bounds[0] : bounds[1]].tolist()
    data, starts, ends = batch.data, batch.starts, batch.ends
    for shard in range(shards):
        mine = order[bounds[shard + 1] : bounds[shard + 2]].tolist()
        if mine:
            routed.indexes[shard] = mine
            routed.raws[shard] = b"".join([data[starts[i] : ends[i]] for i in mine])
    return routed


def route_batch(raws: Sequence[Any], shards: int) -> RoutedBatch:
    routed = RoutedBatch([[] for _ in range(shards)], [[] for _ in range(shards)])
    for index, raw in enumerate(raws):
        customer = record_customer(raw)
        if customer is not None:
            shard = shard_of(customer, shards)
            routed.raws[shard].append(raw)
            routed.indexes[shard].append(index)
        elif is_declaration(raw):
            routed.declarations.append(index)
        else:
            routed.unroutable.append(index)
    assert sum(map(len, routed.indexes)) + len(routed.declarations) + len(routed.unroutable) == len(raws)
    return routed

"""`DATA_DIR/cluster.json` and the shard directories: the shape a data directory is created with.

A customer's shard is hash(customer_id) % shards (actors/placement.py), so the shard count is part of
the data: opening with another count would look every customer up on the wrong shard. cluster.json is
written once, atomically, *after* every shard workspace exists (it is the commit point of creation);
every later start checks the caller's shard count and time zone against it.

    DATA_DIR/
      cluster.json   {"format": 1, "shards": 4, "hash": "xxh3_64", "tz": "UTC", "created_at_ms": ...}
      LOCK           flock held by the process running the Cluster (one cluster per data directory)
      shard-0000/    a DurableEngine workspace (workspace.json, log/, snapshots/), restorable anywhere
      shard-0001/    ...

`segments reshard` (actors/reshard.py) builds a new set of shard directories in DATA_DIR/gen-NNNN/
and switches to it by rewriting cluster.json (format 2, with "generation": N): that write is the
commit point, so a reshard interrupted before it leaves the old layout in use. Generation 0 is the
layout above (format 1, shard directories at the top).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from actors.placement import HASH_NAME
from indexes.durable.engine import LOG_DIR
from indexes.durable.workspace import WorkspaceError, open_workspace, workspace_exists, write_atomically
from indexes.timecal import Calendar, TimeZoneError

CLUSTER_FILE = "cluster.json"
FORMAT_VERSION = 1
GENERATION_FORMAT_VERSION = 2  # a resharded layout: shard directories under gen-NNNN/ (older builds refuse it)
SHARD_DIR_PREFIX = "shard-"
GENERATION_DIR_PREFIX = "gen-"
MAX_GENERATION = 9999  # four-digit directory names
MAX_SHARDS = 1024  # four-digit directory names, and far beyond one machine's cores


class ClusterLayoutError(ValueError):
    """A data directory that does not match the request (shard count, time zone) or is damaged."""


@dataclass(frozen=True)
class ClusterLayout:
    data_dir: Path
    shards: int
    hash_name: str
    tz: str
    created_at_ms: int
    generation: int = 0  # +1 per reshard: where the shard directories are (generation_path)

    def shard_path(self, shard: int) -> str:
        """The shard's directory relative to the data directory."""
        assert 0 <= shard < self.shards
        name = f"{SHARD_DIR_PREFIX}{shard:04d}"
        return name if self.generation == 0 else f"{generation_path(self.generation)}/{name}"

    def shard_dir(self, shard: int) -> Path:
        return self.data_dir / self.shard_path(shard)

    def shards_root(self) -> Path:
        """The directory holding this generation's shard directories."""
        return self.data_dir if self.generation == 0 else self.data_dir / generation_path(self.generation)

    def to_json(self) -> dict:
        if self.generation == 0:
            return {"format": FORMAT_VERSION, "shards": self.shards, "hash": self.hash_name, "tz": self.tz,
                    "created_at_ms": self.created_at_ms}
        return {"format": GENERATION_FORMAT_VERSION, "shards": self.shards, "hash": self.hash_name, "tz": self.tz,
                "created_at_ms": self.created_at_ms, "generation": self.generation}


def generation_path(generation: int) -> str:
    """The directory (relative to the data directory) of a resharded generation's shard directories."""
    assert 1 <= generation <= MAX_GENERATION
    return f"{GENERATION_DIR_PREFIX}{generation:04d}"


def default_shards() -> int:
    """One shard per core: each shard actor is a process with its own GIL."""
    return max(1, os.cpu_count() or 1)


def open_layout(data_dir: Path, shards: int | None = None, tz: str | None = None) -> ClusterLayout:
    """The layout of `data_dir`, created with `shards` (default: one per core) and `tz` (default UTC)
    when cluster.json is missing. An existing layout must match the `shards` and `tz` given."""
    if shards is not None and not 1 <= shards <= MAX_SHARDS:
        raise ClusterLayoutError(f"--shards must be 1..{MAX_SHARDS} (got {shards})")
    path = data_dir / CLUSTER_FILE
    if path.is_file():
        layout = _read(data_dir)
        if shards is not None and shards != layout.shards:
            raise ClusterLayoutError(
                f"{data_dir} was created with {layout.shards} shards; customers are placed by "
                f"hash % shards, so it cannot be opened with --shards {shards} (omit --shards; to change the "
                "count, stop the server and run `segments reshard --data-dir DIR --shards N`: docs/SCALING.md)"
            )
        if tz is not None and tz != layout.tz:
            raise ClusterLayoutError(
                f"{data_dir} was created with time zone {layout.tz}; a time zone applies only when "
                f"creating a data directory (got {tz})"
            )
        _check_shard_dirs(layout)
        return layout
    return _create(data_dir, shards or default_shards(), tz or "UTC")


def _read(data_dir: Path) -> ClusterLayout:
    path = data_dir / CLUSTER_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClusterLayoutError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") not in (FORMAT_VERSION, GENERATION_FORMAT_VERSION):
        raise ClusterLayoutError(f"{path}: not a format-{FORMAT_VERSION} or -{GENERATION_FORMAT_VERSION} cluster file")
    shards, hash_name, tz, created = raw.get("shards"), raw.get("hash"), raw.get("tz"), raw.get("created_at_ms")
    if type(shards) is not int or not 1 <= shards <= MAX_SHARDS or not isinstance(tz, str) or type(created) is not int:
        raise ClusterLayoutError(f"{path}: shards (1..{MAX_SHARDS}), tz and created_at_ms are required")
    if hash_name != HASH_NAME:
        raise ClusterLayoutError(f"{path}: placement hash {hash_name!r} is not supported (this build: {HASH_NAME})")
    generation = raw.get("generation", 0) if raw["format"] == GENERATION_FORMAT_VERSION else 0
    if raw["format"] == GENERATION_FORMAT_VERSION and (type(generation) is not int or
                                                       not 1 <= generation <= MAX_GENERATION):
        raise ClusterLayoutError(f"{path}: generation (1..{MAX_GENERATION}) is required in a format-2 cluster file")
    return ClusterLayout(data_dir, shards, hash_name, tz, created, generation)


def _check_shard_dirs(layout: ClusterLayout) -> None:
    for shard in range(layout.shards):
        if not workspace_exists(layout.shard_dir(shard)):
            raise ClusterLayoutError(
                f"{layout.shard_dir(shard)} is missing or has no workspace.json: restore the shard "
                "directory (a shard's data lives nowhere else)"
            )
    extra = sorted(p.name for p in _shard_dirs(layout.shards_root()) if _shard_number(p) >= layout.shards)
    if extra:
        raise ClusterLayoutError(f"{layout.data_dir} holds shard directories beyond its {layout.shards} shards: {extra}")


def _create(data_dir: Path, shards: int, tz: str) -> ClusterLayout:
    try:
        Calendar(tz)  # an unknown zone fails before anything is written
    except TimeZoneError as exc:
        raise ClusterLayoutError(f"unknown time zone {tz!r}: {exc}") from None
    data_dir.mkdir(parents=True, exist_ok=True)
    if workspace_exists(data_dir):
        raise ClusterLayoutError(f"{data_dir} is a single-engine workspace (workspace.json), not a cluster directory")
    for existing in _shard_dirs(data_dir):
        # Left by a creation that crashed before cluster.json: reusable only if it holds no data.
        if _shard_number(existing) >= shards or _has_log_data(existing):
            raise ClusterLayoutError(
                f"{data_dir} has no {CLUSTER_FILE} but holds shard data ({existing.name}): restore "
                f"{CLUSTER_FILE} instead of creating the directory again"
            )
    layout = ClusterLayout(data_dir, shards, HASH_NAME, tz, int(time.time() * 1000))
    for shard in range(shards):
        try:
            open_workspace(layout.shard_dir(shard), tz, create=True)
        except WorkspaceError as exc:
            raise ClusterLayoutError(str(exc)) from None
    write_atomically(data_dir / CLUSTER_FILE, json.dumps(layout.to_json(), indent=1).encode())
    return layout


def _shard_dirs(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.glob(f"{SHARD_DIR_PREFIX}*") if p.is_dir() and _shard_number(p) >= 0]


def _shard_number(path: Path) -> int:
    digits = path.name[len(SHARD_DIR_PREFIX):]
    return int(digits) if len(digits) == 4 and digits.isdigit() else -1


def _has_log_data(shard_dir: Path) -> bool:
    log_dir = shard_dir / LOG_DIR
    return log_dir.is_dir() and any(p.stat().st_size > 0 for p in log_dir.glob("*.seg"))

"""The backend `segments serve` runs: actors.cluster.Cluster (one Ray actor per shard).

Imported only by the serve command, so that Ray is loaded only in the server process. Opening
starts (or joins) Ray and waits until every shard has recovered its log; errors that mean "this
data directory cannot be served as asked" become BackendOpenError with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from actors.api import SegmentsBackend, ShardUnavailableError
from indexes.durable.workspace import WorkspaceError
from indexes.log import LogLockedError
from indexes.timecal import TimeZoneError

if TYPE_CHECKING:
    from actors.placement_nodes import ShardPlacement


class BackendOpenError(Exception):
    """The data directory cannot be served with the options given (shard count, time zone, a lock)."""


async def open_backend(data_dir: Path, *, shards: int | None, tz: str | None, count_cache_entries: int = 0,
                       ray_address: str | None = None, placement: ShardPlacement | None = None) -> SegmentsBackend:
    from actors.catalog_sync import CatalogMismatchError
    from actors.cluster import Cluster
    from actors.layout import ClusterLayoutError
    from actors.placement_nodes import PlacementError

    try:
        return await Cluster.start(data_dir, shards=shards, tz=tz, count_cache_entries=count_cache_entries,
                                   ray_address=ray_address,  # None: a local Ray runtime of its own
                                   placement=placement)  # None: every shard on this node (actors/placement_nodes.py)
    except (ClusterLayoutError, WorkspaceError, TimeZoneError, PlacementError) as exc:
        raise BackendOpenError(str(exc)) from exc
    except LogLockedError as exc:
        raise BackendOpenError(f"{exc} (another segments process is serving it)") from exc
    except ShardUnavailableError as exc:
        raise BackendOpenError(f"a shard did not recover: {exc}") from exc
    except CatalogMismatchError as exc:
        raise BackendOpenError(f"saved segments: {exc}") from exc

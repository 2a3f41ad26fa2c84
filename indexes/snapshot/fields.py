"""Guard for the "serializer beside the classes" design.

The codecs read the shard classes' attributes from outside. If a class gains an attribute that
holds state, a snapshot that silently left it out would restore a different shard; so every object
is checked against the attribute names its codec knows, and writing refuses an unknown one.
"""

from __future__ import annotations

from indexes.snapshot.errors import SnapshotError


def require_fields(obj: object, known: frozenset[str]) -> None:
    present = frozenset(vars(obj))
    if present != known:
        unknown, missing = sorted(present - known), sorted(known - present)
        raise SnapshotError(
            f"{type(obj).__name__} has attributes the snapshot format does not know {unknown} or lacks "
            f"ones it expects {missing}: extend indexes/snapshot (codec and digest) to match"
        )


def require(condition: bool, message: str) -> None:
    """A structural check on loaded data: a failure makes the snapshot unusable, not the process."""
    if not condition:
        raise SnapshotError(message)

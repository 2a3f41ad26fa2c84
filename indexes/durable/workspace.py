"""`data_dir/workspace.json`: the settings a data directory is created with, written once, atomically.

The time zone decides every day and hour bucket, so it belongs to the data, not to a command line:
it is fixed when the directory is created and every later open checks a caller's zone against it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from indexes.log.fsio import Fsync, fsync_dir, write_all
from indexes.timecal import Calendar

WORKSPACE_FILE = "workspace.json"
FORMAT_VERSION = 1


class WorkspaceError(ValueError):
    """No workspace where one is needed, a damaged workspace.json, or a conflicting setting."""


@dataclass(frozen=True)
class Workspace:
    tz: str
    created_at_ms: int

    def to_json(self) -> dict:
        return {"format": FORMAT_VERSION, "tz": self.tz, "created_at_ms": self.created_at_ms}


def workspace_exists(data_dir: Path) -> bool:
    return (data_dir / WORKSPACE_FILE).is_file()


def read_workspace(data_dir: Path) -> Workspace:
    path = data_dir / WORKSPACE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"no workspace at {data_dir} ({WORKSPACE_FILE} missing)") from None
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
        raise WorkspaceError(f"{path}: not a format-{FORMAT_VERSION} workspace file")
    tz, created = raw.get("tz"), raw.get("created_at_ms")
    if not isinstance(tz, str) or type(created) is not int:
        raise WorkspaceError(f"{path}: tz and created_at_ms are required")
    return Workspace(tz, created)


def open_workspace(data_dir: Path, tz: str | None, *, create: bool, fsync: Fsync = os.fsync) -> Workspace:
    """The workspace of `data_dir`, created with `tz` (default UTC) when missing and `create` is set.

    A `tz` that differs from the stored one is an error: it only applies when creating."""
    if workspace_exists(data_dir):
        workspace = read_workspace(data_dir)
        if tz is not None and tz != workspace.tz:
            raise WorkspaceError(
                f"{data_dir} was created with time zone {workspace.tz}; a time zone applies only "
                f"when creating a workspace (got {tz})"
            )
        return workspace
    if not create:
        raise WorkspaceError(f"no workspace at {data_dir} (create one with `segments ingest --data-dir`)")
    zone = tz or "UTC"
    Calendar(zone)  # raises TimeZoneError for an unknown zone before anything is written
    workspace = Workspace(zone, int(time.time() * 1000))
    write_atomically(data_dir / WORKSPACE_FILE, json.dumps(workspace.to_json(), indent=1).encode(), fsync)
    return workspace


def write_atomically(path: Path, data: bytes, fsync: Fsync = os.fsync) -> None:
    """Write a temp file, fsync it, rename it over `path`, fsync the directory: old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    fsync_dir(path.parent, fsync)

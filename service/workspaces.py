"""Workspaces (tenants) on disk: each is a cluster directory of its own under the server's data dir.

    DATA_DIR/                     the workspace "default" (the layout of a server without workspaces)
      cluster.json, shard-0000/…  default's data, schema, saved segments, exports/
      workspaces/NAME/            workspace NAME: its own cluster.json, shard logs, snapshots, exports/
      tokens.json                 API tokens of every workspace (auth_tokens.py)
      audit.log                   admin actions of every workspace (audit.py)

Keeping "default" at the root means a data directory from before workspaces is served unchanged.
Nothing here starts Ray: `segments workspace create` lays the directory out (cluster.json and empty
shards) so that the server only has to open it.
"""

from __future__ import annotations

import re
from pathlib import Path

DEFAULT_WORKSPACE = "default"
WORKSPACES_DIR = "workspaces"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MAX_WORKSPACES = 1_000  # each open workspace holds its own shard actors; far beyond one machine


class WorkspaceNameError(ValueError):
    """A workspace name that is malformed, taken or unknown; the message names it."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise WorkspaceNameError(f"workspace name {name!r}: use 1..63 of a-z 0-9 _ - (starting with a letter or digit)")
    return name


def workspace_dir(data_dir: Path, name: str) -> Path:
    check_name(name)
    return Path(data_dir) if name == DEFAULT_WORKSPACE else Path(data_dir) / WORKSPACES_DIR / name


def workspace_exists(data_dir: Path, name: str) -> bool:
    """"default" always exists (the server creates its layout on start); others once created."""
    return name == DEFAULT_WORKSPACE or (workspace_dir(data_dir, name) / "cluster.json").is_file()


def list_workspaces(data_dir: Path) -> list[str]:
    parent = Path(data_dir) / WORKSPACES_DIR
    named = sorted(p.name for p in parent.iterdir() if NAME_PATTERN.fullmatch(p.name)
                   and (p / "cluster.json").is_file()) if parent.is_dir() else []
    return [DEFAULT_WORKSPACE, *named[:MAX_WORKSPACES]]


def create_workspace(data_dir: Path, name: str, *, shards: int | None, tz: str | None) -> Path:
    """Lay out DATA_DIR/workspaces/NAME (cluster.json, empty shards); WorkspaceNameError if it exists."""
    from actors.layout import open_layout  # no Ray: files only

    check_name(name)
    if name == DEFAULT_WORKSPACE:
        raise WorkspaceNameError(f"workspace {DEFAULT_WORKSPACE!r} always exists (it is the data directory itself)")
    if workspace_exists(data_dir, name):
        raise WorkspaceNameError(f"workspace {name!r} exists already in {data_dir}")
    if len(list_workspaces(data_dir)) > MAX_WORKSPACES:
        raise WorkspaceNameError(f"{data_dir} has {MAX_WORKSPACES} workspaces already")
    directory = workspace_dir(data_dir, name)
    open_layout(directory, shards, tz)  # ClusterLayoutError for a bad --shards or --tz, before any file
    return directory

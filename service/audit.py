"""DATA_DIR/audit.log: one JSON line per admin action, appended and fsynced before the action's reply.

    {"time": "2026-11-26T18:30:00.123Z", "time_ms": 1764181800123, "actor": "tok_3f…", "workspace": "shop-a",
     "action": "segments.v1.AdminService/Snapshot", "target": "", "outcome": "OK"}

`actor` is the token id (never the token), "local:USER" for a command run on the server's machine,
or "-" when the server runs without authentication. `outcome` is "OK" or the gRPC status name the
caller got. Writers are the server and the `segments token/workspace` commands, possibly at once:
each line is one write(2) on an O_APPEND descriptor, which the kernel never interleaves with
another append on a local file system.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from service.auth_files import PRIVATE_FILE_MODE

AUDIT_FILE = "audit.log"
MAX_TARGET_CHARS = 256  # a request field copied into the line; longer is cut (the line stays small)
MAX_LINE_BYTES = 64 * 1024  # longer lines in the file are reported as damaged, not parsed


def audit_path(data_dir: Path) -> Path:
    return Path(data_dir) / AUDIT_FILE


def local_actor() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"local:uid{os.getuid()}"


def audit_line(*, actor: str, workspace: str, action: str, target: str, outcome: str, time_ms: int) -> bytes:
    stamp = datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    entry = {"time": stamp, "time_ms": time_ms, "actor": actor, "workspace": workspace, "action": action,
             "target": target[:MAX_TARGET_CHARS], "outcome": outcome}
    return (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")


def append_audit(data_dir: Path, *, actor: str, workspace: str, action: str, target: str = "",
                 outcome: str = "OK") -> None:
    """Durable when it returns (fsync); OSError when the log cannot be written."""
    line = audit_line(actor=actor, workspace=workspace, action=action, target=target, outcome=outcome,
                      time_ms=time.time_ns() // 1_000_000)
    fd = os.open(audit_path(data_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        written = os.write(fd, line)
        assert written == len(line), "a short append to a regular file"
        os.fsync(fd)
    finally:
        os.close(fd)


async def append_audit_async(data_dir: Path, *, actor: str, workspace: str, action: str, target: str,
                             outcome: str) -> None:
    """append_audit off the event loop: the fsync may take milliseconds."""
    await asyncio.to_thread(append_audit, data_dir, actor=actor, workspace=workspace, action=action,
                            target=target, outcome=outcome)


def read_audit(data_dir: Path) -> Iterator[dict]:
    """The entries in file order; a damaged line (a crash mid-write, an edit) is yielded as
    {"damaged": LINE_NUMBER} instead of stopping the listing."""
    path = audit_path(data_dir)
    if not path.exists():
        return
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield {"damaged": number}
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                yield {"damaged": number}
                continue
            yield entry if isinstance(entry, dict) else {"damaged": number}

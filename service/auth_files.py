"""Small durable files of the security layer (tokens.json, workspaces): whole-file replace, one writer.

`replace_file` writes a temporary file in the same directory (mode 0600 from creation, so a secret is
never readable by others even for a moment), fsyncs it, renames it over the target and fsyncs the
directory: a reader sees the old file or the new one, never half of either, and a crash keeps one of
them. `exclusive_lock` serialises read-modify-write cycles of separate processes (two `segments
token create` at once) with flock on a sibling `.lock` file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

PRIVATE_FILE_MODE = 0o600


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # an umask or a leftover file cannot widen it
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)
    fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Held until the block ends (or the process dies: flock locks die with their holder)."""
    lock_path = path.with_name(f"{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock

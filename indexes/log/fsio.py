"""File-system steps the log needs to be durable: full writes, directory fsync, the directory lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from indexes.log.errors import LogLockedError

Fsync = Callable[[int], None]  # os.fsync, or a test's stand-in that fails or blocks
LOCK_NAME = "LOCK"


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out; a short write is legal (signals, pipes, quotas)."""
    view = memoryview(data)
    written = 0
    # Each turn writes at least one byte or raises, so there are at most len(data) turns.
    for _ in range(len(data)):
        if written == len(data):
            break
        count = os.write(fd, view[written:])
        assert count > 0, "os.write wrote nothing without raising"
        written += count
    assert written == len(data)


def fsync_dir(path: Path, fsync: Fsync) -> None:
    """Make a directory's entries (created, renamed, removed files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def truncate_durably(path: Path, size_bytes: int, fsync: Fsync) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size_bytes)
        fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path, fsync: Fsync) -> None:
    """Create `path` if missing, durably (its entry in the parent is fsynced)."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    fsync_dir(path.parent, fsync)


class DirLock:
    """An exclusive flock on `<data_dir>/LOCK`: one writer (log, repair or rewrite) per directory.

    flock belongs to the open file, so two logs in one process exclude each other too, and the kernel
    drops the lock when the process dies: no stale lock files to clean up.
    """

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_NAME
        self._fd = -1

    def acquire(self) -> None:
        assert self._fd < 0, "lock already held"
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LogLockedError(f"{self._path.parent} is in use (lock {self._path} is held)") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1

    def __enter__(self) -> DirLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

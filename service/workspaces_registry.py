"""The workspaces a running server has open: "default" from the start, named ones opened at start and
on first use (a workspace created while the server runs is opened by its first authorised call).

Named workspaces run their shard actors in the Ray runtime the default workspace started, so they are
closed before it (`close_named`, then the caller closes the default backend, which ends Ray).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from actors.api import SegmentsBackend
from service.calls import BackendCalls
from service.workspaces import (
    DEFAULT_WORKSPACE,
    MAX_WORKSPACES,
    list_workspaces,
    workspace_dir,
    workspace_exists,
)
from service.workspaces_services import WorkspaceServices, build_services

log = logging.getLogger("segments.service")

WorkspaceOpener = Callable[[Path], Awaitable[SegmentsBackend]]
# A workspace that failed to open is not tried again for this long: each attempt may start actors and
# wait for their recovery, and calls queue behind it.
REOPEN_AFTER_FAILURE_S = 30.0


class UnknownWorkspace(Exception):
    """No such workspace in the server's data directory."""


class WorkspaceUnavailable(Exception):
    """The workspace exists but cannot be opened now (the reason is the message)."""


class WorkspaceRegistry:
    def __init__(self, default: WorkspaceServices, calls: BackendCalls, data_dir: Path | None,
                 open_named: WorkspaceOpener | None) -> None:
        self.default = default
        self._calls = calls
        self._data_dir = data_dir
        self._open_named = open_named
        self._open: dict[str, WorkspaceServices] = {DEFAULT_WORKSPACE: default}
        self._opening: dict[str, asyncio.Lock] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # name -> (monotonic time, reason)
        self._closed = False

    @property
    def names(self) -> list[str]:
        return sorted(self._open)

    def serving(self) -> bool:
        """Every open workspace is serving (the health check's answer)."""
        return all(ws.backend.serving() for ws in list(self._open.values()))

    async def open_existing(self) -> None:
        """Open the named workspaces on disk; one that fails is logged and retried on its first call."""
        if self._data_dir is None or self._open_named is None:
            return
        for name in list_workspaces(self._data_dir):
            if name == DEFAULT_WORKSPACE:
                continue
            try:
                await self.services(name)
            except WorkspaceUnavailable as exc:
                log.error("workspace %s not opened: %s", name, exc)

    async def services(self, name: str) -> WorkspaceServices:
        found = self._open.get(name)
        if found is not None:
            return found
        if self._data_dir is None or self._open_named is None or not workspace_exists(self._data_dir, name):
            raise UnknownWorkspace(name)
        # One opening per workspace at a time; later callers wait for it rather than start another.
        lock = self._opening.setdefault(name, asyncio.Lock())
        async with lock:
            found = self._open.get(name)
            if found is not None:
                return found
            if self._closed:
                raise WorkspaceUnavailable("the server is shutting down")
            if len(self._open) >= MAX_WORKSPACES:
                raise WorkspaceUnavailable(f"{MAX_WORKSPACES} workspaces open already")
            failed = self._failed.get(name)
            if failed is not None and time.monotonic() - failed[0] < REOPEN_AFTER_FAILURE_S:
                raise WorkspaceUnavailable(f"{failed[1]} (next attempt {REOPEN_AFTER_FAILURE_S:.0f} s after the last)")
            log.info("opening workspace %s", name)
            try:
                backend = await self._open_named(workspace_dir(self._data_dir, name))
            except Exception as exc:  # noqa: BLE001 - any reason it cannot open goes to the caller
                reason = f"workspace {name} cannot be opened: {exc}"
                self._failed[name] = (time.monotonic(), reason)
                raise WorkspaceUnavailable(reason) from exc
            self._failed.pop(name, None)
            if self._closed:  # shutdown began while it opened
                await backend.close()
                raise WorkspaceUnavailable("the server is shutting down")
            services = build_services(name, backend, self._calls)
            self._open[name] = services
            log.info("workspace %s open", name)
            return services

    async def stop_schedulers(self) -> None:
        for services in list(self._open.values()):
            await services.stop_scheduler()

    async def close_named(self) -> None:
        """Close every named workspace's backend (the default one is the caller's to close)."""
        self._closed = True
        for name, services in list(self._open.items()):
            if name == DEFAULT_WORKSPACE:
                continue
            await services.stop_scheduler()
            try:
                await services.backend.close()
            except Exception:  # noqa: BLE001 - close the others regardless
                log.exception("closing workspace %s failed", name)
            del self._open[name]

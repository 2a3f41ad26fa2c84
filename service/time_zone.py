"""The workspace's time zone, read once from the backend's stats (it is fixed when a workspace is made)."""

from __future__ import annotations

import grpc

from actors.api import SegmentsBackend
from service.calls import BackendCalls


class TimeZoneCache:
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls
        self._zone: str | None = None

    async def get(self, context: grpc.aio.ServicerContext) -> str:
        if self._zone is None:
            stats = await self._calls.query(context, self._backend.stats())
            self._zone = stats.time_zone
        return self._zone

"""grpc.health.v1 statuses from the backend: NOT_SERVING while any shard is recovering.

The statuses are set for "" (the whole server) and for every service name, so a load balancer can
probe either. They are polled rather than pushed because the backend only offers `serving()`; a
poll every HEALTH_POLL_INTERVAL_S costs nothing next to a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from actors.api import SegmentsBackend
from service.limits import HEALTH_POLL_INTERVAL_S

log = logging.getLogger("segments.service")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthReporter:
    def __init__(self, backend: SegmentsBackend, service_names: Sequence[str]) -> None:
        self.servicer = health_aio.HealthServicer()
        self._backend = backend
        self._names = ["", *service_names]
        self._task: asyncio.Task[None] | None = None

    def _serving(self) -> bool:
        try:
            return bool(self._backend.serving())
        except Exception:  # noqa: BLE001 - a backend that cannot say is not serving
            log.warning("backend.serving() failed; reporting NOT_SERVING", exc_info=True)
            return False

    async def _set(self, status: int) -> None:
        for name in self._names:
            await self.servicer.set(name, status)

    async def _poll(self) -> None:
        current: bool | None = None
        while True:
            serving = self._serving()
            if serving != current:
                await self._set(SERVING if serving else NOT_SERVING)
                log.info("health: %s", "SERVING" if serving else "NOT_SERVING")
                current = serving
            await asyncio.sleep(HEALTH_POLL_INTERVAL_S)

    async def start(self) -> None:
        await self._set(NOT_SERVING)  # until the first poll has asked the backend
        self._task = asyncio.create_task(self._poll(), name="health-poll")

    async def stop(self) -> None:
        """NOT_SERVING for good (shutdown): load balancers stop sending before the drain."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.servicer.enter_graceful_shutdown()

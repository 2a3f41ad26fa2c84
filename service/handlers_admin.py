"""AdminService: Snapshot, Compact, Stats (per shard and in total)."""

from __future__ import annotations

import grpc

from actors.api import SegmentsBackend
from proto.segments.v1 import admin_pb2, admin_pb2_grpc
from service.calls import BackendCalls
from service.errors import rpc


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls

    @rpc
    async def Snapshot(
        self, request: admin_pb2.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.SnapshotResponse:
        shards = await self._calls.mutation(context, self._backend.snapshot())
        return admin_pb2.SnapshotResponse(shards=[
            admin_pb2.ShardSnapshot(shard=s.shard, lsn=s.lsn, size_bytes=s.size_bytes, path=s.path) for s in shards
        ])

    @rpc
    async def Compact(
        self, request: admin_pb2.CompactRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CompactResponse:
        shards = await self._calls.mutation(context, self._backend.compact())
        return admin_pb2.CompactResponse(shards=[
            admin_pb2.ShardCompaction(
                shard=s.shard, records_before=s.records_before, records_after=s.records_after,
                size_bytes_before=s.size_bytes_before, size_bytes_after=s.size_bytes_after,
            )
            for s in shards
        ])

    @rpc
    async def Stats(self, request: admin_pb2.StatsRequest, context: grpc.aio.ServicerContext) -> admin_pb2.StatsResponse:
        stats = await self._calls.query(context, self._backend.stats())
        shards = []
        for s in stats.shards:
            shard = admin_pb2.ShardStats(
                shard=s.shard, state=s.state, customers=s.customers, events=s.events, event_ids=s.event_ids,
                applied_lsn=s.applied_lsn, log_size_bytes=s.log_size_bytes,
                records_since_snapshot=s.records_since_snapshot, path=s.path,
            )
            if s.snapshot_age_ms is not None:
                shard.snapshot_age_ms = max(0, s.snapshot_age_ms)
            shards.append(shard)
        return admin_pb2.StatsResponse(
            customers=stats.customers, events=stats.events, log_size_bytes=stats.log_size_bytes, shards=shards,
            time_zone=stats.time_zone, data_dir=stats.data_dir,
        )

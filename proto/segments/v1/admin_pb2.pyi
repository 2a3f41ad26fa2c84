from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardSnapshot(_message.Message):
    __slots__ = ("shard", "lsn", "size_bytes", "path")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    LSN_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    shard: int
    lsn: int
    size_bytes: int
    path: str
    def __init__(self, shard: _Optional[int] = ..., lsn: _Optional[int] = ..., size_bytes: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class SnapshotResponse(_message.Message):
    __slots__ = ("shards",)
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedCompositeFieldContainer[ShardSnapshot]
    def __init__(self, shards: _Optional[_Iterable[_Union[ShardSnapshot, _Mapping]]] = ...) -> None: ...

class CompactRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardCompaction(_message.Message):
    __slots__ = ("shard", "records_before", "records_after", "size_bytes_before", "size_bytes_after")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    RECORDS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_AFTER_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    shard: int
    records_before: int
    records_after: int
    size_bytes_before: int
    size_bytes_after: int
    def __init__(self, shard: _Optional[int] = ..., records_before: _Optional[int] = ..., records_after: _Optional[int] = ..., size_bytes_before: _Optional[int] = ..., size_bytes_after: _Optional[int] = ...) -> None: ...

class CompactResponse(_message.Message):
    __slots__ = ("shards",)
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedCompositeFieldContainer[ShardCompaction]
    def __init__(self, shards: _Optional[_Iterable[_Union[ShardCompaction, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardStats(_message.Message):
    __slots__ = ("shard", "state", "customers", "events", "event_ids", "applied_lsn", "log_size_bytes", "snapshot_age_ms", "records_since_snapshot", "path")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_LSN_FIELD_NUMBER: _ClassVar[int]
    LOG_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_SINCE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    shard: int
    state: str
    customers: int
    events: int
    event_ids: int
    applied_lsn: int
    log_size_bytes: int
    snapshot_age_ms: int
    records_since_snapshot: int
    path: str
    def __init__(self, shard: _Optional[int] = ..., state: _Optional[str] = ..., customers: _Optional[int] = ..., events: _Optional[int] = ..., event_ids: _Optional[int] = ..., applied_lsn: _Optional[int] = ..., log_size_bytes: _Optional[int] = ..., snapshot_age_ms: _Optional[int] = ..., records_since_snapshot: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("customers", "events", "log_size_bytes", "shards", "time_zone", "data_dir")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    LOG_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    customers: int
    events: int
    log_size_bytes: int
    shards: _containers.RepeatedCompositeFieldContainer[ShardStats]
    time_zone: str
    data_dir: str
    def __init__(self, customers: _Optional[int] = ..., events: _Optional[int] = ..., log_size_bytes: _Optional[int] = ..., shards: _Optional[_Iterable[_Union[ShardStats, _Mapping]]] = ..., time_zone: _Optional[str] = ..., data_dir: _Optional[str] = ...) -> None: ...

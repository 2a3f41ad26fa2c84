from proto.segments.v1 import records_pb2 as _records_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_STATUS_UNSPECIFIED: _ClassVar[RecordStatus]
    RECORD_STATUS_ACCEPTED: _ClassVar[RecordStatus]
    RECORD_STATUS_DUPLICATE: _ClassVar[RecordStatus]
    RECORD_STATUS_REJECTED: _ClassVar[RecordStatus]
RECORD_STATUS_UNSPECIFIED: RecordStatus
RECORD_STATUS_ACCEPTED: RecordStatus
RECORD_STATUS_DUPLICATE: RecordStatus
RECORD_STATUS_REJECTED: RecordStatus

class RecordError(_message.Message):
    __slots__ = ("index", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("records", "partial")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_records_pb2.Record]
    partial: bool
    def __init__(self, records: _Optional[_Iterable[_Union[_records_pb2.Record, _Mapping]]] = ..., partial: _Optional[bool] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected", "statuses", "errors", "errors_truncated")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: int
    statuses: _containers.RepeatedScalarFieldContainer[RecordStatus]
    errors: _containers.RepeatedCompositeFieldContainer[RecordError]
    errors_truncated: bool
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ..., statuses: _Optional[_Iterable[_Union[RecordStatus, str]]] = ..., errors: _Optional[_Iterable[_Union[RecordError, _Mapping]]] = ..., errors_truncated: _Optional[bool] = ...) -> None: ...

class IngestStreamResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected", "batches", "errors", "errors_truncated")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: int
    batches: int
    errors: _containers.RepeatedCompositeFieldContainer[RecordError]
    errors_truncated: bool
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ..., batches: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RecordError, _Mapping]]] = ..., errors_truncated: _Optional[bool] = ...) -> None: ...

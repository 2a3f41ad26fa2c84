from proto.segments.v1 import query_pb2 as _query_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Target(_message.Message):
    __slots__ = ("segment_id", "rule")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    rule: _query_pb2.Rule
    def __init__(self, segment_id: _Optional[str] = ..., rule: _Optional[_Union[_query_pb2.Rule, _Mapping]] = ...) -> None: ...

class Pair(_message.Message):
    __slots__ = ("segment", "base")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    segment: int
    base: int
    def __init__(self, segment: _Optional[int] = ..., base: _Optional[int] = ...) -> None: ...

class MoneyPair(_message.Message):
    __slots__ = ("segment", "base")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    segment: str
    base: str
    def __init__(self, segment: _Optional[str] = ..., base: _Optional[str] = ...) -> None: ...

class RankedValue(_message.Message):
    __slots__ = ("value", "segment", "base")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    value: str
    segment: int
    base: int
    def __init__(self, value: _Optional[str] = ..., segment: _Optional[int] = ..., base: _Optional[int] = ...) -> None: ...

class RankedList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[RankedValue]
    def __init__(self, values: _Optional[_Iterable[_Union[RankedValue, _Mapping]]] = ...) -> None: ...

class InsightsRequest(_message.Message):
    __slots__ = ("target", "as_of_ms", "window_days", "top")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    target: Target
    as_of_ms: int
    window_days: int
    top: int
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., as_of_ms: _Optional[int] = ..., window_days: _Optional[int] = ..., top: _Optional[int] = ...) -> None: ...

class InsightsResponse(_message.Message):
    __slots__ = ("members", "base", "orders", "revenue", "buyers", "average_order_value", "ltv_edges", "ltv_buckets", "breakdowns", "window_days", "window_tops", "as_of_ms")
    class BreakdownsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RankedList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RankedList, _Mapping]] = ...) -> None: ...
    class WindowTopsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RankedList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RankedList, _Mapping]] = ...) -> None: ...
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    BUYERS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    LTV_EDGES_FIELD_NUMBER: _ClassVar[int]
    LTV_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWNS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TOPS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    members: int
    base: int
    orders: Pair
    revenue: MoneyPair
    buyers: Pair
    average_order_value: MoneyPair
    ltv_edges: _containers.RepeatedScalarFieldContainer[str]
    ltv_buckets: _containers.RepeatedCompositeFieldContainer[Pair]
    breakdowns: _containers.MessageMap[str, RankedList]
    window_days: int
    window_tops: _containers.MessageMap[str, RankedList]
    as_of_ms: int
    def __init__(self, members: _Optional[int] = ..., base: _Optional[int] = ..., orders: _Optional[_Union[Pair, _Mapping]] = ..., revenue: _Optional[_Union[MoneyPair, _Mapping]] = ..., buyers: _Optional[_Union[Pair, _Mapping]] = ..., average_order_value: _Optional[_Union[MoneyPair, _Mapping]] = ..., ltv_edges: _Optional[_Iterable[str]] = ..., ltv_buckets: _Optional[_Iterable[_Union[Pair, _Mapping]]] = ..., breakdowns: _Optional[_Mapping[str, RankedList]] = ..., window_days: _Optional[int] = ..., window_tops: _Optional[_Mapping[str, RankedList]] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class SummarizeRequest(_message.Message):
    __slots__ = ("target", "language")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    target: Target
    language: str
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., language: _Optional[str] = ...) -> None: ...

class SummarizeResponse(_message.Message):
    __slots__ = ("summary", "rule_text", "language")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RULE_TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    summary: str
    rule_text: str
    language: str
    def __init__(self, summary: _Optional[str] = ..., rule_text: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("customer_id", "target", "as_of_ms")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    target: Target
    as_of_ms: int
    def __init__(self, customer_id: _Optional[str] = ..., target: _Optional[_Union[Target, _Mapping]] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class ExplainNode(_message.Message):
    __slots__ = ("path", "kind", "rule", "holds", "facts_json", "children")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    FACTS_JSON_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    path: str
    kind: str
    rule: str
    holds: bool
    facts_json: str
    children: _containers.RepeatedCompositeFieldContainer[ExplainNode]
    def __init__(self, path: _Optional[str] = ..., kind: _Optional[str] = ..., rule: _Optional[str] = ..., holds: _Optional[bool] = ..., facts_json: _Optional[str] = ..., children: _Optional[_Iterable[_Union[ExplainNode, _Mapping]]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("customer_id", "member", "root", "as_of_ms")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    member: bool
    root: ExplainNode
    as_of_ms: int
    def __init__(self, customer_id: _Optional[str] = ..., member: _Optional[bool] = ..., root: _Optional[_Union[ExplainNode, _Mapping]] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class MemberProfilesRequest(_message.Message):
    __slots__ = ("target", "columns", "sort_by", "descending", "page_size", "page_token", "as_of_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SORT_BY_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    target: Target
    columns: _containers.RepeatedScalarFieldContainer[str]
    sort_by: str
    descending: bool
    page_size: int
    page_token: str
    as_of_ms: int
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., columns: _Optional[_Iterable[str]] = ..., sort_by: _Optional[str] = ..., descending: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class ProfileRow(_message.Message):
    __slots__ = ("customer_id", "values", "present")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    values: _containers.RepeatedScalarFieldContainer[str]
    present: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, customer_id: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., present: _Optional[_Iterable[bool]] = ...) -> None: ...

class MemberProfilesResponse(_message.Message):
    __slots__ = ("rows", "next_page_token", "total_count", "as_of_ms")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ProfileRow]
    next_page_token: str
    total_count: int
    as_of_ms: int
    def __init__(self, rows: _Optional[_Iterable[_Union[ProfileRow, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class CustomerProfileRequest(_message.Message):
    __slots__ = ("customer_id", "recent_events", "as_of_ms")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    RECENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    recent_events: int
    as_of_ms: int
    def __init__(self, customer_id: _Optional[str] = ..., recent_events: _Optional[int] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class ProfileEvent(_message.Message):
    __slots__ = ("type", "ts", "attributes_json")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    type: str
    ts: str
    attributes_json: str
    def __init__(self, type: _Optional[str] = ..., ts: _Optional[str] = ..., attributes_json: _Optional[str] = ...) -> None: ...

class CustomerProfileResponse(_message.Message):
    __slots__ = ("customer_id", "properties", "computed", "recent_events")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ComputedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_FIELD_NUMBER: _ClassVar[int]
    RECENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    properties: _containers.ScalarMap[str, str]
    computed: _containers.ScalarMap[str, str]
    recent_events: _containers.RepeatedCompositeFieldContainer[ProfileEvent]
    def __init__(self, customer_id: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ..., computed: _Optional[_Mapping[str, str]] = ..., recent_events: _Optional[_Iterable[_Union[ProfileEvent, _Mapping]]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("target", "columns", "mandatory", "as_of_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MANDATORY_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    target: Target
    columns: _containers.RepeatedScalarFieldContainer[str]
    mandatory: _containers.RepeatedScalarFieldContainer[str]
    as_of_ms: int
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., columns: _Optional[_Iterable[str]] = ..., mandatory: _Optional[_Iterable[str]] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class ExportSummary(_message.Message):
    __slots__ = ("rows", "left_out", "members", "as_of_ms")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    left_out: int
    members: int
    as_of_ms: int
    def __init__(self, rows: _Optional[int] = ..., left_out: _Optional[int] = ..., members: _Optional[int] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("csv", "summary", "done", "total")
    CSV_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    csv: str
    summary: ExportSummary
    done: int
    total: int
    def __init__(self, csv: _Optional[str] = ..., summary: _Optional[_Union[ExportSummary, _Mapping]] = ..., done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class ExportToFileRequest(_message.Message):
    __slots__ = ("export", "file_name")
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    export: ExportRequest
    file_name: str
    def __init__(self, export: _Optional[_Union[ExportRequest, _Mapping]] = ..., file_name: _Optional[str] = ...) -> None: ...

class ExportToFileResponse(_message.Message):
    __slots__ = ("path", "summary")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    path: str
    summary: ExportSummary
    def __init__(self, path: _Optional[str] = ..., summary: _Optional[_Union[ExportSummary, _Mapping]] = ...) -> None: ...

class ExportSchedule(_message.Message):
    __slots__ = ("schedule_id", "segment_id", "every", "mode", "columns", "mandatory", "created_at_ms", "deleted", "runs", "last_run")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MANDATORY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    segment_id: str
    every: str
    mode: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    mandatory: _containers.RepeatedScalarFieldContainer[str]
    created_at_ms: int
    deleted: bool
    runs: int
    last_run: ExportRun
    def __init__(self, schedule_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., every: _Optional[str] = ..., mode: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., mandatory: _Optional[_Iterable[str]] = ..., created_at_ms: _Optional[int] = ..., deleted: _Optional[bool] = ..., runs: _Optional[int] = ..., last_run: _Optional[_Union[ExportRun, _Mapping]] = ...) -> None: ...

class ExportRun(_message.Message):
    __slots__ = ("due_ms", "at_ms", "rows", "left_out", "members", "path", "mode")
    DUE_MS_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    due_ms: int
    at_ms: int
    rows: int
    left_out: int
    members: int
    path: str
    mode: str
    def __init__(self, due_ms: _Optional[int] = ..., at_ms: _Optional[int] = ..., rows: _Optional[int] = ..., left_out: _Optional[int] = ..., members: _Optional[int] = ..., path: _Optional[str] = ..., mode: _Optional[str] = ...) -> None: ...

class CreateExportScheduleRequest(_message.Message):
    __slots__ = ("segment_id", "schedule_id", "every", "mode", "columns", "mandatory")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MANDATORY_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    schedule_id: str
    every: str
    mode: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    mandatory: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, segment_id: _Optional[str] = ..., schedule_id: _Optional[str] = ..., every: _Optional[str] = ..., mode: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., mandatory: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateExportScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: ExportSchedule
    def __init__(self, schedule: _Optional[_Union[ExportSchedule, _Mapping]] = ...) -> None: ...

class ListExportSchedulesRequest(_message.Message):
    __slots__ = ("segment_id", "include_deleted")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    include_deleted: bool
    def __init__(self, segment_id: _Optional[str] = ..., include_deleted: _Optional[bool] = ...) -> None: ...

class ListExportSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[ExportSchedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[ExportSchedule, _Mapping]]] = ...) -> None: ...

class DeleteExportScheduleRequest(_message.Message):
    __slots__ = ("schedule_id",)
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ...) -> None: ...

class DeleteExportScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: ExportSchedule
    def __init__(self, schedule: _Optional[_Union[ExportSchedule, _Mapping]] = ...) -> None: ...

class ListExportRunsRequest(_message.Message):
    __slots__ = ("schedule_id", "page_size", "page_token")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    page_size: int
    page_token: str
    def __init__(self, schedule_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListExportRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[ExportRun]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[ExportRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

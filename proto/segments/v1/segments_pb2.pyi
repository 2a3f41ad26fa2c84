from proto.segments.v1 import query_pb2 as _query_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChangeReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_REASON_UNSPECIFIED: _ClassVar[ChangeReason]
    CHANGE_REASON_EVENT: _ClassVar[ChangeReason]
    CHANGE_REASON_PROFILE: _ClassVar[ChangeReason]
    CHANGE_REASON_ERASURE: _ClassVar[ChangeReason]
    CHANGE_REASON_TIME: _ClassVar[ChangeReason]
    CHANGE_REASON_RULE_EDIT: _ClassVar[ChangeReason]
    CHANGE_REASON_ACTIVATED: _ClassVar[ChangeReason]
    CHANGE_REASON_DEPENDENCY: _ClassVar[ChangeReason]
CHANGE_REASON_UNSPECIFIED: ChangeReason
CHANGE_REASON_EVENT: ChangeReason
CHANGE_REASON_PROFILE: ChangeReason
CHANGE_REASON_ERASURE: ChangeReason
CHANGE_REASON_TIME: ChangeReason
CHANGE_REASON_RULE_EDIT: ChangeReason
CHANGE_REASON_ACTIVATED: ChangeReason
CHANGE_REASON_DEPENDENCY: ChangeReason

class CampaignRef(_message.Message):
    __slots__ = ("campaign_id", "active")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    active: bool
    def __init__(self, campaign_id: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("segment_id", "version", "latest_version", "name", "description", "rule", "rule_text", "tags", "active", "created_at_ms", "version_at_ms", "updated_at_ms", "op", "from_version", "deleted", "campaigns")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    version: int
    latest_version: int
    name: str
    description: str
    rule: _query_pb2.Rule
    rule_text: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    active: bool
    created_at_ms: int
    version_at_ms: int
    updated_at_ms: int
    op: str
    from_version: int
    deleted: bool
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignRef]
    def __init__(self, segment_id: _Optional[str] = ..., version: _Optional[int] = ..., latest_version: _Optional[int] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[_Union[_query_pb2.Rule, _Mapping]] = ..., rule_text: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., active: _Optional[bool] = ..., created_at_ms: _Optional[int] = ..., version_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., op: _Optional[str] = ..., from_version: _Optional[int] = ..., deleted: _Optional[bool] = ..., campaigns: _Optional[_Iterable[_Union[CampaignRef, _Mapping]]] = ...) -> None: ...

class CreateSegmentRequest(_message.Message):
    __slots__ = ("segment_id", "name", "description", "rule", "tags", "active", "template_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    name: str
    description: str
    rule: _query_pb2.Rule
    tags: _containers.RepeatedScalarFieldContainer[str]
    active: bool
    template_id: str
    def __init__(self, segment_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[_Union[_query_pb2.Rule, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., active: _Optional[bool] = ..., template_id: _Optional[str] = ...) -> None: ...

class CreateSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class EditSegmentRequest(_message.Message):
    __slots__ = ("segment_id", "name", "description", "rule", "tags", "set_tags", "active")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    SET_TAGS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    name: str
    description: str
    rule: _query_pb2.Rule
    tags: _containers.RepeatedScalarFieldContainer[str]
    set_tags: bool
    active: bool
    def __init__(self, segment_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[_Union[_query_pb2.Rule, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., set_tags: _Optional[bool] = ..., active: _Optional[bool] = ...) -> None: ...

class EditSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("segment_id", "version", "include_deleted")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    version: int
    include_deleted: bool
    def __init__(self, segment_id: _Optional[str] = ..., version: _Optional[int] = ..., include_deleted: _Optional[bool] = ...) -> None: ...

class GetSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class ListSegmentVersionsRequest(_message.Message):
    __slots__ = ("segment_id", "include_deleted", "page_size", "page_token")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    include_deleted: bool
    page_size: int
    page_token: str
    def __init__(self, segment_id: _Optional[str] = ..., include_deleted: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[Segment]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("name_contains", "tag", "include_deleted", "page_size", "page_token")
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name_contains: str
    tag: str
    include_deleted: bool
    page_size: int
    page_token: str
    def __init__(self, name_contains: _Optional[str] = ..., tag: _Optional[str] = ..., include_deleted: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token", "total_count")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    next_page_token: str
    total_count: int
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class DeleteSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class DeleteSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class RollbackSegmentRequest(_message.Message):
    __slots__ = ("segment_id", "version")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    version: int
    def __init__(self, segment_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class RollbackSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class AttachCampaignRequest(_message.Message):
    __slots__ = ("segment_id", "campaign_id", "active")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    campaign_id: str
    active: bool
    def __init__(self, segment_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class AttachCampaignResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class DetachCampaignRequest(_message.Message):
    __slots__ = ("segment_id", "campaign_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    campaign_id: str
    def __init__(self, segment_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class DetachCampaignResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class DryRunEditRequest(_message.Message):
    __slots__ = ("segment_id", "rule", "as_of_ms", "samples")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    rule: _query_pb2.Rule
    as_of_ms: int
    samples: int
    def __init__(self, segment_id: _Optional[str] = ..., rule: _Optional[_Union[_query_pb2.Rule, _Mapping]] = ..., as_of_ms: _Optional[int] = ..., samples: _Optional[int] = ...) -> None: ...

class DryRunEditResponse(_message.Message):
    __slots__ = ("as_of_ms", "before_count", "after_count", "entering", "exiting", "entering_samples", "exiting_samples")
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_COUNT_FIELD_NUMBER: _ClassVar[int]
    AFTER_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENTERING_FIELD_NUMBER: _ClassVar[int]
    EXITING_FIELD_NUMBER: _ClassVar[int]
    ENTERING_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    EXITING_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    as_of_ms: int
    before_count: int
    after_count: int
    entering: int
    exiting: int
    entering_samples: _containers.RepeatedScalarFieldContainer[str]
    exiting_samples: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, as_of_ms: _Optional[int] = ..., before_count: _Optional[int] = ..., after_count: _Optional[int] = ..., entering: _Optional[int] = ..., exiting: _Optional[int] = ..., entering_samples: _Optional[_Iterable[str]] = ..., exiting_samples: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Template(_message.Message):
    __slots__ = ("template_id", "name", "description", "tags", "rule", "rule_text")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_TEXT_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    name: str
    description: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    rule: _query_pb2.Rule
    rule_text: str
    def __init__(self, template_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., rule: _Optional[_Union[_query_pb2.Rule, _Mapping]] = ..., rule_text: _Optional[str] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    def __init__(self, templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ...) -> None: ...

class SegmentCountRequest(_message.Message):
    __slots__ = ("segment_id", "as_of_ms")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    as_of_ms: int
    def __init__(self, segment_id: _Optional[str] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class SegmentCountResponse(_message.Message):
    __slots__ = ("count", "as_of_ms", "clock_ms", "last_update_ms", "active")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_MS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    count: int
    as_of_ms: int
    clock_ms: int
    last_update_ms: int
    active: bool
    def __init__(self, count: _Optional[int] = ..., as_of_ms: _Optional[int] = ..., clock_ms: _Optional[int] = ..., last_update_ms: _Optional[int] = ..., active: _Optional[bool] = ...) -> None: ...

class SegmentMembersRequest(_message.Message):
    __slots__ = ("segment_id", "as_of_ms", "page_size", "page_token")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    as_of_ms: int
    page_size: int
    page_token: str
    def __init__(self, segment_id: _Optional[str] = ..., as_of_ms: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SegmentMembersResponse(_message.Message):
    __slots__ = ("customer_ids", "next_page_token", "total_count", "as_of_ms")
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    total_count: int
    as_of_ms: int
    def __init__(self, customer_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class SegmentSizeHistoryRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class DailySize(_message.Message):
    __slots__ = ("date", "count")
    DATE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    date: str
    count: int
    def __init__(self, date: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class SegmentSizeHistoryResponse(_message.Message):
    __slots__ = ("days", "time_zone")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailySize]
    time_zone: str
    def __init__(self, days: _Optional[_Iterable[_Union[DailySize, _Mapping]]] = ..., time_zone: _Optional[str] = ...) -> None: ...

class SegmentChange(_message.Message):
    __slots__ = ("segment_id", "customer_id", "entered", "at_ms", "reason", "event_id", "version", "upstream_segment_id", "shard", "seq")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    customer_id: str
    entered: bool
    at_ms: int
    reason: ChangeReason
    event_id: str
    version: int
    upstream_segment_id: str
    shard: int
    seq: int
    def __init__(self, segment_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., entered: _Optional[bool] = ..., at_ms: _Optional[int] = ..., reason: _Optional[_Union[ChangeReason, str]] = ..., event_id: _Optional[str] = ..., version: _Optional[int] = ..., upstream_segment_id: _Optional[str] = ..., shard: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class SegmentChangesRequest(_message.Message):
    __slots__ = ("segment_ids", "customer_id", "from_ms", "to_ms", "page_size", "page_token", "position_token")
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_MS_FIELD_NUMBER: _ClassVar[int]
    TO_MS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    POSITION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    customer_id: str
    from_ms: int
    to_ms: int
    page_size: int
    page_token: str
    position_token: str
    def __init__(self, segment_ids: _Optional[_Iterable[str]] = ..., customer_id: _Optional[str] = ..., from_ms: _Optional[int] = ..., to_ms: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., position_token: _Optional[str] = ...) -> None: ...

class SegmentChangesResponse(_message.Message):
    __slots__ = ("changes", "next_page_token", "position_token")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    POSITION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[SegmentChange]
    next_page_token: str
    position_token: str
    def __init__(self, changes: _Optional[_Iterable[_Union[SegmentChange, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., position_token: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("segment_ids", "position_token", "heartbeat_interval_ms")
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    POSITION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    position_token: str
    heartbeat_interval_ms: int
    def __init__(self, segment_ids: _Optional[_Iterable[str]] = ..., position_token: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class SegmentChangeBatch(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[SegmentChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[SegmentChange, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("server_time_ms",)
    SERVER_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    server_time_ms: int
    def __init__(self, server_time_ms: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("changes", "heartbeat", "position_token")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    POSITION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    changes: SegmentChangeBatch
    heartbeat: Heartbeat
    position_token: str
    def __init__(self, changes: _Optional[_Union[SegmentChangeBatch, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., position_token: _Optional[str] = ...) -> None: ...

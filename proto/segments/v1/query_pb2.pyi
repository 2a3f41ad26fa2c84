from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rule(_message.Message):
    __slots__ = ("text", "json")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    text: str
    json: str
    def __init__(self, text: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("rule", "as_of_ms")
    RULE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    as_of_ms: int
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count", "as_of_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    as_of_ms: int
    def __init__(self, count: _Optional[int] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class PreviewRequest(_message.Message):
    __slots__ = ("rule", "as_of_ms", "sample_size")
    RULE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    as_of_ms: int
    sample_size: int
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ..., as_of_ms: _Optional[int] = ..., sample_size: _Optional[int] = ...) -> None: ...

class PreviewResponse(_message.Message):
    __slots__ = ("count", "sample_customer_ids", "rule_text", "as_of_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    RULE_TEXT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    sample_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    rule_text: str
    as_of_ms: int
    def __init__(self, count: _Optional[int] = ..., sample_customer_ids: _Optional[_Iterable[str]] = ..., rule_text: _Optional[str] = ..., as_of_ms: _Optional[int] = ...) -> None: ...

class MembersRequest(_message.Message):
    __slots__ = ("rule", "as_of_ms", "page_size", "page_token")
    RULE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_MS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    as_of_ms: int
    page_size: int
    page_token: str
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ..., as_of_ms: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class MembersResponse(_message.Message):
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

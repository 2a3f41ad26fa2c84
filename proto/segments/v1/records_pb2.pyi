from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("string_value", "decimal_value", "double_value", "int_value", "bool_value", "list_value", "null_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    DECIMAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    decimal_value: str
    double_value: float
    int_value: int
    bool_value: bool
    list_value: StringList
    null_value: bool
    def __init__(self, string_value: _Optional[str] = ..., decimal_value: _Optional[str] = ..., double_value: _Optional[float] = ..., int_value: _Optional[int] = ..., bool_value: _Optional[bool] = ..., list_value: _Optional[_Union[StringList, _Mapping]] = ..., null_value: _Optional[bool] = ...) -> None: ...

class Timestamp(_message.Message):
    __slots__ = ("rfc3339", "epoch_ms")
    RFC3339_FIELD_NUMBER: _ClassVar[int]
    EPOCH_MS_FIELD_NUMBER: _ClassVar[int]
    rfc3339: str
    epoch_ms: int
    def __init__(self, rfc3339: _Optional[str] = ..., epoch_ms: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "customer_id", "type", "ts", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    customer_id: str
    type: str
    ts: Timestamp
    attrs: _containers.MessageMap[str, Value]
    def __init__(self, event_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., type: _Optional[str] = ..., ts: _Optional[_Union[Timestamp, _Mapping]] = ..., attrs: _Optional[_Mapping[str, Value]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("customer_id", "ts", "properties")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    ts: Timestamp
    properties: _containers.MessageMap[str, Value]
    def __init__(self, customer_id: _Optional[str] = ..., ts: _Optional[_Union[Timestamp, _Mapping]] = ..., properties: _Optional[_Mapping[str, Value]] = ...) -> None: ...

class Erasure(_message.Message):
    __slots__ = ("forget_customer", "ts")
    FORGET_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    forget_customer: str
    ts: Timestamp
    def __init__(self, forget_customer: _Optional[str] = ..., ts: _Optional[_Union[Timestamp, _Mapping]] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("event", "profile", "erasure")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    event: Event
    profile: Profile
    erasure: Erasure
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., profile: _Optional[_Union[Profile, _Mapping]] = ..., erasure: _Optional[_Union[Erasure, _Mapping]] = ...) -> None: ...

from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TypeSpec(_message.Message):
    __slots__ = ("type", "scale", "values")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    type: str
    scale: int
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[str] = ..., scale: _Optional[int] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class PropertyDeclaration(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: TypeSpec
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[TypeSpec, _Mapping]] = ...) -> None: ...

class EventDeclaration(_message.Message):
    __slots__ = ("name", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TypeSpec
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TypeSpec, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    attributes: _containers.MessageMap[str, TypeSpec]
    def __init__(self, name: _Optional[str] = ..., attributes: _Optional[_Mapping[str, TypeSpec]] = ...) -> None: ...

class Declaration(_message.Message):
    __slots__ = ("property", "event")
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    property: PropertyDeclaration
    event: EventDeclaration
    def __init__(self, property: _Optional[_Union[PropertyDeclaration, _Mapping]] = ..., event: _Optional[_Union[EventDeclaration, _Mapping]] = ...) -> None: ...

class DeclareRequest(_message.Message):
    __slots__ = ("declarations", "ts_ms")
    DECLARATIONS_FIELD_NUMBER: _ClassVar[int]
    TS_MS_FIELD_NUMBER: _ClassVar[int]
    declarations: _containers.RepeatedCompositeFieldContainer[Declaration]
    ts_ms: int
    def __init__(self, declarations: _Optional[_Iterable[_Union[Declaration, _Mapping]]] = ..., ts_ms: _Optional[int] = ...) -> None: ...

class DeclareResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...

class GetSchemaRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PropertyInfo(_message.Message):
    __slots__ = ("name", "type", "computed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: TypeSpec
    computed: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[TypeSpec, _Mapping]] = ..., computed: _Optional[bool] = ...) -> None: ...

class EventTypeInfo(_message.Message):
    __slots__ = ("name", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TypeSpec
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TypeSpec, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    attributes: _containers.MessageMap[str, TypeSpec]
    def __init__(self, name: _Optional[str] = ..., attributes: _Optional[_Mapping[str, TypeSpec]] = ...) -> None: ...

class GetSchemaResponse(_message.Message):
    __slots__ = ("properties", "event_types", "time_zone")
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.RepeatedCompositeFieldContainer[PropertyInfo]
    event_types: _containers.RepeatedCompositeFieldContainer[EventTypeInfo]
    time_zone: str
    def __init__(self, properties: _Optional[_Iterable[_Union[PropertyInfo, _Mapping]]] = ..., event_types: _Optional[_Iterable[_Union[EventTypeInfo, _Mapping]]] = ..., time_zone: _Optional[str] = ...) -> None: ...

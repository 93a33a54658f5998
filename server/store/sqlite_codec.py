"""Record <-> JSON body conversion for the SQLite store.

Bodies are `Record.to_dict()` serialised with orjson (enums become their string values). On the
way back `from_dict` receives those strings; `decode` turns them into real enum members where
the dataclass field is an enum, so records read back equal the ones written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing
from enum import Enum
from typing import Any, TypeVar

import orjson

from server.domain.models import Record

R = TypeVar("R", bound=Record)

_ENUM_FIELDS: dict[type[Any], tuple[tuple[str, type[Enum]], ...]] = {}


def encode(record: Record) -> str:
    return orjson.dumps(record.to_dict(), option=orjson.OPT_NON_STR_KEYS).decode()


def dumps(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()


def decode(kind: type[R], body: str | bytes) -> R:
    record = kind.from_dict(orjson.loads(body))
    fix_enums(record)
    return record


def enum_value(value: Any) -> Any:
    """The stored form of a possibly-enum column value."""
    return value.value if isinstance(value, Enum) else value


def fix_enums(record: Any) -> None:
    """Replace enum-typed fields holding plain strings with enum members, nested records
    included. Unknown values (an enum member removed since the row was written) stay strings."""
    cls = type(record)
    for name, enum_cls in _enum_fields(cls):
        value = getattr(record, name)
        if value is not None and not isinstance(value, enum_cls):
            with contextlib.suppress(ValueError):
                setattr(record, name, enum_cls(value))
    for name in getattr(cls, "_nested", {}):
        value = getattr(record, name, None)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, Record):
                    fix_enums(item)
        elif isinstance(value, Record):
            fix_enums(value)


def _enum_fields(cls: type[Any]) -> tuple[tuple[str, type[Enum]], ...]:
    cached = _ENUM_FIELDS.get(cls)
    if cached is not None:
        return cached
    found: list[tuple[str, type[Enum]]] = []
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints.get(f.name)
            for candidate in (hint, *typing.get_args(hint)):
                if isinstance(candidate, type) and issubclass(candidate, Enum):
                    found.append((f.name, candidate))
                    break
    cached = tuple(found)
    _ENUM_FIELDS[cls] = cached
    return cached

"""What a job's return value is stored as: JSON data, converted by documented rules, or refused.

A result is kept in the job's record and read back by `handle.result()` and `jobs show`; a value
silently stored as something else (its repr, `null` for NaN) would hand those readers a different
result. So what converts losslessly by a documented rule converts, and the rest fails the
attempt with `UnstorableResult`, naming the type, where it is and the limit: returning it again
would fail again, so it is not retried.

Converts: JSON types as they are; pydantic models and pydantic dataclasses as pydantic dumps them
to JSON (by alias, their own serializers and settings apply); dataclasses, field by field;
datetime, date, time (ISO 8601), timedelta (ISO 8601 duration), UUID, Decimal and Path as
strings; an Enum as its value; set, frozenset and tuple as lists; dict keys that are strings,
integers, UUIDs or such Enums. Refused: bytes, NaN and infinity, integers of more than 4,200
digits (which JSON readers refuse), any other object, other dict keys, nesting deeper than
`jsonsafe.MAX_DEPTH` (or circular), lone surrogates, and a result larger than
JOBS_MAX_RESULT_BYTES as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import re
import uuid
from typing import Any

from pydantic_core import PydanticSerializationError, to_json, to_jsonable_python

from .. import jsonsafe

_ISO_AND_TEXT = (datetime.date, datetime.time, datetime.timedelta, uuid.UUID, decimal.Decimal)


class UnstorableResult(ValueError):
    """A job returned something the record cannot hold faithfully; the message says what and where."""


def storable(result: Any, max_bytes: int) -> Any:
    """`result` as JSON data within `max_bytes`; raises `UnstorableResult`.

    None, booleans, integers and short text, what most jobs return, cost a type check or two.
    """
    kind = type(result)
    if result is None or kind is bool or (kind is int and result.bit_length() <= _MAX_INT_BITS):
        return result
    if kind is str and len(result) * 6 + 2 <= max_bytes and (result.isascii() or not _surrogate(result)):
        return result  # no character takes more than 6 bytes in JSON (\u001f)
    try:
        value = _convert(result, 1)
    except _Refused as exc:
        where = "result" + "".join(reversed(exc.path[-jsonsafe.MAX_PATH_STEPS :]))
        raise UnstorableResult(f"{where}: {exc.reason}") from None
    except Exception as exc:  # noqa: BLE001 - a model's own serializer, a property: whatever user code raises
        raise UnstorableResult(f"result: converting it to JSON raised {_type_name(exc)}: {_first_line(exc)}") from None
    size = _json_size(value)
    if size > max_bytes:
        raise UnstorableResult(
            f"the result is {size} bytes as JSON, over the {max_bytes} byte limit (JOBS_MAX_RESULT_BYTES); "
            "store large results elsewhere and return their id"
        )
    return value


_MAX_INT_BITS = jsonsafe.MAX_INT_BITS
_surrogate = re.compile("[\ud800-\udfff]").search


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.path: list[str] = []  # innermost step first, added on the way out


def _convert(value: Any, depth: int) -> Any:
    """One value and what it holds. Plain leaves of a dict or list are taken in the loop, and
    loops stand in for comprehensions (a frame each): one frame per level of nesting."""
    kind = type(value)
    if kind is str:
        if value.isascii() or not _surrogate(value):
            return value
        raise _Refused("text with a lone surrogate, which UTF-8 cannot encode")
    if value is None or kind is bool:
        return value
    if kind is int:
        if value.bit_length() <= _MAX_INT_BITS:
            return value
        raise _Refused("an integer of more than 4,200 digits, which JSON readers (Python's too) refuse")
    if kind is float:
        if math.isfinite(value):
            return value
        raise _Refused(f"{value!r}, which JSON cannot hold")
    if depth > jsonsafe.MAX_DEPTH:
        raise _Refused(f"nesting deeper than {jsonsafe.MAX_DEPTH} levels (or a circular reference)")
    if isinstance(value, dict):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or not _surrogate(key)):
                key = _key(key)
            leaf = type(item)
            if (
                (leaf is str and item.isascii())
                or item is None
                or leaf is bool
                or (leaf is int and item.bit_length() < 64)
            ):
                converted[key] = item
                continue
            try:
                converted[key] = _convert(item, depth + 1)
            except _Refused as exc:
                exc.path.append(f"[{key!r}]")
                raise
        return converted
    if isinstance(value, list | tuple | set | frozenset):
        items: list[Any] = []
        for index, item in enumerate(value):
            leaf = type(item)
            if (
                (leaf is str and item.isascii())
                or item is None
                or leaf is bool
                or (leaf is int and item.bit_length() < 64)
            ):
                items.append(item)
                continue
            try:
                items.append(_convert(item, depth + 1))
            except _Refused as exc:
                exc.path.append(f"[{index}]" if isinstance(value, list | tuple) else "[<a member>]")
                raise
        return items
    return _convert_object(value, depth)


def _convert_object(value: Any, depth: int) -> Any:
    if isinstance(value, enum.Enum):
        return _convert(value.value, depth)
    for plain in (int, float, str):  # a subclass of a JSON type is stored as that type
        if isinstance(value, plain):
            return _convert(plain(value), depth)
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None and not isinstance(value, type):
        try:
            dumped = serializer.to_python(value, mode="json", by_alias=True)
        except ValueError as exc:  # PydanticSerializationError among them
            raise _Refused(f"a {_type_name(value)} that pydantic cannot dump to JSON ({_first_line(exc)})") from None
        return _convert(dumped, depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            try:
                fields[field.name] = _convert(getattr(value, field.name), depth + 1)
            except _Refused as exc:
                exc.path.append(f".{field.name}")
                raise
        return fields
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, _ISO_AND_TEXT):
        return to_jsonable_python(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise _Refused(f"{type(value).__name__}, which JSON cannot hold (decode them to text, or base64-encode them)")
    hint = "return JSON data, a pydantic model or a dataclass"
    raise _Refused(f"a value of type {_type_name(value)}, which has no JSON form ({hint})")


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        if not key.isascii() and _surrogate(key):
            raise _Refused("a key with a lone surrogate, which UTF-8 cannot encode")
        return str(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return str(int(key))
    if isinstance(key, uuid.UUID):
        return str(key)
    raise _Refused(f"a key of type {_type_name(key)}; JSON keys are text (str, int, UUID, or an Enum of them)")


def _first_line(exc: BaseException) -> str:
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # noqa: BLE001 - a __str__ that raises
        return "<unprintable>"
    return lines[0][:200] if lines else type(exc).__name__


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _json_size(value: Any) -> int:
    """Bytes of `value` as the record writes it (its serializer stops at 255 levels; the standard
    library's takes deeper data)."""
    try:
        return len(to_json(value))
    except PydanticSerializationError:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

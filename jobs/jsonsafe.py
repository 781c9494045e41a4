"""JSON data every reader of the library can handle: bounded nesting, no lone surrogate, no NaN.

Python's parser accepts what the library's own writers and readers then break on: nesting deep
enough to exhaust the recursion limit, `"\\ud800"` (a string no UTF-8 stream can print), and
`NaN` (not JSON at all). Stored jobs written by something other than `trigger` are held to these
limits (`problem`), and readers replace what breaks them (`repaired`) instead of raising.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_DEPTH = 512
"""Levels of nested arrays and objects in a payload or result. The trigger's serializer stops at
255 of its own levels, which a recursive model (a list of nodes) renders as about twice as many in
JSON; 512 holds that and stays well inside the interpreter's recursion limit (1000), which the
standard library's parser and indenting encoder spend about one frame per level of."""

MAX_PATH_STEPS = 12  # of a path shown in a message

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_OVERFLOW = re.compile(rb"\d[eE]\+?0*[1-9]\d\d|\d{309}")  # an exponent of 100 or more, 309 digits in a row
MAX_INT_BITS = 14_000  # about 4,200 digits: Python's parser and str() refuse more than 4,300


def problem(value: Any, where: str = "$") -> str | None:
    """What makes parsed JSON `value` unfit to store or show, at which path; None if it is fit."""
    found = _problem(value, 1)
    if found is None:
        return None
    reason, path = found
    steps = "".join(reversed(path[-MAX_PATH_STEPS:])) + ("..." if len(path) > MAX_PATH_STEPS else "")
    return f"{reason} at {where}{steps}"


def _problem(value: Any, depth: int) -> tuple[str, list[str]] | None:
    """The reason and the path to it, innermost step first (built only on the way out of a find)."""
    if isinstance(value, str):
        return None if value.isascii() or not _LONE_SURROGATE.search(value) else ("a lone surrogate", [])
    if isinstance(value, float):
        return None if math.isfinite(value) else (f"a number JSON cannot hold ({value!r})", [])
    if not isinstance(value, dict | list):
        return None
    if depth > MAX_DEPTH:
        return (f"nesting deeper than {MAX_DEPTH} levels", [])
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _problem(item, depth + 1)
            if found:
                found[1].append(f"[{index}]")
                return found
        return None
    for key, item in value.items():
        found = _problem(key, depth)
        if found:
            found[1].append(" (a key)")
            return found
        found = _problem(item, depth + 1)
        if found:
            found[1].append(f"[{key!r}]")
            return found
    return None


def may_overflow(raw: bytes) -> bool:
    """Whether JSON `raw` may hold a number too large for a float (1e999), which parsers read as
    infinity; a cheap scan, so data without one skips the walk."""
    return _OVERFLOW.search(raw) is not None


def repaired(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """`value` as data any JSON writer and reader handles: lone surrogates become U+FFFD, NaN and
    infinity null, what is nested deeper than `max_depth` a placeholder string, other objects their repr."""
    return _repaired(value, max_depth)


def _repaired(value: Any, levels_left: int) -> Any:
    if isinstance(value, str):
        return text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= MAX_INT_BITS else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if levels_left <= 0:
            return f"<unreadable: nested deeper than {MAX_DEPTH} levels>"
        # Loops, not comprehensions: a comprehension is a frame of its own, twice the recursion.
        if isinstance(value, dict):
            mapping = {}
            for k, v in value.items():
                mapping[text(str(k))] = _repaired(v, levels_left - 1)
            return mapping
        items = []
        for v in value:
            items.append(_repaired(v, levels_left - 1))
        return items
    try:
        return text(repr(value))
    except Exception:  # noqa: BLE001 - a __repr__ that raises
        return f"<unrepresentable {type(value).__qualname__}>"


def text(value: str) -> str:
    """`value` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    if value.isascii() or not _LONE_SURROGATE.search(value):
        return value
    return _LONE_SURROGATE.sub("\ufffd", value)

"""Decode a stored job (arq's JSON layout) without ever trusting it: JSON only, never pickle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json


@dataclass(frozen=True, slots=True)
class StoredJob:
    name: str
    payload: Any
    enqueued_ms: int


class UndecodableJob(ValueError):
    """The stored bytes are not a job this library wrote (garbage, truncated, pickle, missing)."""


def decode(raw: bytes | None) -> StoredJob:
    if raw is None:
        raise UndecodableJob("the stored job is missing (removed while queued)")
    try:
        data = from_json(raw)  # native and fast; it refuses deep nesting the trigger allows (254 levels)
    except ValueError:
        try:
            data = json.loads(raw)  # so the standard parser decides, and words the error
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, absurd nesting
            raise UndecodableJob(f"the stored job is not valid JSON ({_short(exc)}); it was not run") from None
    if not isinstance(data, dict) or not isinstance(data.get("f"), str):
        raise UndecodableJob("the stored job has no job name ('f'); it was not run")
    args, kwargs = data.get("a") or [], data.get("k") or {}
    if isinstance(args, list) and len(args) == 1 and not kwargs:
        payload = args[0]
    elif not args and isinstance(kwargs, dict):
        payload = kwargs  # enqueued by plain arq with keyword arguments
    else:
        raise UndecodableJob("the stored job must carry exactly one payload argument")
    enqueued = data.get("et")
    return StoredJob(name=data["f"], payload=payload, enqueued_ms=enqueued if isinstance(enqueued, int) else 0)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."

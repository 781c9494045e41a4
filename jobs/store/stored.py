"""Decode a stored job (arq's JSON layout) without ever trusting it: JSON only, never pickle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

from .. import jsonsafe

MAX_SHOWN_NAME = 200


@dataclass(frozen=True, slots=True)
class StoredJob:
    name: str
    payload: Any
    enqueued_ms: int
    cancelled: bool = False  # marked by `jobs cancel` while a worker held it (store/lua/cancel.lua)


class UndecodableJob(ValueError):
    """The stored bytes are not a job this library wrote (garbage, truncated, pickle, missing)."""


def decode(raw: bytes | None) -> StoredJob:
    if raw is None:
        raise UndecodableJob("the stored job is missing (removed while queued)")
    try:
        # Native, fast and strict: no NaN, no lone surrogate, valid UTF-8, at most 200 levels.
        data, strict = from_json(raw, allow_inf_nan=False), True
    except ValueError:
        try:
            data, strict = json.loads(raw), False  # so the standard parser decides, and words the error
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
    if not strict:  # what the native parser refused, the trigger would have refused too
        problem = jsonsafe.problem(data["f"], "the job name") or jsonsafe.problem(payload, "payload")
        if problem:
            raise UndecodableJob(f"the stored job holds {_short(problem)}, which `trigger` refuses; it was not run")
    enqueued = data.get("et")
    return StoredJob(data["f"], payload, enqueued if isinstance(enqueued, int) else 0, "cancel" in data)


def shown_name(name: str) -> str:
    """A job name read from Redis, bounded for log lines and records: the name of a job no
    trigger wrote may be megabytes long."""
    if len(name) <= MAX_SHOWN_NAME:
        return name
    return f"{name[:MAX_SHOWN_NAME]}... [{len(name) - MAX_SHOWN_NAME} characters truncated]"


def _short(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."

"""What is kept about a finished job: one JSON document per job, read back as `JobRecord`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic_core import from_json, to_json

from . import jsonsafe
from .clock import from_ms


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"  # due now, waiting for a worker
    SCHEDULED = "scheduled"  # delayed, or waiting for its next attempt after a failure
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # cancelled before it finished (`jobs cancel`): retained like a failure, never retried
    NOT_FOUND = "not_found"  # never existed, or no longer retained


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A retained finished job: its payload, result or error, attempts and timestamps (ms)."""

    id: str
    job: str
    queue: str
    status: JobStatus
    payload: Any
    result: Any
    error: ErrorInfo | None
    attempts: int
    enqueued_ms: int
    started_ms: int
    finished_ms: int
    priority: int = 0  # the priority it was triggered with (`jobs retry` keeps it); 0 is not stored

    @property
    def enqueued_at(self) -> datetime | None:
        return from_ms(self.enqueued_ms)

    @property
    def started_at(self) -> datetime | None:
        return from_ms(self.started_ms)

    @property
    def finished_at(self) -> datetime | None:
        return from_ms(self.finished_ms)

    def to_dict(self) -> dict[str, Any]:
        error = self.error
        data = {
            "id": self.id,
            "job": self.job,
            "queue": self.queue,
            "status": self.status.value,
            "payload": self.payload,
            "result": self.result,
            "error": None
            if error is None
            else {"type": error.type, "message": error.message, "traceback": error.traceback},
            "attempts": self.attempts,
            "enqueued_ms": self.enqueued_ms,
            "started_ms": self.started_ms,
            "finished_ms": self.finished_ms,
        }
        if self.priority:  # written only where it is not 0: most records are as they always were
            data["priority"] = self.priority
        return data

    def to_json(self) -> bytes:
        """The record as JSON, valid whatever it holds: NaN or infinity (which no part of the
        worker should let through) become null rather than the bare `NaN` that is not JSON."""
        data = self.to_dict()
        try:
            return to_json(data, fallback=repr, inf_nan_mode="null")  # native and fast
        except ValueError:  # nesting deeper than its limit (255 levels), a lone surrogate
            return json.dumps(jsonsafe.repaired(data, _RECORD_DEPTH), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> JobRecord:
        """A stored record read back, whatever wrote it. What its readers could not handle is
        replaced: nesting deeper than `jsonsafe.MAX_DEPTH` by a placeholder, a lone surrogate by
        U+FFFD, NaN by null. Raises `UnreadableRecord` for one that cannot be read at all."""
        data = _parse(raw)
        try:
            return cls._from_data(data)
        except (TypeError, ValueError, KeyError) as exc:
            raise UnreadableRecord(f"not a job record ({type(exc).__name__}: {exc})") from None

    @classmethod
    def unreadable(
        cls, job_id: str, reason: str, *, queue: str = "", status: JobStatus = JobStatus.FAILED, finished_ms: int = 0
    ) -> JobRecord:
        """The stand-in for a record that cannot be read, so a listing shows it, with the reason,
        instead of failing as a whole; `job` is "<unreadable>" and the error type UnreadableRecord."""
        return cls(
            id=job_id,
            job=UNREADABLE_JOB,
            queue=queue,
            status=status,
            payload=None,
            result=None,
            error=ErrorInfo(type="UnreadableRecord", message=reason, traceback=""),
            attempts=0,
            enqueued_ms=0,
            started_ms=0,
            finished_ms=finished_ms,
        )

    @classmethod
    def _from_data(cls, data: Any) -> JobRecord:
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        status = JobStatus(data["status"])
        if status not in RETAINED:
            raise ValueError(f"a record cannot be {status.value}")
        error = data.get("error")
        error_info = (
            ErrorInfo(_text(error, "type"), _text(error, "message"), _text(error, "traceback")) if error else None
        )
        return cls(
            id=_text(data, "id"),
            job=_text(data, "job"),
            queue=_text(data, "queue"),
            status=status,
            payload=data.get("payload"),
            result=data.get("result"),
            error=error_info,
            attempts=_integer(data, "attempts"),
            enqueued_ms=_integer(data, "enqueued_ms"),
            started_ms=_integer(data, "started_ms"),
            finished_ms=_integer(data, "finished_ms"),
            priority=_integer(data, "priority") if "priority" in data else 0,
        )


class UnreadableRecord(ValueError):
    """A stored record that cannot be read at all: not JSON, not a job record, or nested too deep to parse."""


UNREADABLE_JOB = "<unreadable>"
RETAINED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)  # the outcomes a record holds
_RECORD_DEPTH = jsonsafe.MAX_DEPTH + 1  # the payload and the result sit one level inside the record


def _parse(raw: bytes | str) -> Any:
    """The record's JSON as data its readers can handle (see `JobRecord.from_json`)."""
    try:
        data = from_json(raw, allow_inf_nan=False)  # native, strict: no NaN, no lone surrogate, 200 levels
    except ValueError:
        pass
    else:
        if not jsonsafe.may_overflow(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw):
            return data
    try:
        data = json.loads(raw)  # deeper nesting, NaN, lone surrogates: read, then repaired
    except (ValueError, RecursionError) as exc:
        text = str(exc)
        raise UnreadableRecord(f"not valid JSON ({text[:200]})") from None
    return jsonsafe.repaired(data, _RECORD_DEPTH)


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key!r} is not text")
    return value


def _integer(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{key!r} is not an integer")
    return value

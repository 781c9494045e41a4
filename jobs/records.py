"""What is kept about a finished job: one JSON document per job, read back as `JobRecord`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic_core import to_json

from .clock import from_ms


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"  # due now, waiting for a worker
    SCHEDULED = "scheduled"  # delayed, or waiting for its next attempt after a failure
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
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
        return {
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

    def to_json(self) -> bytes:
        data = self.to_dict()
        try:
            return to_json(data, fallback=repr)  # native and fast
        except ValueError:  # nesting deeper than its limit (a 254-level payload plus this wrapper)
            return json.dumps(data, separators=(",", ":"), default=repr).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> JobRecord:
        data = json.loads(raw)
        error = data.get("error")
        data["error"] = ErrorInfo(**error) if error else None
        data["status"] = JobStatus(data["status"])
        return cls(**data)

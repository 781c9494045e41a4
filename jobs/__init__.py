"""Typed, reliable background jobs on arq and Redis.

Define a job once with a typed payload, trigger it from async code, run it in a worker with
retries, backoff, retention and structured logs.
"""

from .backoff import Backoff
from .cron import Cron, Every
from .declare import job
from .definition import Job, JobConfig
from .errors import (
    DuplicateJobError,
    JobDefinitionError,
    JobsError,
    PayloadNotJSONError,
    PayloadTooLargeError,
    RedisOutOfMemoryError,
    RedisUnavailableError,
    RedisURLError,
    UnknownJobError,
    UnrecoverableError,
)
from .handle import JobCancelledError, JobFailedError, JobHandle
from .limits import RateLimit
from .progress import InvalidProgressError, Progress
from .records import ErrorInfo, JobRecord, JobStatus
from .runtime.execution import Attempt, NoAttemptError, current_attempt
from .settings import Settings, SettingsError, get_settings
from .store.cancel import CancelResult
from .store.connection import disconnect
from .store.inspection import get_record, job_status, latest_completed, latest_failed
from .store.schedules import Schedule, list_schedules, unschedule

__all__ = [
    "Attempt",
    "Backoff",
    "CancelResult",
    "Cron",
    "DuplicateJobError",
    "ErrorInfo",
    "Every",
    "InvalidProgressError",
    "Job",
    "JobCancelledError",
    "JobConfig",
    "JobDefinitionError",
    "JobFailedError",
    "JobHandle",
    "JobRecord",
    "JobStatus",
    "JobsError",
    "NoAttemptError",
    "PayloadNotJSONError",
    "PayloadTooLargeError",
    "Progress",
    "RateLimit",
    "RedisOutOfMemoryError",
    "RedisURLError",
    "RedisUnavailableError",
    "Schedule",
    "Settings",
    "SettingsError",
    "UnknownJobError",
    "UnrecoverableError",
    "current_attempt",
    "disconnect",
    "get_record",
    "get_settings",
    "job",
    "job_status",
    "latest_completed",
    "latest_failed",
    "list_schedules",
    "unschedule",
]

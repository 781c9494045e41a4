"""`jobs.admin`, the public path of `jobs.ops.admin`: inspect and operate queues from Python."""

from .ops.admin import (
    JobInfo,
    JobNotFoundError,
    JobStateError,
    QueueCounts,
    RetryAllResult,
    counts,
    get_job,
    known_queues,
    latest,
    pause,
    paused_queues,
    remove,
    resume,
    retry_all_failed,
    retry_failed,
)
from .ops.schedules import Schedule, list_schedules, run_schedule_now, unschedule

__all__ = [
    "JobInfo",
    "JobNotFoundError",
    "JobStateError",
    "QueueCounts",
    "RetryAllResult",
    "Schedule",
    "counts",
    "get_job",
    "known_queues",
    "latest",
    "list_schedules",
    "pause",
    "paused_queues",
    "remove",
    "resume",
    "retry_all_failed",
    "retry_failed",
    "run_schedule_now",
    "unschedule",
]

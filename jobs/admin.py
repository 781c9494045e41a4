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

__all__ = [
    "JobInfo",
    "JobNotFoundError",
    "JobStateError",
    "QueueCounts",
    "RetryAllResult",
    "counts",
    "get_job",
    "known_queues",
    "latest",
    "pause",
    "paused_queues",
    "remove",
    "resume",
    "retry_all_failed",
    "retry_failed",
]

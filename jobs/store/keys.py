"""Every Redis key the library reads or writes, in one place.

Job data, queue, lock and try-counter keys follow arq's layout, so arq's own worker can run
the jobs too; the retention keys are ours (arq keeps results by TTL, we keep them by count).
"""

from __future__ import annotations

from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

JOB_PREFIX = job_key_prefix  # arq:job:{id} -> the stored job (JSON)
LOCK_PREFIX = in_progress_key_prefix  # arq:in-progress:{id} -> set while an attempt runs
TRIES_PREFIX = retry_key_prefix  # arq:retry:{id} -> attempts started so far
RECORD_PREFIX = "jobs:record:"  # jobs:record:{id} -> retained outcome of a finished job (JSON)
QUEUE_PREFIX = "arq:queue:"
WAKE_CHANNEL_PREFIX = "jobs:wake:"
HANDOFF_CHANNEL_PREFIX = "jobs:handoff:"
PAUSED_KEY = "jobs:paused"
WORKERS_KEY = "jobs:workers"  # sorted set of live worker ids, scored by their last heartbeat (ms)
WORKER_PREFIX = "jobs:worker:"  # jobs:worker:{id} -> the worker's last heartbeat (JSON), expiring
ATTEMPTS_PREFIX = "jobs:attempts:"  # jobs:attempts:{id} -> list of its failed attempts that were retried


def queue(name: str) -> str:
    """Sorted set of job ids to run, scored by the time (ms) they become due."""
    return QUEUE_PREFIX + name


def job(job_id: str) -> str:
    return JOB_PREFIX + job_id


def lock(job_id: str) -> str:
    return LOCK_PREFIX + job_id


def tries(job_id: str) -> str:
    return TRIES_PREFIX + job_id


def record(job_id: str) -> str:
    return RECORD_PREFIX + job_id


def finished(queue_name: str, status: str) -> str:
    """Sorted set of retained job ids of one queue and outcome, scored by finish time (ms)."""
    return f"jobs:{queue_name}:{status}"


def worker(worker_id: str) -> str:
    return WORKER_PREFIX + worker_id


def attempts(job_id: str) -> str:
    return ATTEMPTS_PREFIX + job_id


def throughput(queue_name: str, hour: int) -> str:
    """Hash of one queue's outcomes per minute (`{minute}:c`, `{minute}:f`) within one hour (epoch hours)."""
    return f"jobs:{queue_name}:throughput:{hour}"


def wake_channel(queue_name: str) -> str:
    """Pub/sub channel a trigger publishes on, so idle workers start the job at once."""
    return WAKE_CHANNEL_PREFIX + queue_name


def idle_workers(queue_name: str) -> str:
    """Sorted set of the idle workers of a queue (`lock ms` and token), scored by when the
    registration lapses (Redis clock, ms): a trigger hands a due job straight to one of them."""
    return f"jobs:{queue_name}:idle"


def handoff_channel(token: str) -> str:
    """Pub/sub channel on which one worker's queue runner (by its token) receives jobs handed off."""
    return HANDOFF_CHANNEL_PREFIX + token


def running_lock(value: bytes | None) -> bool:
    """Whether a lock's value means running: a worker's token, or arq's `1`; `token+` is a job
    a worker claimed ahead and has not started (still queued)."""
    return value is not None and not value.endswith(b"+")


def schedules(queue_name: str) -> str:
    """Hash of a queue's schedules: schedule id -> its definition (JSON: job, spec, payload, declared)."""
    return f"jobs:{queue_name}:schedules"


def schedules_due(queue_name: str) -> str:
    """Sorted set of a queue's schedule ids, scored by their next tick (ms): what a poll reads."""
    return f"jobs:{queue_name}:schedules:due"


def schedules_last(queue_name: str) -> str:
    """Hash of a queue's schedule id -> the tick (ms) it last fired."""
    return f"jobs:{queue_name}:schedules:last"


SCHEDULES_PATTERN = "jobs:*:schedules:due"  # SCAN match for every queue that has schedules


def trigger_key(queue_name: str, job_name: str, key: str) -> str:
    """A trigger key (`trigger(key=...)`): the id of the job that key last enqueued, for its job."""
    return f"jobs:{queue_name}:key:{job_name}:{key}"

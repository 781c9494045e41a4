"""Operating schedules: list them, delete one, run one now (`jobs schedules`, `jobs schedule run-now`)."""

from __future__ import annotations

import structlog

from .. import registry
from ..clock import now_ms
from ..errors import UnknownJobError
from ..handle import JobHandle
from ..store import connection
from ..store.schedules import Schedule, find, list_schedules, unschedule
from .admin import JobNotFoundError, JobStateError

__all__ = ["Schedule", "list_schedules", "run_schedule_now", "unschedule"]

log = structlog.get_logger("jobs")


@connection.reports_redis_errors
async def run_schedule_now(schedule_id: str) -> JobHandle:
    """One extra run of a schedule's job, now, with its payload; its next tick does not move.

    Raises `JobNotFoundError` for an unknown schedule, `JobStateError` for one whose job this
    process does not define (its payload cannot be validated here).
    """
    schedule = await find(schedule_id)
    if schedule is None:
        raise JobNotFoundError(f"no schedule with id {schedule_id!r}")
    try:
        job = registry.get(schedule.job)
    except UnknownJobError as exc:
        raise JobStateError(f"cannot run schedule {schedule_id} now: {exc}") from None
    handle = await job.trigger(schedule.payload, job_id=f"schedule:{schedule_id}:now:{now_ms()}")
    log.info("schedule.run_now", schedule=schedule_id, job=job.name, queue=job.queue, job_id=handle.id)
    return handle

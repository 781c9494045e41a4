"""A worker's schedules: keep the declared ones in step with the code, and fire due ticks.

Every worker of a queue polls its schedules, one script per queue per poll (`SCHEDULES_DUE`),
sleeping until the earliest next tick (at most `POLL_S`); each due tick is fired by one script
that only the first of racing workers gets through (`SCHEDULE_FIRE`), so a tick runs once with
any number of workers. What a tick enqueues is a normal job: retries, backoff, retention, logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from pydantic import ValidationError

from ..clock import from_ms, now_ms
from ..cron import due_tick, from_dict
from ..definition import Job
from ..errors import JobDefinitionError
from ..store import schedules
from ..store.connection import REDIS_ERRORS, Connection, backoff_after

log = structlog.get_logger("jobs")

POLL_S = 1.0  # a schedule made at run time by another process is noticed within this
GRACE_MS = 2_000  # a tick found later than this was missed: no worker polled while it passed


class Scheduler:
    """The schedules of the queues in `jobs_by_queue`, for the jobs this worker defines."""

    def __init__(self, conn: Connection, jobs_by_queue: dict[str, dict[str, Job[Any]]]) -> None:
        self._conn = conn
        self._jobs = jobs_by_queue
        self._unknown: set[tuple[str, str]] = set()  # (queue, schedule id) logged once

    async def declare(self) -> None:
        """Store each declared schedule (`job(schedule=...)`) under its job's name, keeping the next
        tick of one that did not change; delete the declared schedules the code no longer declares.
        Schedules made at run time are left alone."""
        conn = self._conn
        for queue, jobs in self._jobs.items():
            declared = {name: job for name, job in jobs.items() if job.config.schedule is not None}
            for name, job in declared.items():
                spec = job.config.schedule
                assert spec is not None
                payload = json.loads(job.payload_json(job.config.schedule_payload))
                await schedules.save(conn, queue, name, name, spec, payload, declared=True, keep_next=True)
            for stored in await schedules.of_queue(conn, queue):
                if stored.declared and stored.id not in declared and stored.job in jobs:
                    await schedules.remove(conn, queue, stored.id)
                    log.info("schedule.removed", schedule=stored.id, queue=queue, reason="no longer declared")

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; rides out Redis outages with the worker's backoff."""
        failures = 0
        while not stop.is_set():
            try:
                earliest = await self.poll()
                failures = 0
            except REDIS_ERRORS as exc:
                failures += 1
                wait = backoff_after(failures, exc, "schedule.poll_failed")
            else:
                wait = POLL_S if earliest < 0 else min(POLL_S, max(0.0, (earliest - now_ms()) / 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def poll(self) -> int:
        """Fire what is due on every queue; the earliest next tick (ms), or -1 if none."""
        earliest = -1
        for queue in self._jobs:
            next_ms = await self._poll_queue(queue)
            if next_ms >= 0 and (earliest < 0 or next_ms < earliest):
                earliest = next_ms
        return earliest

    async def _poll_queue(self, queue: str) -> int:
        now = now_ms()
        earliest, due = await schedules.due(self._conn, queue, now)
        for schedule_id, score, raw in due:
            next_ms = await self._fire(queue, schedule_id, score, raw, now)
            if next_ms is not None and (earliest < 0 or next_ms < earliest):
                earliest = next_ms
        return earliest

    async def _fire(self, queue: str, schedule_id: str, score: bytes, raw: bytes | None, now: int) -> int | None:
        """Fire one due schedule's tick (or skip a missed one); its next tick, or None if not ours."""
        data = json.loads(raw) if raw is not None else {}
        job = self._jobs[queue].get(str(data.get("job")))
        if job is None:
            if (queue, schedule_id) not in self._unknown:
                self._unknown.add((queue, schedule_id))
                log.warning("schedule.unknown_job", schedule=schedule_id, queue=queue, job=data.get("job"))
            return None
        try:
            spec = from_dict(data["rule"])
        except (JobDefinitionError, KeyError, TypeError) as exc:
            log.error("schedule.invalid", schedule=schedule_id, queue=queue, error=str(exc))
            return None
        tick_ms, next_ms = due_tick(spec, int(float(score)), now, GRACE_MS)
        tick = None
        if tick_ms is not None:
            try:
                stored = job.encode(data.get("payload"), now)
            except (ValidationError, ValueError) as exc:
                log.error("schedule.invalid_payload", schedule=schedule_id, job=job.name, queue=queue, error=str(exc))
            else:
                tick = (tick_ms, schedules.tick_job_id(schedule_id, tick_ms), stored)
        fired = await schedules.fire(self._conn, queue, schedule_id, score, next_ms, tick)
        if fired == 1 and tick is not None:
            log.info(
                "schedule.fired",
                schedule=schedule_id,
                job=job.name,
                queue=queue,
                tick=_iso(tick[0]),
                job_id=tick[1],
                catch_up=now - int(float(score)) > GRACE_MS,  # the one run for ticks missed while no worker ran
            )
        elif fired == 2 and tick_ms is None:
            log.info(
                "schedule.skipped",
                schedule=schedule_id,
                job=job.name,
                queue=queue,
                missed_since=_iso(int(float(score))),
            )
        return next_ms


def _iso(ms: int) -> str:
    moment = from_ms(ms)
    assert moment is not None
    return moment.isoformat().replace("+00:00", "Z")

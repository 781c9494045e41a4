"""Schedules against a real Redis and worker: declared in code or made at run time, fired once per
tick, listed, replaced, removed and run now; and jobs that take no payload."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from jobs import Cron, Every, JobDefinitionError, JobStatus, admin, list_schedules, unschedule
from jobs.runtime.scheduler import Scheduler
from jobs.store import keys
from jobs.store import schedules as saved
from jobs.store.connection import for_current_loop

from .cli_runner import Cli
from .conftest import Define, StartWorker, run_burst
from .helpers import wait_until


class Digest(BaseModel):
    audience: str


async def test_a_declared_schedule_is_stored_under_the_jobs_name_and_fires_each_tick(
    define: Define, start_worker: StartWorker, queue: str, logs: list[dict[str, Any]]
) -> None:
    """`job(schedule=Every(seconds=1), schedule_payload=...)`: the worker stores it at start and runs
    it once a second with that payload, each tick logged as schedule.fired."""
    seen: list[str] = []

    async def digest(payload: Digest) -> None:
        seen.append(payload.audience)

    digest_job = define(digest, schedule=Every(seconds=1), schedule_payload={"audience": "all"})
    await start_worker()
    await wait_until(lambda: len(seen) >= 2, timeout=5, what="two ticks run")
    (stored,) = [s for s in await list_schedules() if s.queue == queue]
    assert (stored.id, stored.job, stored.spec, stored.tz, stored.declared) == (
        digest_job.name,
        digest_job.name,
        "every 1s",
        "UTC",
        True,
    )
    assert stored.payload == {"audience": "all"} and stored.last_run is not None and stored.next_run is not None
    fired = [e for e in logs if e["event"] == "schedule.fired" and e["schedule"] == digest_job.name]
    assert len(fired) >= 2 and all(e["job_id"].startswith(f"schedule:{digest_job.name}:") for e in fired)
    assert len({e["tick"] for e in fired}) == len(fired)  # one run per tick


async def test_a_job_may_take_no_payload(define: Define, queue: str) -> None:
    """`async def send_digest() -> None` is a job: `trigger()` with nothing, run with nothing."""
    runs: list[str] = []

    async def send_digest() -> str:
        runs.append("sent")
        return "sent"

    digest = define(send_digest)
    assert digest.payload_type is None and await send_digest() == "sent"
    handle = await digest.trigger()
    await run_burst([queue])
    assert runs == ["sent", "sent"] and await handle.result(timeout=1) == "sent"
    with pytest.raises(ValidationError):
        await digest.trigger({"unexpected": 1})  # type: ignore[call-overload]


async def test_a_run_time_schedule_is_validated_stored_replaced_and_removed(define: Define, queue: str) -> None:
    """`my_job.schedule(id, spec, payload=...)` upserts; the same id replaces it with its next tick
    recomputed; an invalid payload raises and stores nothing; `unschedule` says whether one existed."""

    async def report(payload: Digest) -> None: ...

    report_job = define(report)
    first = await report_job.schedule("nightly", Cron("0 3 * * *", tz="Europe/Paris"), payload={"audience": "ops"})
    assert (first.id, first.job, first.spec, first.tz, first.declared) == (
        "nightly",
        report_job.name,
        "0 3 * * *",
        "Europe/Paris",
        False,
    )
    assert first.next_run is not None and first.last_run is None
    assert first.next_run.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") == "03:00"
    assert first.next_run - datetime.now(first.next_run.tzinfo) <= timedelta(days=1)

    second = await report_job.schedule("nightly", Every(minutes=10), payload={"audience": "ops"})
    assert (
        second.spec == "every 10m"
        and second.next_run is not None
        and second.next_run < first.next_run + timedelta(days=1)
    )
    assert second.next_run.minute % 10 == 0 and second.next_run.second == 0

    with pytest.raises(ValidationError):
        await report_job.schedule("broken", Every(minutes=1), payload={"audience": 7})
    assert [s.id for s in await list_schedules() if s.queue == queue] == ["nightly"]

    assert await unschedule("nightly") is True
    assert await unschedule("nightly") is False
    assert [s for s in await list_schedules() if s.queue == queue] == []


def test_a_declared_schedule_is_checked_where_it_is_written(define: Define) -> None:
    """A schedule payload that does not validate, or one without a schedule, fails the definition."""

    async def report(payload: Digest) -> None: ...

    with pytest.raises(JobDefinitionError, match="schedule_payload does not validate"):
        define(report, schedule=Every(hours=1), schedule_payload={"audience": 3})
    with pytest.raises(JobDefinitionError, match="schedule_payload= without schedule="):
        define(report, schedule_payload={"audience": "x"})
    with pytest.raises(JobDefinitionError, match="must be a Cron"):
        define(report, schedule="0 8 * * *")


async def test_a_worker_deletes_declared_schedules_the_code_dropped_and_leaves_run_time_ones(
    define: Define, queue: str, redis: Redis
) -> None:
    """A declared schedule whose job no longer declares one goes at worker start; one made at run
    time stays, as does one naming a job this worker does not define."""

    async def cleanup() -> None: ...

    cleanup_job = define(cleanup)
    conn = await for_current_loop()
    await saved.save(conn, queue, cleanup_job.name, cleanup_job.name, Every(hours=1), None, declared=True)
    await saved.save(conn, queue, "weekly", cleanup_job.name, Every(hours=1), None, declared=False)
    await saved.save(conn, queue, "elsewhere", "a-job-of-another-service", Every(hours=1), None, declared=True)
    await run_burst([queue])
    assert sorted(s.id for s in await list_schedules() if s.queue == queue) == ["elsewhere", "weekly"]


async def test_a_schedule_of_a_job_this_worker_does_not_define_is_logged_once_and_kept(
    define: Define, queue: str, logs: list[dict[str, Any]]
) -> None:
    """Due but unknown here: `schedule.unknown_job` once per worker, not fired, not deleted."""

    async def known() -> None: ...

    known_job = define(known)
    conn = await for_current_loop()
    await saved.save(conn, queue, "orphan", "retired-job", Every(seconds=1), None, declared=False)
    await conn.redis.zadd(keys.schedules_due(queue), {"orphan": 1})  # long due
    scheduler = Scheduler(conn, {queue: {known_job.name: known_job}})
    await scheduler.poll()
    await scheduler.poll()
    unknown = [e for e in logs if e["event"] == "schedule.unknown_job"]
    assert [(e["schedule"], e["job"]) for e in unknown] == [("orphan", "retired-job")]
    assert await conn.redis.zscore(keys.schedules_due(queue), "orphan") == 1
    assert (await admin.counts(queue)).queued == 0


async def test_racing_pollers_fire_a_tick_exactly_once(define: Define, queue: str) -> None:
    """Three schedulers poll the same due schedule at once: one job for the tick, the schedule moved on once."""

    async def tick() -> None: ...

    tick_job = define(tick, schedule=Every(minutes=1))
    conn = await for_current_loop()
    schedulers = [Scheduler(conn, {queue: {tick_job.name: tick_job}}) for _ in range(3)]
    await schedulers[0].declare()
    due = await conn.redis.zscore(keys.schedules_due(queue), tick_job.name)
    assert due is not None
    await conn.redis.zadd(keys.schedules_due(queue), {tick_job.name: due - 60_000})  # the last tick is due now
    await asyncio.gather(*(s.poll() for s in schedulers))
    assert (await admin.counts(queue)).queued == 1
    assert await conn.redis.zscore(keys.schedules_due(queue), tick_job.name) == due


async def test_run_now_enqueues_one_extra_run_and_leaves_the_next_tick(define: Define, queue: str) -> None:
    """`admin.run_schedule_now(id)`: the job runs now with the schedule's payload; next_run does not move."""
    seen: list[str] = []

    async def digest(payload: Digest) -> None:
        seen.append(payload.audience)

    digest_job = define(digest)
    before = await digest_job.schedule("daily", Cron("0 8 * * *"), payload={"audience": "team"})
    handle = await admin.run_schedule_now("daily")
    await run_burst([queue])
    assert seen == ["team"] and await handle.status() is JobStatus.COMPLETED
    (after,) = [s for s in await list_schedules() if s.id == "daily"]
    assert after.next_run == before.next_run and after.last_run is None
    with pytest.raises(admin.JobNotFoundError):
        await admin.run_schedule_now("no-such-schedule")


async def test_the_cli_lists_removes_and_runs_schedules_now(define: Define, cli: Cli, queue: str) -> None:
    """`jobs schedules --json`, `jobs schedule run-now ID`, `jobs unschedule ID` (exit 1 when unknown)."""

    async def digest(payload: Digest) -> None: ...

    digest_job = define(digest)
    schedule_id = f"{queue}-digest"
    await digest_job.schedule(schedule_id, Cron("0 8 * * mon-fri", tz="Europe/Paris"), payload={"audience": "all"})
    env = {"JOBS_MODULES": ""}
    listed = await cli("schedules", "--json", env=env)
    assert listed.code == 0, listed.err
    (row,) = [r for r in json.loads(listed.out) if r["id"] == schedule_id]
    assert (row["job"], row["spec"], row["tz"], row["last_run"]) == (
        digest_job.name,
        "0 8 * * mon-fri",
        "Europe/Paris",
        None,
    )
    assert datetime.fromisoformat(row["next_run"]).tzinfo is not None
    text = await cli("schedules", env=env)
    assert schedule_id in text.out and "Europe/Paris" in text.out and "NEXT RUN" in text.out
    assert (await cli("unschedule", schedule_id, env=env)).code == 0
    gone = await cli("unschedule", schedule_id, "--json", env=env)
    assert gone.code == 1 and "no schedule with id" in json.loads(gone.out)["error"]

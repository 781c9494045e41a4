"""Job control, the rules one by one, against a real Redis and an in-process worker: options
checked at definition and trigger, priorities that never start a job before it is due, a
limited queue that hands nothing off past its limit, and a queue that uses none of it unchanged."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs import Backoff, JobDefinitionError, JobStatus, RateLimit, admin, get_record
from jobs.dashboard import dashboard
from jobs.limits import parse_rate
from jobs.settings import SettingsError, load_settings
from jobs.store import keys, limits

from .cli_runner import Cli
from .conftest import Define, StartWorker
from .dashboard_support import http
from .helpers import wait_until
from .processes import remote_job


async def nothing(payload: dict[str, Any]) -> None:
    return None


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: RateLimit(0), "count must be a positive int"),
        (lambda: RateLimit(-3, per=timedelta(seconds=1)), "count must be a positive int"),
        (lambda: RateLimit(5, per=timedelta(0)), "per must be a positive timedelta"),
        (lambda: RateLimit(5, per=timedelta(seconds=-1)), "per must be a positive timedelta"),
    ],
)
def test_a_rate_limit_that_cannot_be_kept_is_refused_where_it_is_made(make: Any, says: str) -> None:
    """RateLimit(count <= 0) or a zero or negative period: JobDefinitionError naming the problem."""
    with pytest.raises(JobDefinitionError, match=says):
        make()


def test_job_options_are_checked_at_definition(define: Define) -> None:
    """max_running below 1 or not an int, and a rate_limit that is not a RateLimit, fail the definition."""
    with pytest.raises(JobDefinitionError, match="max_running must be >= 1"):
        define(nothing, max_running=0)
    with pytest.raises(JobDefinitionError, match="max_running must be an int"):
        define(nothing, max_running=1.5)
    with pytest.raises(JobDefinitionError, match="rate_limit must be a RateLimit"):
        define(nothing, rate_limit="5/s")
    with pytest.raises(JobDefinitionError, match="without quotes"):
        define(nothing, name='say-"hi"', max_running=1)
    made = define(nothing, rate_limit=RateLimit(5, per=timedelta(minutes=1)), max_running=2)
    assert (made.config.rate_limit, made.config.max_running) == (RateLimit(5, timedelta(minutes=1)), 2)


def test_jobs_queue_rate_limit_reads_per_second_minute_and_hour() -> None:
    """`emails=10/s,sms=100/m,reports=5/h`; anything else names JOBS_QUEUE_RATE_LIMIT."""
    parsed = load_settings(jobs_queue_rate_limit="emails=10/s, sms=100/m,reports=5/h").jobs_queue_rate_limit
    assert parsed == {
        "emails": RateLimit(10, timedelta(seconds=1)),
        "sms": RateLimit(100, timedelta(minutes=1)),
        "reports": RateLimit(5, timedelta(hours=1)),
    }
    for bad in ("emails=10/d", "emails=0/s", "emails", "=10/s", "emails=ten/s", "emails=-1/s"):
        with pytest.raises(SettingsError, match="JOBS_QUEUE_RATE_LIMIT"):
            load_settings(jobs_queue_rate_limit=bad)
    assert str(parse_rate("100/m")) == "100/m"


async def test_a_bad_priority_is_refused_and_nothing_is_written(define: Define, redis: Redis, queue: str) -> None:
    """priority must be an int from -1000 to 1000; otherwise nothing is stored."""
    made = define(nothing)
    for bad, error in ((1001, ValueError), (-1001, ValueError), (True, TypeError), (1.5, TypeError)):
        with pytest.raises(error, match="priority"):
            await made.trigger({}, priority=bad)
        with pytest.raises(error, match="priority"):
            await made.trigger_many([{}], priority=bad)
    assert await redis.zcard(keys.queue(queue)) == 0


async def test_a_trigger_without_a_priority_writes_nothing_more_than_before(
    define: Define, redis: Redis, queue: str
) -> None:
    """Priority 0 (the default) keeps arq's layout: the queue's sorted set and the job, no priority set."""
    made = define(nothing)
    await made.trigger({})
    await made.trigger_many([{}, {}])
    await made.trigger({}, key="k", debounce=5)
    assert await redis.zcard(keys.queue(queue)) == 4
    assert not await redis.exists(keys.DEFAULT.priority(queue), keys.DEFAULT.limited(queue))


async def test_a_delayed_high_priority_job_does_not_start_before_it_is_due(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """A priority 10 job due in 0.5 s waits for its time, while priority 0 jobs run; once due it
    goes ahead of the priority 0 jobs still queued."""
    ran: list[tuple[str, float]] = []

    async def work(payload: dict[str, Any]) -> None:
        ran.append((payload["what"], time.monotonic()))
        await asyncio.sleep(0.05)

    made = define(work)
    began = time.monotonic()
    early = await made.trigger({"what": "high"}, priority=10, delay=0.5)
    await made.trigger_many([{"what": f"low-{n}"} for n in range(20)])
    await start_worker(concurrency=1)
    await early.result(timeout=10)
    await wait_until(lambda: len(ran) == 21, timeout=10, what="every job")
    at = dict(ran)["high"]
    assert at - began >= 0.5
    position = [what for what, _ in ran].index("high")
    assert 3 <= position < 20, [what for what, _ in ran]  # after some low ones, before the last


async def test_a_retrying_job_keeps_its_priority_and_waits_for_its_backoff(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """A priority 5 job failing once is retried after its backoff (never sooner), ahead of the
    priority 0 jobs still queued then; it leaves the priority set when done."""
    ran: list[tuple[str, float]] = []

    async def flaky(payload: dict[str, Any]) -> None:
        ran.append((payload["what"], time.monotonic()))
        if payload["what"] == "high" and sum(w == "high" for w, _ in ran) == 1:
            raise RuntimeError("once")
        await asyncio.sleep(0.03)

    made = define(flaky, attempts=2, backoff=Backoff.fixed(delay_ms=300))
    high = await made.trigger({"what": "high"}, priority=5)
    await made.trigger_many([{"what": f"low-{n}"} for n in range(30)])
    await start_worker(concurrency=1)
    await high.result(timeout=10)
    await wait_until(lambda: len(ran) == 32, timeout=10, what="every job")
    highs = [at for what, at in ran if what == "high"]
    assert highs[1] - highs[0] >= 0.3
    position = [what for what, _ in ran].index("high", 1)
    assert position < 31, [what for what, _ in ran]
    assert not await redis.exists(keys.DEFAULT.priority(queue))


async def test_a_failed_prioritised_job_keeps_its_priority_in_its_record_and_when_retried_by_hand(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """A job triggered at priority 7 fails for good: its record says 7 (a priority-0 one says
    nothing); `retry_failed` queues it again at 7, ahead of the priority-0 jobs queued before it."""
    ran: list[str] = []

    async def fails_once(payload: dict[str, Any]) -> None:
        ran.append(payload["what"])
        if payload["what"].endswith("fails") and ran.count(payload["what"]) == 1:
            raise RuntimeError("first time")

    made = define(fails_once, attempts=1)
    high = await made.trigger({"what": "high-fails"}, priority=7)
    plain = await made.trigger({"what": "plain-fails"})
    await start_worker(concurrency=1)
    for handle in (high, plain):
        await wait_until(lambda h=handle: get_record(h.id), what="the failure retained")
    record, plain_record = await get_record(high.id), await get_record(plain.id)
    assert record is not None and record.status is JobStatus.FAILED and record.priority == 7
    assert record.to_dict()["priority"] == 7
    assert plain_record is not None and plain_record.priority == 0 and "priority" not in plain_record.to_dict()
    assert (await admin.get_job(high.id)).priority == 7  # type: ignore[union-attr]  # as `jobs show` and the dashboard show it
    await admin.pause(queue)  # so the worker claims none of what follows before the retry
    await made.trigger_many([{"what": f"low-{n}"} for n in range(5)])
    await admin.retry_failed(high.id)
    assert (await admin.get_job(high.id)).priority == 7  # type: ignore[union-attr]
    await admin.resume(queue)
    await high.result(timeout=10)
    await wait_until(lambda: len(ran) == 8, what="every job")
    assert ran == ["high-fails", "plain-fails", "high-fails", *(f"low-{n}" for n in range(5))], ran


async def test_an_idle_limited_worker_is_woken_not_handed_jobs_past_the_limit(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """RateLimit(2, per=1 s) on an idle worker: triggers one at a time wake it (no hand-off past
    the limit): two start at once, the next two a second later; a job held is not charged an attempt."""
    started: list[float] = []

    async def limited(payload: dict[str, Any]) -> None:
        started.append(time.monotonic())

    made = define(limited, rate_limit=RateLimit(2, per=timedelta(seconds=1)), attempts=1)
    await start_worker(concurrency=4)
    await wait_until(lambda: redis.exists(keys.DEFAULT.limited(queue)), what="the queue marked limited")
    handles = [await made.trigger({}) for _ in range(4)]
    await wait_until(lambda: len(started) == 2, timeout=5, what="two starts")
    waiting = [h for h in handles if not await redis.exists(keys.record(h.id))]
    assert len(waiting) >= 2
    assert all([await redis.get(keys.tries(h.id)) is None for h in waiting[-2:]])  # held: not charged
    for handle in handles:
        await handle.result(timeout=5)
    assert started[2] - started[0] >= 1.0 and started[3] - started[1] >= 1.0
    assert (await handles[-1].record()).attempts == 1  # type: ignore[union-attr]


def test_a_queue_without_limits_passes_the_claim_no_rules() -> None:
    """The claim of a queue without limits carries '' (no extra work in the script); with one, its rules."""
    free = limits.JobLimits("a", None, None)
    assert limits.render(keys.DEFAULT, "q", None, [free], 3000) == ""
    text = limits.render(keys.CLUSTER, "q", None, [free, limits.JobLimits("b", (5, 1000), 2)], 3000)
    assert text == '3000 0 0 {q}:rate {q}:held\n"b" 5 1100 2 {q}:rate:b {q}:running:b'


async def test_jobs_list_shows_limits_and_jobs_show_a_queued_jobs_priority(cli: Cli, queue: str) -> None:
    """`jobs list` gains a LIMITS column where a job has one; `jobs show` (and --json) the priority."""
    handle = await remote_job("control.ordered", queue).trigger({"n": 1}, priority=7)
    env = {"JOBS_MODULES": "tests.control_jobs", "CONTROL_JOBS_QUEUE": queue}
    table, listed, shown, as_json = await asyncio.gather(
        cli("list", env=env),
        cli("list", "--json", env=env),
        cli("show", handle.id, env=env),
        cli("show", handle.id, "--json", env=env),
    )
    assert table.out.splitlines()[0].split()[-1] == "LIMITS"
    rows = {line.split()[0]: line for line in table.out.splitlines()[1:]}
    assert rows["control.limited"].endswith("5/s") and rows["control.pair"].endswith("2 running")
    by_name = {j["name"]: j for j in listed.json()}  # type: ignore[attr-defined]
    assert (by_name["control.limited"]["rate_limit"], by_name["control.pair"]["max_running"]) == ("5/s", 2)
    assert "priority: 7" in shown.out.replace("  ", " ")
    assert as_json.json()["priority"] == 7  # type: ignore[index]


async def test_the_dashboard_shows_a_jobs_limits_and_a_queued_jobs_priority(define: Define, queue: str) -> None:
    """The overview's jobs list names each job's limits; a queued job's page shows its priority."""
    limited = define(nothing, rate_limit=RateLimit(10, per=timedelta(minutes=1)), max_running=3)
    handle = await limited.trigger({}, priority=-4)
    async with http(dashboard(auth=None)) as client:
        overview = (await client.get("/")).text
        page = (await client.get(f"/jobs/{handle.id}")).text
    assert "10/m, 3 running" in overview
    assert re.search(r"<dt>Priority</dt><dd>-4</dd>", page)


async def test_unlimited_jobs_behind_a_backlog_of_held_jobs_are_not_held_back(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """1,200 jobs held by RateLimit(1, per=1 h) queued ahead (five claims' worth of looking past):
    the 20 unlimited jobs behind them all run within seconds; one held job runs, the rest stay queued."""
    held = define(nothing, rate_limit=RateLimit(1, per=timedelta(hours=1)))
    free = define(nothing)
    await held.trigger_many([{}] * 1200)
    await asyncio.sleep(0.002)  # the free jobs are due after every held one
    handles = await free.trigger_many([{}] * 20)
    await start_worker(concurrency=4, jobs_poll_interval=5.0)  # no poll comes to the rescue
    for handle in handles:
        await handle.result(timeout=5)
    assert await redis.zcard(keys.queue(queue)) == 1199
    assert await redis.zcard(keys.finished(queue, "completed")) == 21


@pytest.mark.parametrize("held_priority", [5, -5])
async def test_unlimited_jobs_behind_a_backlog_of_held_prioritised_jobs_are_not_held_back(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str, held_priority: int
) -> None:
    """1,200 jobs held by RateLimit(1, per=1 h) at a priority (above 0: before the queue's
    priority-0 jobs; below: after them), then unlimited jobs at that same priority behind them,
    at 0, and at a lower priority still: the held cursor resumes inside the priority set, so all
    fifteen run within seconds and the held backlog stays queued (one of it ran)."""
    held = define(nothing, rate_limit=RateLimit(1, per=timedelta(hours=1)))
    free = define(nothing)
    await held.trigger_many([{}] * 1200, priority=held_priority)
    await asyncio.sleep(0.002)  # the free jobs of the same priority are due after every held one
    handles = [
        *await free.trigger_many([{}] * 5, priority=held_priority),
        *await free.trigger_many([{}] * 5),
        *await free.trigger_many([{}] * 5, priority=held_priority - 10),
    ]
    await start_worker(concurrency=4, jobs_poll_interval=5.0)
    for handle in handles:
        await handle.result(timeout=5)
    assert await redis.zcard(keys.queue(queue)) == 1199
    assert await redis.zcard(keys.finished(queue, "completed")) == 16


async def test_a_claim_cut_short_by_held_jobs_goes_on_at_once_when_nothing_else_would_wake_it(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """The window of RateLimit(1, per=1 h) is used up and the cursor past the held jobs has lapsed:
    a trigger's wake-up finds only held jobs within one claim's look (250). The claim must go on
    from its cursor at once: waiting for the window (an hour) or the poll (here 5 s, longer than
    the cursor lives) would leave the unlimited jobs behind the backlog queued for good."""
    held = define(nothing, rate_limit=RateLimit(1, per=timedelta(hours=1)))
    free = define(nothing)
    await held.trigger_many([{}] * 1200)
    await start_worker(concurrency=4, jobs_poll_interval=5.0)
    completed = keys.finished(queue, "completed")

    async def settled() -> bool:  # the one held job allowed ran, and no cursor is left to resume at
        return await redis.zcard(completed) == 1 and not await redis.exists(keys.DEFAULT.held_cursor(queue))

    await wait_until(settled, timeout=10, what="the window used up and the cursor lapsed")
    handles = await free.trigger_many([{}] * 20)
    for handle in handles:
        await handle.result(timeout=4)
    assert await redis.zcard(completed) == 21

"""Redis Cluster (`REDIS_URL=redis+cluster://...`): three primaries of our own, queues spread over
all of them, and everything a single Redis does: hand-offs and wake-ups over sharded pub/sub,
retries, retention, keyed triggers, schedules, the `jobs` command and the dashboard, and a
reshard under a running worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from jobs import Backoff, Every, Job, JobFailedError, JobStatus, RateLimit, current_attempt, job, registry
from jobs.errors import JobDefinitionError
from jobs.ops import admin
from jobs.runtime.arq_compat import worker_settings as arq_worker_settings
from jobs.runtime.process import StartupError
from jobs.settings import get_settings, load_settings
from jobs.store import connection, keys
from jobs.store.keys import CLUSTER
from jobs.worker import Worker

from .cli_runner import runner
from .cluster_setup import Cluster, redis_cluster
from .dashboard_support import http
from .helpers import wait_until

pytestmark = pytest.mark.slow


class Item(BaseModel):
    n: int


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as made:
        yield made


@pytest.fixture
def in_cluster(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """This test's triggers, reads and workers go to the cluster, emptied first."""
    cluster.flush()
    monkeypatch.setenv("REDIS_URL", cluster.url)
    get_settings.cache_clear()
    yield cluster
    get_settings.cache_clear()


@pytest.fixture
def defined() -> Iterator[list[Job[Any]]]:
    made: list[Job[Any]] = []
    yield made
    for each in made:
        registry.unregister(each.name)


def queues_on_every_primary(cluster: Cluster, per_primary: int = 2) -> list[str]:
    """Queue names whose slots fall `per_primary` on each primary."""
    wanted = {server.port: per_primary for server in cluster.servers}
    found: list[str] = []
    prefix = uuid.uuid4().hex[:6]
    for index in itertools.count():
        name = f"c{prefix}-{index}"
        port = cluster.owner(cluster.keyslot(CLUSTER.queue(name))).port
        if wanted[port]:
            wanted[port] -= 1
            found.append(name)
        if not any(wanted.values()):
            return found
    raise AssertionError("unreachable")


@pytest.fixture
async def start(in_cluster: Cluster) -> AsyncIterator[Any]:
    """Start a worker on the cluster (stopped after the test)."""
    started: list[tuple[Worker, asyncio.Task[None]]] = []

    async def _start(queues: list[str], **settings: Any) -> Worker:
        base = {"redis_url": in_cluster.url, "jobs_shutdown_timeout": 2.0, "jobs_poll_interval": 30.0}
        worker = Worker(queues=queues, settings=load_settings(**{**base, **settings}), handle_signals=False)
        task = asyncio.create_task(worker.run())
        started.append((worker, task))
        await wait_until(lambda: (worker.runners and all(r.listening for r in worker.runners)) or task.done())
        if task.done():
            task.result()
        return worker

    yield _start
    for worker, task in started:
        worker.request_stop()
        await asyncio.wait_for(task, 10)


async def test_queues_spread_over_every_primary_and_each_job_runs_once(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    """Six queues, two per primary, one worker for all: every job runs once and its record sits
    with its queue's keys, on that queue's primary. A worker 30 s from its next poll picks each up
    at once (hand-offs and wake-ups over sharded pub/sub, one subscription per primary)."""
    queues = queues_on_every_primary(in_cluster)
    ran: list[tuple[str, int]] = []

    def make(queue: str) -> Job[Item]:
        async def work(item: Item) -> int:
            ran.append((queue, item.n))
            return item.n * 2

        made = job(name=f"work-{queue}", queue=queue, run=work)
        defined.append(made)
        return made

    jobs_by_queue = {queue: make(queue) for queue in queues}
    await start(queues, jobs_concurrency=2)
    began = time.monotonic()
    first = [await jobs_by_queue[queue].trigger({"n": 0}) for queue in queues]  # one at a time: hand-offs
    assert [await h.result(timeout=5) for h in first] == [0] * 6
    assert time.monotonic() - began < 5, "picked up by polling, not by pub/sub"
    many = {queue: await made.trigger_many([{"n": n} for n in range(1, 21)]) for queue, made in jobs_by_queue.items()}
    for queue, handles in many.items():
        assert [await h.result(timeout=10) for h in handles] == [n * 2 for n in range(1, 21)], queue
    assert sorted(ran) == sorted((q, n) for q in queues for n in range(21))

    counts = await admin.counts_many(queues)
    assert [(c.queue, c.completed, c.queued, c.failed) for c in counts] == [(q, 21, 0, 0) for q in queues]
    assert all(n > 0 for n in in_cluster.keys_per_node().values())
    for queue in queues:
        primary = in_cluster.owner(in_cluster.keyslot(CLUSTER.queue(queue)))
        record_key = CLUSTER.record(first[queues.index(queue)].id, queue)
        with in_cluster.client(primary) as client:
            assert client.exists(record_key), (queue, record_key)
    assert set(queues) <= set(await admin.known_queues())


async def test_a_failing_job_is_retried_with_backoff_failed_retained_and_retried_by_hand(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    """Attempts and backoff as on one Redis; looking the job up by id alone finds its queue."""
    (queue,) = queues_on_every_primary(in_cluster, 1)[:1]
    healed = asyncio.Event()
    attempts: list[int] = []

    async def flaky(item: Item) -> str:
        attempts.append(item.n)
        if not healed.is_set():
            raise RuntimeError("provider down")
        return "ok"

    made = job(name=f"flaky-{queue}", queue=queue, run=flaky, attempts=3, backoff=Backoff.fixed(delay_ms=50))
    defined.append(made)
    await start([queue])
    handle = await made.trigger({"n": 7})
    with pytest.raises(JobFailedError, match="provider down"):
        await handle.result(timeout=10)
    assert len(attempts) == 3
    info = await admin.get_job(handle.id)  # no queue given: found among the cluster's queues
    assert info is not None and (info.status, info.queue, info.attempts) == (JobStatus.FAILED, queue, 3)
    assert [a.number for a in await admin.attempts(handle.id)] == [1, 2, 3]

    healed.set()
    await admin.retry_failed(handle.id)
    assert await handle.result(timeout=10) == "ok"
    assert (await admin.counts(queue)).failed == 0


async def test_cancel_removes_a_queued_job_and_stops_a_running_one_in_its_slot(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    """A cancel by id alone finds the job's queue; the running one hears it over sharded pub/sub,
    reports progress into its slot first, and is retained as cancelled next to its queue's keys."""
    (queue,) = queues_on_every_primary(in_cluster, 1)[:1]
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow(item: Item) -> None:
        try:
            await current_attempt().report_progress(0.5, message="halfway")
            started.set()
            await asyncio.sleep(60)
        finally:
            stopped.set()

    made = job(name=f"slow-{queue}", queue=queue, run=slow, attempts=3)
    defined.append(made)
    queued = await made.trigger({"n": 1})
    assert (await admin.cancel(queued.id)).outcome == "cancelled"
    await start([queue])
    running = await made.trigger({"n": 2})
    await started.wait()
    await wait_until(running.progress, what="progress in the queue's slot")
    assert (await admin.cancel(running.id)).outcome == "cancelling"
    await asyncio.wait_for(stopped.wait(), 2)
    await wait_until(lambda: _status_is(running, JobStatus.CANCELLED), what="retained as cancelled")
    assert await queued.status() is JobStatus.CANCELLED
    assert (await admin.counts(queue)).cancelled == 2
    assert (await admin.cancel(running.id)).outcome == "finished"


async def _status_is(handle: Any, status: JobStatus) -> bool:
    return bool(await handle.status() is status)


async def test_retention_keeps_each_queues_newest_records(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    queue, other = queues_on_every_primary(in_cluster, 1)[:2]

    async def noop(item: Item) -> int:
        return item.n

    kept = job(name=f"kept-{queue}", queue=queue, run=noop, keep_completed=3)
    plain = job(name=f"plain-{other}", queue=other, run=noop)
    defined += [kept, plain]
    await start([queue, other])
    handles = await kept.trigger_many([{"n": n} for n in range(10)])
    for handle in [handles[-1], *await plain.trigger_many([{"n": 1}] * 5)]:  # the first ones are trimmed
        await handle.result(timeout=10)
    assert (await admin.counts(queue)).completed == 3
    assert (await admin.counts(other)).completed == 5
    newest = await admin.latest(JobStatus.COMPLETED, queue)
    assert [r.id for r in newest] == [h.id for h in reversed(handles[7:10])]


async def test_debounced_triggers_and_schedules_work_in_the_queues_slot(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    queue = queues_on_every_primary(in_cluster, 1)[0]
    seen: list[int] = []
    ticks: list[float] = []

    async def settle(item: Item) -> None:
        seen.append(item.n)

    async def tick() -> None:
        ticks.append(time.monotonic())

    debounced = job(name=f"settle-{queue}", queue=queue, run=settle)
    scheduled = job(name=f"tick-{queue}", queue=queue, run=tick, schedule=Every(seconds=1))
    defined += [debounced, scheduled]
    await start([queue])
    handles = [await debounced.trigger({"n": n}, key="user-1", debounce=0.3) for n in range(3)]
    assert len({h.id for h in handles}) == 1 and handles[-1].replaced
    await handles[-1].result(timeout=5)
    assert seen == [2]
    await wait_until(lambda: len(ticks) >= 2, timeout=10, what="two ticks of the schedule")
    listed = await admin.get_job(handles[-1].id, queue)
    assert listed is not None and listed.status is JobStatus.COMPLETED


async def test_rate_limits_max_running_and_priorities_work_in_the_queues_slot(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    """Job control keeps to the queue's slot: a priority set beside the queue, a rate window and a
    running set per job; priorities first, three starts a second, never two of a max_running=1 job."""
    queue, busy = queues_on_every_primary(in_cluster, 1)[:2]
    order: list[int] = []
    limited_at: list[float] = []
    running, most = [0], [0]

    async def ordered(item: Item) -> None:
        order.append(item.n)

    async def limited(item: Item) -> None:
        limited_at.append(time.monotonic())

    async def single(item: Item) -> None:
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.05)
        running[0] -= 1

    ordered_job = job(name=f"ordered-{queue}", queue=queue, run=ordered)
    limited_job = job(name=f"limited-{queue}", queue=queue, run=limited, rate_limit=RateLimit(3, timedelta(seconds=1)))
    single_job = job(name=f"single-{busy}", queue=busy, run=single, max_running=1)
    defined += [ordered_job, limited_job, single_job]
    await ordered_job.trigger_many([Item(n=n) for n in range(5)])
    await ordered_job.trigger_many([Item(n=10 + n) for n in range(3)], priority=5)
    limited_handles = await limited_job.trigger_many([Item(n=n) for n in range(6)])
    single_handles = await single_job.trigger_many([Item(n=n) for n in range(6)])
    primary = in_cluster.owner(in_cluster.keyslot(CLUSTER.queue(queue)))
    with in_cluster.client(primary) as client:
        assert client.zcard(CLUSTER.priority(queue)) == 3
    await start([queue, busy], jobs_concurrency=1, jobs_queue_concurrency={busy: 4})
    for handle in limited_handles + single_handles:
        await handle.result(timeout=10)
    assert order[:3] == [10, 11, 12] and sorted(order[3:]) == list(range(5))
    assert limited_at[-1] - limited_at[0] >= 0.98 and limited_at[3] - limited_at[0] >= 0.98
    assert most[0] == 1


async def test_the_jobs_command_reads_and_acts_on_a_cluster(start: Any, in_cluster: Cluster, tmp_path: Path) -> None:
    queue = queues_on_every_primary(in_cluster, 1)[0]
    cli = runner(queue, tmp_path, in_cluster.url)
    triggered = await cli("trigger", "cli-double", '{"n": 21}', "--json")
    assert triggered.code == 0, triggered.err
    job_id = triggered.json()["id"]  # type: ignore[index]
    stats = await cli("stats", "--json")
    assert stats.code == 0, stats.err
    assert {"queue": queue, "queued": 1}.items() <= next(
        q
        for q in stats.json()
        if q["queue"] == queue  # type: ignore[union-attr]
    ).items()
    shown = await cli("show", job_id, "--json")
    assert shown.code == 0 and shown.json()["status"] == "queued", shown.out + shown.err  # type: ignore[index]
    paused = await cli("pause", queue)
    assert paused.code == 0, paused.err
    assert (await admin.counts(queue)).paused
    assert (await cli("resume", queue)).code == 0
    assert not (await admin.counts(queue)).paused
    removed = await cli("remove", job_id)
    assert removed.code == 0, removed.err
    assert (await admin.counts(queue)).queued == 0


async def test_the_dashboard_shows_a_clusters_queues_and_jobs(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]]
) -> None:
    from jobs.dashboard import dashboard

    queues = queues_on_every_primary(in_cluster, 1)

    async def noop(item: Item) -> int:
        return item.n

    made = [job(name=f"dash-{q}", queue=q, run=noop) for q in queues]
    defined += made
    await start(queues)
    handles = [await m.trigger({"n": 5}) for m in made]
    for handle in handles:
        await handle.result(timeout=5)
    async with http(dashboard()) as client:
        overview = await client.get("/")
        assert overview.status_code == 200
        assert all(q in overview.text for q in queues)
        page = await client.get(f"/jobs/{handles[1].id}")
        assert page.status_code == 200 and "completed" in page.text.lower() and queues[1] in page.text
        listing = await client.get(f"/queues/{queues[2]}?state=completed")
        assert listing.status_code == 200 and handles[2].id in listing.text


async def test_a_reshard_under_a_running_worker_loses_nothing(
    start: Any, in_cluster: Cluster, defined: list[Job[Any]], logs: list[dict[str, Any]]
) -> None:
    """Move a busy queue's slot to another primary while a worker drains it and triggers go on:
    scripts told TRYAGAIN or ASK meanwhile are retried or follow the redirect, the subscription and
    the lean links follow the slot (MOVED), and every job runs exactly once."""
    queue = queues_on_every_primary(in_cluster, 1)[0]
    done: list[int] = []

    async def work(item: Item) -> int:
        await asyncio.sleep(0.002)
        done.append(item.n)
        return item.n

    made = job(name=f"moving-{queue}", queue=queue, run=work, attempts=3, backoff=Backoff.fixed(delay_ms=50))
    defined.append(made)
    await start([queue], jobs_concurrency=4)
    before = await made.trigger_many([{"n": n} for n in range(300)])
    slot = in_cluster.keyslot(CLUSTER.queue(queue))
    source = in_cluster.owner(slot)
    target = next(s for s in in_cluster.servers if s.port != source.port)
    await wait_until(lambda: len(done) >= 30, what="the drain under way")
    moving = asyncio.create_task(asyncio.to_thread(in_cluster.move_slot, slot, target))
    during = []
    while not moving.done():  # triggers while the slot moves
        during.append(await made.trigger({"n": 300 + len(during)}))
    await moving
    assert len(done) < 300 + len(during), "the drain ended before the move: it moved nothing busy"
    assert in_cluster.owner(slot).port == target.port
    after = [await made.trigger({"n": n}) for n in range(1000, 1010)]
    for handle in [*before, *during, *after]:
        await handle.result(timeout=20)
    assert sorted(done) == [*range(300 + len(during)), *range(1000, 1010)]  # each exactly once
    assert (await admin.counts(queue)).completed == 310 + len(during)
    waited = [e for e in logs if e["event"] == "redis.slot_migrating"]
    assert waited, "no script waited out the migration: the test moved nothing under load"


async def test_queue_names_with_braces_are_refused_since_they_would_break_the_hash_tag() -> None:
    async def noop(item: Item) -> None: ...

    with pytest.raises(JobDefinitionError, match="braces"):
        job(name="braces", queue="{emails}", run=noop)


def test_arqs_worker_is_refused_a_cluster_with_one_line(cluster: Cluster) -> None:
    with pytest.raises(StartupError, match="arq's worker cannot use"):
        arq_worker_settings(load_settings(redis_url=cluster.url))


async def test_a_cluster_connection_uses_the_cluster_layout(in_cluster: Cluster) -> None:
    conn = await connection.for_current_loop()
    assert conn.keys is CLUSTER
    assert await conn.redis.ping()


async def test_a_url_of_the_wrong_kind_is_refused_in_one_line(cluster: Cluster, tmp_path: Path) -> None:
    """`redis://` to a cluster node would fail every command with MOVED, `redis+cluster://` to a
    single Redis every command: both stop at once, naming REDIS_URL, without a traceback."""
    node = f"redis://127.0.0.1:{cluster.servers[0].port}/0"
    single = os.environ.get("JOBS_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    plain = single.replace("redis://", "redis+cluster://").rsplit("/", 1)[0]  # a cluster has no database
    cli = runner("any", tmp_path, node)
    for command, url, says in (
        (("worker", "--burst"), node, "is a node of a Redis Cluster; use redis+cluster://"),
        (("stats",), plain, "is not in cluster mode"),
    ):
        result = await cli(*command, env={"REDIS_URL": url, "JOBS_CONNECT_TIMEOUT": "2"})
        assert result.code != 0, result.out
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and says in lines[0] and "REDIS_URL=" in lines[0], result.err


async def test_a_queue_moves_from_a_single_redis_into_the_cluster_and_back(
    cluster: Cluster, defined: list[Job[Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`jobs move-queue Q --to URL`: the queued, delayed and keyed jobs, a failure's record with its
    attempts, a run-time schedule and the pause all arrive in the other layout, and leave the source;
    a job a worker holds stays, is named, and the command exits 1."""
    from .conftest import REDIS_URL, run_burst

    cluster.flush()
    queue = f"moving-{uuid.uuid4().hex[:8]}"
    failing = asyncio.Event()

    async def work(item: Item) -> int:
        if not failing.is_set():
            failing.set()
            raise RuntimeError("first one fails")
        return item.n

    made = job(name=f"move-{queue}", queue=queue, run=work, attempts=2, backoff=Backoff.fixed(delay_ms=1))
    defined.append(made)
    first = await made.trigger({"n": 0})  # fails twice in a burst, then is retained as failed
    failing.clear()

    async def always_fail(item: Item) -> int:
        raise RuntimeError("no")

    broken = job(name=f"broken-{queue}", queue=queue, run=always_fail, attempts=2, backoff=Backoff.fixed(delay_ms=1))
    defined.append(broken)
    failed = await broken.trigger({"n": 1})
    await run_burst([queue])
    assert (await first.status(), await failed.status()) == (JobStatus.COMPLETED, JobStatus.FAILED)
    queued = await made.trigger_many([{"n": n} for n in range(2, 7)])
    later = [await made.trigger({"n": 7}, delay=3600), await made.trigger({"n": 8}, delay=3600, priority=4)]
    keyed = await made.trigger({"n": 9}, key="user-1", debounce=3600)  # scheduled an hour out
    await made.schedule("hourly", Every(hours=1), {"n": 10})
    await admin.pause(queue)

    cli = runner(queue, tmp_path, REDIS_URL)
    dry = await cli("move-queue", queue, "--to", cluster.url, "--dry-run", "--json")
    assert dry.code == 0, dry.err
    counted = dry.json()
    assert isinstance(counted, dict)
    assert (counted["jobs"], counted["records"], counted["schedules"], counted["trigger_keys"]) == (8, 2, 1, 1)
    assert (await admin.counts(queue)).queued == 5  # a dry run changes nothing

    moved = await cli("move-queue", queue, "--to", cluster.url, "--json")
    assert moved.code == 0, moved.err
    left = await admin.counts(queue)
    assert (left.queued, left.scheduled, left.completed, left.failed, left.paused) == (0, 0, 0, 0, False)
    source = (await connection.for_current_loop()).redis
    ids = [h.id for h in (*queued, *later, keyed, failed)]
    assert await source.exists(*[keys.job(i) for i in ids], *[keys.record(i) for i in ids]) == 0
    assert await source.exists(keys.schedules(queue), keys.trigger_key(queue, made.name, "user-1")) == 0

    monkeypatch.setenv("REDIS_URL", cluster.url)
    get_settings.cache_clear()
    await connection.disconnect()
    counts = await admin.counts(queue)
    assert (counts.queued, counts.scheduled, counts.completed, counts.failed, counts.paused) == (5, 3, 1, 1, True)
    assert [a.number for a in await admin.attempts(failed.id)] == [1, 2]
    assert [s.id for s in await made_schedules(queue)] == ["hourly"]
    assert (await admin.get_job(later[1].id)).priority == 4  # type: ignore[union-attr]
    again = await made.trigger({"n": 99}, key="user-1", debounce=3600)
    assert again.id == keyed.id and again.replaced  # the trigger key came along, with its life
    await admin.resume(queue)
    worker = Worker(queues=[queue], settings=load_settings(redis_url=cluster.url), handle_signals=False)
    running = asyncio.create_task(worker.run())
    try:
        assert [await h.result(timeout=10) for h in queued] == [2, 3, 4, 5, 6]
    finally:
        worker.request_stop()
        await asyncio.wait_for(running, 10)

    # Back: the delayed jobs return to the single Redis; one held by a worker stays and is named.
    held = later[0].id
    await (await connection.for_current_loop()).redis.set(CLUSTER.lock(held, queue), "some-worker")
    back = await runner(queue, tmp_path, cluster.url)("move-queue", queue, "--to", REDIS_URL)
    assert back.code == 1 and held in back.err and "a worker holds them" in back.err, back.err
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    get_settings.cache_clear()
    await connection.disconnect()
    assert (await admin.get_job(later[1].id)).priority == 4  # type: ignore[union-attr]
    assert (await admin.get_job(held)) is None
    prio = CLUSTER.priority(queue)
    with contextlib.closing(cluster.client(cluster.owner(cluster.keyslot(prio)))) as owner:
        assert not owner.exists(prio), "the job moved back left the cluster's priority set"


async def made_schedules(queue: str) -> list[Any]:
    from jobs.ops import schedules

    return [s for s in await schedules.list_schedules() if s.queue == queue]

"""Locks under faults: what happens when a worker loses a lock, or never hears that it took one."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs import Backoff
from jobs.store import keys, scripts
from jobs.store.inspection import get_record

from .conftest import Define, StartWorker
from .fault_support import eventually, fault_env, report, triggering_into
from .helpers import wait_until
from .processes import remote_job, worker_process
from .redis_server import RedisServer, redis_server


async def test_a_job_whose_lock_vanished_while_it_runs_is_not_started_again_by_the_same_worker(
    define: Define, start_worker: StartWorker, redis: Redis
) -> None:
    """A lock that lapsed mid-run (long outage, blocked loop) never makes its worker run the job twice."""
    runs: list[int] = []
    gate = asyncio.Event()

    async def hold(payload: int) -> int:
        runs.append(payload)
        await gate.wait()
        return payload

    held = define(hold)
    worker = await start_worker(concurrency=2, jobs_poll_interval=0.05)
    handle = await held.trigger(1)
    await wait_until(lambda: runs, what="the job running")
    await redis.delete(keys.lock(handle.id))  # as its expiry during a long outage would
    try:
        with pytest.raises(AssertionError, match="timed out"):  # twenty polls: none may start it again
            await wait_until(lambda: len(runs) > 1, timeout=1.0, what="a second run")
    finally:
        gate.set()
    assert await handle.result(timeout=5) == 1
    assert runs == [1] and worker.totals()["completed"] == 1


class ReplyDropper:
    """A TCP proxy to the test Redis that, once armed, swallows the first reply containing `marker`
    and closes that connection: Redis ran the command, the client never hears of it."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.marker: bytes | None = None
        self.dropped = asyncio.Event()
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        tasks = [asyncio.create_task(self._pump(client_r, up_w, replies=False))]
        tasks.append(asyncio.create_task(self._pump(up_r, client_w, replies=True)))
        self._tasks.update(tasks)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_w, up_w):
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool) -> None:
        while data := await reader.read(65536):
            if replies and self.marker is not None and self.marker in data:
                self.marker = None
                self.dropped.set()
                return  # the reply is lost with the connection
            writer.write(data)
            await writer.drain()


@pytest.mark.slow
async def test_a_job_claimed_in_a_reply_that_never_arrived_runs_without_waiting_for_its_lock(
    define: Define, start_worker: StartWorker, redis: Redis
) -> None:
    """The worker reconnects and finds the job it locked itself: it runs now as attempt 1, not once the lock expires."""

    async def echo(payload: int) -> int:
        return payload

    echoed = define(echo)
    upstream = redis.connection_pool.connection_kwargs["port"]
    proxy = ReplyDropper(upstream)
    port = await proxy.start()
    try:
        db = redis.connection_pool.connection_kwargs.get("db", 0)
        await start_worker(redis_url=f"redis://127.0.0.1:{port}/{db}", jobs_lock_timeout=5, jobs_poll_interval=0.1)
        handle = await echoed.trigger(1, delay=0.3)  # armed before the worker can claim it
        proxy.marker = handle.id.encode()
        await wait_until(proxy.dropped.is_set, timeout=3, what="the claim reply dropped")
        assert await handle.result(timeout=2.5) == 1
        record = await handle.record()
        assert record is not None and record.attempts == 1
    finally:
        await proxy.close()


def _named(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]


async def test_a_job_whose_outcome_is_being_stored_is_not_reported_as_having_lost_its_lock(
    define: Define, start_worker: StartWorker, redis: Redis, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing an outcome deletes the lock while the job still counts as running: a renewal in that
    window (a job lasting a multiple of a third of the lock) is no lost lock."""

    async def quick(payload: int) -> int:
        return payload

    quick_job = define(quick)
    worker = await start_worker()
    runner = worker.runners[0]
    stored, release = asyncio.Event(), asyncio.Event()
    call = runner.conn.link.call

    async def reply_held_back(script: Any, script_keys: Any, args: Any) -> Any:
        reply = await call(script, script_keys, args)  # Redis has run it: the outcome is stored
        if script is scripts.SETTLE_AND_CLAIM and "c" in args:
            stored.set()
            await release.wait()  # a slow network: the worker hears of it later
        return reply

    monkeypatch.setattr(runner.conn.link, "call", reply_held_back)
    handle = await quick_job.trigger(1)
    await wait_until(stored.is_set, what="the outcome stored, its reply held back")
    assert not await redis.exists(keys.lock(handle.id)) and handle.id in runner.running
    await runner.locks.renew()  # what the renewal timer does every third of the lock
    release.set()
    assert await handle.result(timeout=5) == 1
    assert _named(logs, "job.lock_lost") == []


async def test_a_lock_another_worker_holds_now_is_reported_lost_and_left_alone(
    define: Define, start_worker: StartWorker, redis: Redis, logs: list[dict[str, Any]]
) -> None:
    """Renewal extends only this worker's own locks, and reports a running job's lock that is not."""
    gate = asyncio.Event()

    async def hold(payload: int) -> int:
        await gate.wait()
        return payload

    held = define(hold)
    worker = await start_worker()
    handle = await held.trigger(1)
    await wait_until(lambda: handle.id in worker.runners[0].running, what="the job running")
    await redis.set(keys.lock(handle.id), "another-worker", px=5_000)  # took it over after a lapse
    try:
        await worker.runners[0].locks.renew()
        assert [e["job_id"] for e in _named(logs, "job.lock_lost")] == [handle.id]
        assert 0 < await redis.pttl(keys.lock(handle.id)) <= 5_000, "the other worker's lock is not extended"
    finally:
        gate.set()


@pytest.mark.parametrize("outcome", ["completed", "retry"])
async def test_an_outcome_is_discarded_once_another_worker_holds_the_job(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str, logs: list[dict[str, Any]], outcome: str
) -> None:
    """The lock token is the fence: a stale outcome touches neither the record, the queue, nor the
    other worker's lock; the worker logs job.outcome_discarded."""
    gate = asyncio.Event()

    async def hold(payload: str) -> str:
        await gate.wait()
        if payload == "retry":
            raise RuntimeError("fails, to be retried")
        return payload

    held = define(hold, attempts=3, backoff=Backoff.fixed(delay_ms=60_000))
    worker = await start_worker()
    handle = await held.trigger(outcome)
    await wait_until(lambda: handle.id in worker.runners[0].running, what="the job running")
    due = await redis.zscore(keys.queue(queue), handle.id)
    await redis.set(keys.lock(handle.id), "another-worker", px=60_000)
    try:
        gate.set()
        discarded = await wait_until(lambda: _named(logs, "job.outcome_discarded"), what="the discard logged")
        assert discarded[0]["job_id"] == handle.id and discarded[0]["attempt"] == 1
        assert discarded[0]["outcome"] == ("completed" if outcome == "completed" else "retried")
        assert await redis.get(keys.lock(handle.id)) == b"another-worker"
        assert await redis.zscore(keys.queue(queue), handle.id) == due, "not re-queued"
        assert await get_record(handle.id) is None and await redis.exists(keys.job(handle.id))
        assert worker.totals() == {"completed": 0, "failed": 0, "retried": 0, "released": 0}
    finally:
        await redis.delete(keys.lock(handle.id), keys.job(handle.id))
        await redis.zrem(keys.queue(queue), handle.id)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as running:
        yield running


@pytest.mark.slow
async def test_a_worker_frozen_past_its_lock_discards_its_outcome_instead_of_overwriting_the_new_one(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP a worker mid-job, let a second take the job over and finish it, resume the first:
    the record stays the second's (attempt 2), and the first logs job.outcome_discarded."""
    flag = f"{queue}:go"
    async with triggering_into(server, monkeypatch) as redis:
        env = fault_env(queue, server.admin_url, JOBS_LOCK_TIMEOUT="1")
        with worker_process(env) as first:
            await first.wait_for("worker.ready")
            handle = await remote_job("fault.record", queue).trigger({"n": 1, "flag": flag})
            await first.wait_for("job.started", job_id=handle.id)
            first.send(signal.SIGSTOP)
            try:
                with worker_process(env) as second:
                    await second.wait_for("job.started", job_id=handle.id, attempt=2, timeout=10)
                    await redis.set(flag, "1")
                    taken_over = await eventually(handle.record, timeout=10, what="the second worker's record")
            finally:
                first.send(signal.SIGCONT)
            discarded = await first.wait_for("job.outcome_discarded", job_id=handle.id, timeout=10)
            record = await handle.record()
    report("frozen-worker", attempts_recorded=record.attempts if record else None, discarded=discarded["outcome"])
    assert taken_over.attempts == 2 and record is not None and record.attempts == 2
    assert discarded["attempt"] == 1 and discarded["outcome"] == "completed"

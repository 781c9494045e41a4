"""Redis Sentinel (`REDIS_URL=redis+sentinel://...`): a master, its replica and three sentinels of
our own. Triggers, a worker, the `jobs` command, the dashboard and arq's worker reach the master
through the sentinels and follow a failover to the new one without a restart; `JOBS_WAIT_REPLICAS`
makes a trigger return only once a replica holds its job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from jobs import Job, JobHandle, RedisUnavailableError
from jobs.runtime.arq_compat import worker_settings as arq_worker_settings
from jobs.runtime.process import StartupError
from jobs.settings import get_settings, load_settings
from jobs.store import connection, keys

from .cli_runner import runner
from .conftest import Define, StartWorker
from .dashboard_support import http
from .fault_support import report
from .helpers import wait_until
from .processes import ARQ, process_env, remote_job, run_to_exit
from .sentinel_setup import SERVICE, SentinelDeployment, redis_client, redis_sentinel

pytestmark = pytest.mark.slow


class Item(BaseModel):
    n: int


async def double(item: Item) -> int:
    return item.n * 2


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    with redis_sentinel(tmp_path_factory.mktemp("sentinel")) as made:
        yield made


@pytest.fixture
def behind_sentinel(deployment: SentinelDeployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[SentinelDeployment]:
    """This test's triggers and reads go through the sentinels."""
    monkeypatch.setenv("REDIS_URL", deployment.url)
    get_settings.cache_clear()
    yield deployment
    get_settings.cache_clear()


def master_client(deployment: SentinelDeployment) -> Redis:
    return Redis(port=deployment.master_port(), socket_timeout=5)


async def trigger_once_redis_answers(made: Job[Any], payload: dict[str, Any], timeout: float = 15.0) -> JobHandle:
    """Trigger until a trigger is acknowledged (triggers fail fast while there is no master)."""

    async def attempt() -> JobHandle | None:
        try:
            return await made.trigger(payload)
        except RedisUnavailableError:
            return None

    handle: JobHandle = await wait_until(attempt, timeout=timeout, interval=0.05, what="a trigger acknowledged")
    return handle


async def test_a_trigger_and_a_worker_reach_the_master_through_the_sentinels(
    behind_sentinel: SentinelDeployment, define: Define, start_worker: StartWorker, queue: str
) -> None:
    made = define(double)
    await start_worker(redis_url=behind_sentinel.url)
    handle = await made.trigger({"n": 4})
    assert await handle.result(timeout=5) == 8
    async with master_client(behind_sentinel) as master:
        assert await master.exists(keys.record(handle.id))
    conn = await connection.for_current_loop()
    assert conn.sentinel is not None and conn.keys is keys.DEFAULT


async def test_triggers_a_worker_and_the_dashboard_follow_a_failover_within_seconds(
    behind_sentinel: SentinelDeployment, define: Define, start_worker: StartWorker, queue: str
) -> None:
    from jobs.dashboard import dashboard

    made = define(double)
    await start_worker(redis_url=behind_sentinel.url, jobs_poll_interval=30.0)  # wake-ups, not polls
    assert await (await made.trigger({"n": 1})).result(timeout=5) == 2
    before = behind_sentinel.master_port()
    await asyncio.to_thread(behind_sentinel.failover)
    began = time.monotonic()
    handle = await trigger_once_redis_answers(made, {"n": 21})
    triggered_after = time.monotonic() - began
    assert await handle.result(timeout=10) == 42
    done_after = time.monotonic() - began
    assert behind_sentinel.master_port() != before
    async with master_client(behind_sentinel) as master:
        assert await master.exists(keys.record(handle.id)), "the job ran on the new master"
        subscribed = await wait_until(
            lambda: _subscribers(master, keys.DEFAULT.wake_channel(queue)), timeout=10, what="subscribed again"
        )
        assert subscribed == 1, "the worker's subscription moved to the new master"
    async with http(dashboard()) as client:
        page = await client.get(f"/jobs/{handle.id}")
        assert page.status_code == 200 and "completed" in page.text.lower()
    report("sentinel-failover", trigger_after_s=round(triggered_after, 2), job_done_after_s=round(done_after, 2))
    assert done_after < 10, "the worker follows the new master within seconds"


async def _subscribers(redis: Redis, channel: str) -> int:
    [(_, count)] = await redis.pubsub_numsub(channel)
    return int(count)


async def test_the_jobs_command_works_through_a_sentinel_url(
    behind_sentinel: SentinelDeployment, queue: str, tmp_path: Path
) -> None:
    cli = runner(queue, tmp_path, behind_sentinel.url)
    triggered = await cli("trigger", "cli-double", '{"n": 21}', "--json")
    assert triggered.code == 0, triggered.err
    job_id = triggered.json()["id"]  # type: ignore[index]
    stats = await cli("stats", "--json")
    assert stats.code == 0, stats.err
    assert any(q["queue"] == queue and q["queued"] == 1 for q in stats.json())  # type: ignore[union-attr]
    shown = await cli("show", job_id, "--json")
    assert shown.code == 0 and shown.json()["status"] == "queued", shown.out + shown.err  # type: ignore[index]
    async with master_client(behind_sentinel) as master:
        assert await master.exists(keys.job(job_id))


async def test_a_trigger_returns_once_a_replica_holds_the_job(
    behind_sentinel: SentinelDeployment, define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_WAIT_REPLICAS", "1")
    get_settings.cache_clear()
    made = define(double)
    replica = Redis(port=behind_sentinel.current_replica().port, socket_timeout=5)
    async with replica:
        for n in range(20):  # read at once, no waiting: WAIT returned only once the replica had it
            handle = await made.trigger({"n": n})
            assert await replica.exists(keys.job(handle.id)), f"trigger {n} returned before the replica held it"
        handles = await made.trigger_many([{"n": n} for n in range(5)])
        assert await replica.exists(*(keys.job(h.id) for h in handles)) == 5


async def test_arqs_worker_runs_jobs_through_the_sentinels(behind_sentinel: SentinelDeployment, queue: str) -> None:
    """`arq servers.jobs.WorkerSettings --burst` with a sentinel URL: arq's own Sentinel support."""
    handle = await remote_job("process.echo", queue).trigger({"text": "via arq and sentinel"})
    done = run_to_exit([*ARQ, "--burst"], process_env(queue, REDIS_URL=behind_sentinel.url))
    assert done.returncode == 0, done.output
    record = await handle.record()
    assert record is not None and record.result == {"text": "via arq and sentinel"}


def test_arqs_worker_refuses_what_its_sentinel_support_cannot_do_in_one_line(deployment: SentinelDeployment) -> None:
    with pytest.raises(StartupError, match="JOBS_SENTINEL_PASSWORD"):
        arq_worker_settings(load_settings(redis_url=deployment.url, jobs_sentinel_password="x"))
    tls = deployment.url.replace("redis+sentinel", "rediss+sentinel")
    with pytest.raises(StartupError, match="plain connections"):
        arq_worker_settings(load_settings(redis_url=tls))


async def test_a_master_demoted_under_an_open_link_answers_readonly_and_the_next_trigger_reaches_the_new_one(
    tmp_path: Path, define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roles swapped by hand (no Sentinel failover, so nobody disconnects the clients): the lean link
    still talks to the old master, now a replica. Its READONLY breaks the link; the next trigger asks
    the sentinels again and reaches the new master."""
    with redis_sentinel(tmp_path / "own") as own:
        monkeypatch.setenv("REDIS_URL", own.url)
        get_settings.cache_clear()
        made = define(double)
        await made.trigger({"n": 1})  # opens the link to the master
        old, new = own.current_master(), own.current_replica()
        with redis_client(new) as promoted, redis_client(old) as demoted:
            promoted.execute_command("REPLICAOF", "NO", "ONE")
            demoted.execute_command("REPLICAOF", "127.0.0.1", str(new.port))
        for sentinel in own.sentinels:  # as an operator would after a manual switch
            with sentinel.client() as client:
                client.execute_command("SENTINEL", "REMOVE", SERVICE)
                client.execute_command("SENTINEL", "MONITOR", SERVICE, "127.0.0.1", new.port, 2)
        with pytest.raises(RedisUnavailableError, match="demoted"):
            await made.trigger({"n": 2})
        handle = await made.trigger({"n": 3})
        with redis_client(new) as promoted:
            assert promoted.exists(keys.job(handle.id))
        await connection.disconnect()


async def test_a_service_the_sentinels_do_not_know_is_one_line(
    deployment: SentinelDeployment, queue: str, tmp_path: Path
) -> None:
    unknown = deployment.url.replace(f"/{SERVICE}/", "/no-such-service/")
    cli = runner(queue, tmp_path, unknown)
    stats = await cli("stats", env={"JOBS_CONNECT_TIMEOUT": "1"})
    assert stats.code != 0
    assert "No master found for 'no-such-service'" in stats.err and "Traceback" not in stats.err, stats.err


async def test_sentinels_with_a_password_of_their_own_take_jobs_sentinel_password(
    tmp_path: Path, define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL carries the master's password; the sentinels' differs and comes from JOBS_SENTINEL_PASSWORD.
    Without it the sentinels refuse, which is one `RedisUnavailableError` naming the service."""
    with redis_sentinel(tmp_path / "auth", password="data-secret", sentinel_password="sentinel-secret") as own:
        monkeypatch.setenv("REDIS_URL", own.url)
        get_settings.cache_clear()
        made = define(double)
        with pytest.raises(RedisUnavailableError, match="No master found for 'jobs-test'") as refused:
            await made.trigger({"n": 1})
        assert "data-secret" not in str(refused.value)
        await connection.disconnect()
        monkeypatch.setenv("JOBS_SENTINEL_PASSWORD", "sentinel-secret")
        get_settings.cache_clear()
        handle = await made.trigger({"n": 2})
        with redis_client(own.current_master()) as master:
            assert master.exists(keys.job(handle.id))
        await connection.disconnect()

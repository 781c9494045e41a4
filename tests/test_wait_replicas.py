"""`JOBS_WAIT_REPLICAS=N`: a trigger returns once N replicas hold its job (Redis WAIT, sent right
after the script on the same connection), and raises `RedisUnavailableError` when fewer do in
time; off (0), a trigger sends no WAIT at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from jobs import RedisUnavailableError
from jobs.settings import get_settings
from jobs.store import connection, keys
from jobs.store.keys import CLUSTER

from .cluster_setup import redis_cluster
from .conftest import Define
from .redis_server import RedisServer, redis_server
from .sentinel_setup import QUICK_SYNC, wait_until_in_sync


class Item(BaseModel):
    n: int


async def noop(item: Item) -> int:
    return item.n


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A private master and its replica, the replica in sync."""
    with (
        redis_server(tmp_path / "master", *QUICK_SYNC) as master,
        redis_server(tmp_path / "replica", "--replicaof", "127.0.0.1", str(master.port), *QUICK_SYNC) as replica,
    ):
        wait_until_in_sync(master)
        yield master, replica


def waiting_for(monkeypatch: pytest.MonkeyPatch, url: str, replicas: int, timeout_ms: int = 1000) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("JOBS_WAIT_REPLICAS", str(replicas))
    monkeypatch.setenv("JOBS_WAIT_REPLICAS_TIMEOUT_MS", str(timeout_ms))
    get_settings.cache_clear()


async def test_each_trigger_returns_once_the_replica_holds_its_job(
    pair: tuple[RedisServer, RedisServer], define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    master, replica_server = pair
    waiting_for(monkeypatch, master.admin_url, 1)
    made = define(noop)
    keyed = define(noop, name="wait-keyed")
    async with Redis.from_url(replica_server.admin_url) as replica:
        for n in range(50):  # read at once: WAIT returned only once the replica had the write
            handle = await made.trigger({"n": n})
            assert await replica.exists(keys.job(handle.id)), f"trigger {n} returned before the replica held it"
        handles = await made.trigger_many([{"n": n} for n in range(10)])
        assert await replica.exists(*(keys.job(h.id) for h in handles)) == 10
        debounced = await keyed.trigger({"n": 1}, key="k", debounce=60)
        assert await replica.exists(keys.job(debounced.id))
    await connection.disconnect()


async def test_fewer_replicas_than_asked_is_redis_unavailable_naming_the_setting(
    pair: tuple[RedisServer, RedisServer], define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    master, _ = pair
    waiting_for(
        monkeypatch, master.admin_url, 2, timeout_ms=100
    )  # one replica (which a busy machine may not hear from in time)
    made = define(noop)
    with pytest.raises(RedisUnavailableError, match=r"only [01] of 2 replicas acknowledged.*JOBS_WAIT_REPLICAS"):
        await made.trigger({"n": 1})
    async with Redis.from_url(master.admin_url) as redis:
        assert await redis.zcard(keys.queue(made.queue)) == 1, "the job is on the master, as the error says"
    await connection.disconnect()


async def test_without_the_setting_a_trigger_sends_no_wait(
    pair: tuple[RedisServer, RedisServer], define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    master, _ = pair
    waiting_for(monkeypatch, master.admin_url, 0)
    made = define(noop)
    await made.trigger({"n": 1})
    async with Redis.from_url(master.admin_url) as redis:
        stats = await redis.info("commandstats")
    assert "cmdstat_wait" not in stats and "cmdstat_evalsha" in stats
    await connection.disconnect()


@pytest.mark.slow
async def test_in_a_cluster_the_wait_goes_to_the_node_of_the_queue(
    tmp_path: Path, define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three primaries without replicas: WAIT 1 on the queue's node answers 0, so the trigger raises;
    WAIT 0... is not sent. The job is on the node that owns the queue's slot."""
    with redis_cluster(tmp_path / "cluster") as cluster:
        waiting_for(monkeypatch, cluster.url, 1, timeout_ms=50)
        made = define(noop)
        with pytest.raises(RedisUnavailableError, match="only 0 of 1 replicas"):
            await made.trigger({"n": 1})
        owner = cluster.owner(cluster.keyslot(CLUSTER.queue(made.queue)))
        with cluster.client(owner) as node:
            assert node.zcard(CLUSTER.queue(made.queue)) == 1
            assert "cmdstat_wait" in node.info("commandstats")
        await connection.disconnect()

"""The hot scripts' pipelined link and the worker's subscription, against a real Redis: replies
reach their own callers, a forgotten script is loaded again, a broken or silent connection
fails what waits on it (as redis-py would) and the next call connects again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs.store.script_link import ScriptLink
from jobs.store.scripts import LuaScript
from jobs.store.subscription import Subscription

from .helpers import wait_until
from .redis_server import RedisServer, redis_server

ECHO = LuaScript("return {KEYS[1], ARGV[1]}")


@pytest.fixture
def private(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def private_client(private: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(private.url())
    yield client
    await client.aclose()


async def test_concurrent_calls_share_one_connection_and_each_gets_its_own_reply(redis: Redis) -> None:
    link = ScriptLink(redis, timeout=5)
    try:
        replies = await asyncio.gather(*(link.call(ECHO, [f"k{i}"], [i]) for i in range(300)))
        assert replies == [[f"k{i}".encode(), str(i).encode()] for i in range(300)]
        opened = link._replies
        await link.call(ECHO, ["again"], [1])
        assert link._replies is opened
    finally:
        await link.close()


async def test_a_script_redis_does_not_know_is_loaded_and_run(redis: Redis) -> None:
    fresh = LuaScript(f"-- {uuid.uuid4().hex}\nreturn ARGV[1]")
    assert await redis.script_exists(fresh.sha) == [False]
    link = ScriptLink(redis, timeout=5)
    try:
        assert await link.call(fresh, [], ["ran"]) == b"ran"
        assert await redis.script_exists(fresh.sha) == [True]
    finally:
        await link.close()


async def test_a_script_error_is_raised_and_the_connection_stays_usable(redis: Redis) -> None:
    link = ScriptLink(redis, timeout=5)
    try:
        with pytest.raises(ResponseError, match="boom"):
            await link.call(LuaScript("return redis.error_reply('boom')"), [], [])
        assert await link.call(ECHO, ["k"], ["after"]) == [b"k", b"after"]
    finally:
        await link.close()


async def test_a_lost_connection_fails_the_waiting_call_and_the_next_call_connects_again(
    private: RedisServer, private_client: Redis
) -> None:
    link = ScriptLink(private_client, timeout=30)
    try:
        await link.call(ECHO, ["k"], ["first"])
        await private_client.client_pause(10_000, all=True)  # the call below cannot be answered
        waiting = asyncio.ensure_future(link.call(ECHO, ["k"], ["never"]))
        assert private.process is not None
        private.process.kill()
        private.process.wait(5)
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(waiting, 5)
        private.start()
        assert await link.call(ECHO, ["k"], ["second"]) == [b"k", b"second"]
    finally:
        await link.close()


async def test_a_call_without_a_reply_times_out(private_client: Redis) -> None:
    link = ScriptLink(private_client, timeout=0.2)
    try:
        await link.call(ECHO, ["k"], ["warm"])
        await private_client.client_pause(1500, all=True)
        with pytest.raises(RedisTimeoutError):
            await link.call(ECHO, ["k"], ["paused"])
        await private_client.client_unpause()
        assert await link.call(ECHO, ["k"], ["after"]) == [b"k", b"after"]
    finally:
        await link.close()


async def test_the_subscription_dispatches_each_channel_to_its_handler_once_subscribed(redis: Redis) -> None:
    channel_a, channel_b = f"jobs-test:{uuid.uuid4().hex}".encode(), f"jobs-test:{uuid.uuid4().hex}".encode()
    got: list[tuple[str, bytes]] = []
    subscribed = asyncio.Event()
    subscription = Subscription({channel_a: lambda d: got.append(("a", d)), channel_b: lambda d: got.append(("b", d))})
    running = asyncio.ensure_future(subscription.run(redis, subscribed.set))
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        assert await redis.publish(channel_a, "1") == 1  # subscribed means both channels are
        assert await redis.publish(channel_b, b"two \x00 bytes") == 1
        await wait_until(lambda: len(got) == 2, what="both messages")
        assert got == [("a", b"1"), ("b", b"two \x00 bytes")]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert await redis.publish(channel_a, "gone") == 0  # the connection was closed


async def test_a_silent_subscription_is_noticed_by_its_probe(private_client: Redis) -> None:
    subscription = Subscription({b"jobs-test:silent": lambda _: None}, probe_interval=0.1)
    subscribed = asyncio.Event()
    running = asyncio.ensure_future(subscription.run(private_client, subscribed.set))
    await asyncio.wait_for(subscribed.wait(), 5)
    await private_client.client_pause(2000, all=True)
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(running, 1.5)
    finally:
        await private_client.client_unpause()


async def test_a_killed_subscription_raises_connection_error(private_client: Redis) -> None:
    subscribed = asyncio.Event()
    running = asyncio.ensure_future(
        Subscription({b"jobs-test:kill": lambda _: None}).run(private_client, subscribed.set)
    )
    await asyncio.wait_for(subscribed.wait(), 5)
    assert await private_client.execute_command("CLIENT KILL TYPE pubsub") == 1
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(running, 5)


async def test_scripts_are_called_by_the_sha1_redis_gives_them(redis: Redis) -> None:
    assert await redis.script_load(ECHO.text) == ECHO.sha


async def test_a_handler_that_raises_does_not_end_the_subscription(redis: Redis) -> None:
    channel = f"jobs-test:{uuid.uuid4().hex}".encode()
    got: list[bytes] = []

    def handle(data: bytes) -> None:
        if data == b"junk":
            raise ValueError("not a hand-off")
        got.append(data)

    subscribed = asyncio.Event()
    running = asyncio.ensure_future(Subscription({channel: handle}).run(redis, subscribed.set))
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        await redis.publish(channel, "junk")
        await redis.publish(channel, "fine")
        await wait_until(lambda: got == [b"fine"], what="the message after the bad one")
        assert not running.done()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

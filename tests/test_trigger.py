"""trigger(): validate first, store JSON in arq's layout, one handle per job, ids deduplicated."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from jobs import JobStatus, PayloadTooLargeError, RedisUnavailableError, disconnect
from jobs.settings import get_settings
from jobs.store import connection, keys
from jobs.testing import mock_triggers

from .conftest import Define


class Welcome(BaseModel):
    user_id: str
    plan: str = "free"


async def send_welcome(payload: Welcome) -> None:
    return None


async def test_a_trigger_stores_the_validated_payload_as_json(define: Define, redis: Redis, queue: str) -> None:
    """The stored job is JSON in arq's layout, defaults applied, and the job is queued now."""
    welcome = define(send_welcome)
    handle = await welcome.trigger({"user_id": "u-1"})
    stored = json.loads(await redis.get(keys.job(handle.id)))
    assert stored["f"] == welcome.name and stored["q"] == queue
    assert stored["a"] == [{"user_id": "u-1", "plan": "free"}] and stored["k"] == {}
    assert await redis.zscore(keys.queue(queue), handle.id) is not None
    assert (handle.job, handle.queue, handle.enqueued) == (welcome.name, queue, True)
    assert await handle.status() is JobStatus.QUEUED


async def test_an_instance_of_the_payload_type_is_accepted(define: Define, redis: Redis) -> None:
    """Callers may pass the model itself instead of a dict."""
    handle = await define(send_welcome).trigger(Welcome(user_id="u-2", plan="pro"))
    assert json.loads(await redis.get(keys.job(handle.id)))["a"] == [{"user_id": "u-2", "plan": "pro"}]


async def test_an_invalid_payload_raises_and_writes_nothing(define: Define, redis: Redis, queue: str) -> None:
    """pydantic's ValidationError surfaces before any Redis write."""
    welcome = define(send_welcome)
    with pytest.raises(ValidationError):
        await welcome.trigger({"user": "typo"})
    with pytest.raises(ValidationError):
        await welcome.trigger_many([{"user_id": "ok"}, {"user_id": 42}])
    assert await redis.exists(keys.queue(queue)) == 0


async def test_a_stored_job_never_expires_while_queued(define: Define, redis: Redis) -> None:
    """Unlike arq's one-day default, a queued job has no TTL: nothing queued is lost to expiry."""
    handle = await define(send_welcome).trigger({"user_id": "u-1"}, delay=timedelta(days=3))
    assert await redis.ttl(keys.job(handle.id)) == -1


async def test_delay_defers_the_start(define: Define, redis: Redis, queue: str) -> None:
    """`delay` in seconds or as a timedelta sets when the job becomes due."""
    welcome = define(send_welcome)
    soon = await welcome.trigger({"user_id": "u-1"}, delay=30)
    later = await welcome.trigger({"user_id": "u-1"}, delay=timedelta(minutes=2))
    soon_score = await redis.zscore(keys.queue(queue), soon.id)
    later_score = await redis.zscore(keys.queue(queue), later.id)
    assert soon_score is not None and later_score is not None
    assert 89_000 <= later_score - soon_score <= 91_000
    assert await soon.status() is JobStatus.SCHEDULED
    with pytest.raises(ValueError, match="negative"):
        await welcome.trigger({"user_id": "u-1"}, delay=-1)


async def test_a_job_id_already_queued_enqueues_nothing(define: Define, redis: Redis, queue: str) -> None:
    """The second trigger with the same id says so on its handle and leaves the first intact."""
    welcome = define(send_welcome)
    job_id = f"welcome-{queue}"
    first = await welcome.trigger({"user_id": "first"}, job_id=job_id)
    second = await welcome.trigger({"user_id": "second"}, job_id=job_id)
    assert (first.id, first.enqueued) == (job_id, True)
    assert (second.id, second.enqueued) == (job_id, False)
    assert json.loads(await redis.get(keys.job(job_id)))["a"] == [{"user_id": "first", "plan": "free"}]
    assert await redis.zcard(keys.queue(queue)) == 1


async def test_a_retained_job_id_enqueues_nothing(define: Define, redis: Redis, queue: str) -> None:
    """A finished job that is still retained blocks its id too, so a webhook retried twice runs once."""
    welcome = define(send_welcome)
    job_id = f"retained-{queue}"
    await redis.set(keys.record(job_id), b"{}")
    try:
        handle = await welcome.trigger({"user_id": "u-1"}, job_id=job_id)
        assert handle.enqueued is False
        assert await redis.exists(keys.job(job_id)) == 0
    finally:
        await redis.delete(keys.record(job_id))


async def test_trigger_many_enqueues_a_batch_in_one_call(define: Define, redis: Redis, queue: str) -> None:
    """Every payload gets its own id and handle."""
    handles = await define(send_welcome).trigger_many([{"user_id": f"u-{i}"} for i in range(50)])
    assert len({h.id for h in handles}) == 50 and all(h.enqueued for h in handles)
    assert await redis.zcard(keys.queue(queue)) == 50
    assert await define(send_welcome).trigger_many([]) == []


def test_trigger_works_from_a_new_event_loop_each_time(define: Define) -> None:
    """A pool bound to a closed loop must not break the next call (test suites do this per test)."""
    welcome = define(send_welcome)
    ids = [asyncio.run(welcome.trigger({"user_id": f"u-{i}"})).id for i in range(3)]
    assert len(set(ids)) == 3  # and each loop's client is closed with its loop: no ResourceWarning


async def test_trigger_with_redis_down_raises_a_clear_error(
    define: Define, monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    """No hang, no raw socket error: the message names the redacted URL."""
    monkeypatch.setenv("REDIS_URL", f"redis://user:s3cret@127.0.0.1:{unused_tcp_port}/0")
    get_settings.cache_clear()
    with pytest.raises(RedisUnavailableError, match=r"cannot reach Redis at redis://user:\*\*\*@127\.0\.0\.1") as info:
        await define(send_welcome).trigger({"user_id": "u-1"})
    assert "s3cret" not in str(info.value)


async def test_a_payload_over_the_size_limit_is_rejected_before_writing(
    define: Define, redis: Redis, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Payloads stay small (64 KiB by default, JOBS_MAX_PAYLOAD_BYTES): large data belongs in a database."""

    async def store_blob(payload: str) -> None:
        return None

    blob = define(store_blob)
    await blob.trigger("x" * 60_000)
    with pytest.raises(PayloadTooLargeError, match="JOBS_MAX_PAYLOAD_BYTES"):
        await blob.trigger("x" * 70_000)
    monkeypatch.setenv("JOBS_MAX_PAYLOAD_BYTES", "100")
    get_settings.cache_clear()
    with pytest.raises(PayloadTooLargeError):
        await blob.trigger("x" * 200)
    assert await redis.zcard(keys.queue(queue)) == 1


async def test_disconnect_closes_this_loops_client_and_the_next_trigger_reconnects(define: Define) -> None:
    """An app's shutdown hook can close the client; a later trigger opens a new one."""
    welcome = define(send_welcome)
    await welcome.trigger({"user_id": "u-1"})
    first = await connection.for_current_loop()
    await disconnect()
    assert (await welcome.trigger({"user_id": "u-2"})).enqueued
    assert await connection.for_current_loop() is not first


async def test_a_trigger_many_error_names_the_payload_that_failed(
    define: Define, redis: Redis, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's index leads each error's location (`2.user_id`), as validating a list would; nothing is written."""
    welcome = define(send_welcome)
    with pytest.raises(ValidationError) as info:
        await welcome.trigger_many([{"user_id": "a"}, {"user_id": "b"}, {"user_id": 42, "plan": None}])
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        ((2, "user_id"), "string_type"),
        ((2, "plan"), "string_type"),
    ]
    assert "2.user_id\n  Input should be a valid string" in str(info.value)
    monkeypatch.setenv("JOBS_MAX_PAYLOAD_BYTES", "40")
    get_settings.cache_clear()
    with pytest.raises(PayloadTooLargeError, match=r"^payload 1 of the batch: .* over the 40 byte limit"):
        await welcome.trigger_many([{"user_id": "a"}, {"user_id": "b" * 50}])
    assert await redis.exists(keys.queue(queue)) == 0


async def test_an_empty_job_id_is_refused_rather_than_replaced_by_a_random_one(
    define: Define, redis: Redis, queue: str
) -> None:
    """`job_id=""` would lose the deduplication the caller asked for: ValueError, nothing written."""
    welcome = define(send_welcome)
    with pytest.raises(ValueError, match="job_id must be a non-empty string"):
        await welcome.trigger({"user_id": "u-1"}, job_id="")
    assert await redis.exists(keys.queue(queue)) == 0


async def test_the_mocked_triggers_refuse_a_bad_batch_item_and_an_empty_job_id_as_the_real_ones(
    define: Define,
) -> None:
    """Under `mock_triggers()` (the pytest plugin's mocks) the errors are the real trigger's."""
    welcome = define(send_welcome)
    with mock_triggers():
        with pytest.raises(ValidationError) as info:
            await welcome.trigger_many([{"user_id": "a"}, {"user_id": 42}])
        assert [e["loc"] for e in info.value.errors()] == [(1, "user_id")]
        with pytest.raises(ValueError, match="job_id must be a non-empty string"):
            await welcome.trigger({"user_id": "a"}, job_id="")
        with pytest.raises(ValidationError) as single:
            await welcome.trigger({"user_id": 42})
        assert [e["loc"] for e in single.value.errors()] == [("user_id",)]

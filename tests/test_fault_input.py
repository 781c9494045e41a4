"""Hostile input at both ends: payloads a trigger must refuse before writing, and stored data a
worker must survive. tests/test_trigger.py and tests/test_worker.py hold the basic cases
(size limit on trigger, garbage, truncated JSON, pickle, unknown job, old schema, deep nesting)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from jobs import JobStatus, PayloadTooLargeError, admin
from jobs.store import keys
from jobs.store.inspection import get_record
from jobs.store.stored import MAX_SHOWN_NAME

from .conftest import REDIS_URL, Define, StartWorker
from .fault_support import eventually, fault_env, report
from .processes import worker_process


async def echo(payload: Any) -> Any:
    return payload


async def test_trigger_many_with_one_payload_over_the_limit_writes_none_of_the_batch(
    define: Define, redis: Redis, queue: str
) -> None:
    """The whole batch is validated and sized before the one write: nothing half-enqueued."""
    batch = define(echo)
    with pytest.raises(PayloadTooLargeError, match="over the 65536 byte limit"):
        await batch.trigger_many(["small", "x" * 70_000, "small"])
    assert await redis.exists(keys.queue(queue)) == 0


async def test_the_size_limit_counts_utf8_bytes_not_characters(define: Define, redis: Redis, queue: str) -> None:
    """40,000 'é' are 80,000 bytes of JSON: over 64 KiB though fewer characters."""
    accents = define(echo)
    assert (await accents.trigger("é" * 30_000)).enqueued  # 60,000 bytes
    with pytest.raises(PayloadTooLargeError, match="80002 bytes"):
        await accents.trigger("é" * 40_000)
    assert await redis.zcard(keys.queue(queue)) == 1


async def test_a_huge_payload_is_refused_in_well_under_a_second(define: Define, redis: Redis, queue: str) -> None:
    """A million-element list (about 6 MB of JSON) costs one validation and one dump, then is refused."""
    huge = define(echo)
    began = time.perf_counter()
    with pytest.raises(PayloadTooLargeError):
        await huge.trigger(list(range(1_000_000)))
    took = time.perf_counter() - began
    report("huge-payload", elements=1_000_000, refused_after_s=round(took, 3))
    assert took < 1.0 and await redis.exists(keys.queue(queue)) == 0


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_nested(100_000), "depth exceeded"),
        (_circular(), "Circular reference"),
        ({"handle": object()}, "Unable to serialize unknown type"),
        ({"bytes": b"\xff\xfe"}, "invalid utf-8"),
    ],
    ids=["nested-100000-deep", "circular", "opaque-object", "non-utf8-bytes"],
)
async def test_a_payload_that_cannot_be_json_is_refused_at_trigger_and_writes_nothing(
    define: Define, redis: Redis, queue: str, payload: Any, message: str
) -> None:
    """A ValueError at the call site, never a half-written job or one the worker cannot read."""
    refused = define(echo)
    with pytest.raises(ValueError, match=message):
        await refused.trigger(payload)
    assert await redis.exists(keys.queue(queue)) == 0


async def test_the_deepest_payload_a_trigger_accepts_runs_in_the_worker(
    define: Define, start_worker: StartWorker
) -> None:
    """Whatever passes the trigger's serializer (254 levels) is readable and valid in the worker too."""
    deep = define(echo)
    payload = _nested(254)
    with pytest.raises(ValueError, match="depth exceeded"):
        await deep.trigger(_nested(255))
    handle = await deep.trigger(payload)
    await start_worker()
    assert await handle.result(timeout=5) == payload


class Reading(BaseModel):
    value: float


async def read(payload: Reading) -> float:
    return payload.value


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "infinity"])
async def test_a_payload_the_trigger_accepts_is_one_the_worker_can_run(
    define: Define, start_worker: StartWorker, value: float
) -> None:
    """A float the model accepts either survives the trip through Redis or is refused at trigger."""
    reading = define(read)
    try:
        handle = await reading.trigger({"value": value})
    except ValueError:
        return  # refused at the call site: acceptable
    await start_worker()
    assert await handle.result(timeout=5) == pytest.approx(value, nan_ok=True)


async def _write_raw(redis: Redis, queue: str, job_id: str | bytes, data: bytes | None) -> None:
    raw_id = job_id.encode() if isinstance(job_id, str) else job_id
    if data is not None:
        await redis.set(keys.JOB_PREFIX.encode() + raw_id, data)
    await redis.zadd(keys.queue(queue), {raw_id: 0})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"f":"%(name)s","a":[1,2],"k":{}}', "exactly one payload argument"),
        (b'{"f":7,"a":[1],"k":{}}', "no job name"),
        (None, "missing"),
    ],
    ids=["two-arguments", "name-not-a-string", "job-key-deleted"],
)
async def test_more_broken_stored_jobs_are_failed_with_the_reason_and_the_worker_goes_on(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str, data: bytes | None, reason: str
) -> None:
    """A job of several arguments, a name that is not a string, or a job key deleted while queued."""
    alive = define(echo)
    job_id = f"broken-{queue}"
    await _write_raw(redis, queue, job_id, data and data.replace(b"%(name)s", alive.name.encode()))
    await start_worker()
    record = await eventually(lambda: get_record(job_id), what="failure record")
    assert record.status is JobStatus.FAILED and record.error is not None
    assert record.error.type == "UndecodableJob" and reason in record.error.message
    assert await (await alive.trigger("still alive")).result(timeout=5) == "still alive"


@pytest.mark.slow
async def test_a_queue_member_that_is_not_utf8_does_not_stall_the_queue(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """Bytes no trigger writes, put in the queue by hand: failed (or dropped), and the good jobs run at once."""
    good = define(echo, attempts=1)
    bad_id = b"bad-\xff\xfe-" + queue.encode()
    await _write_raw(redis, queue, bad_id, json.dumps({"f": good.name, "a": [1], "k": {}}).encode())
    try:
        handles = await good.trigger_many(["a", "b", "c"])
        await start_worker(concurrency=4, jobs_lock_timeout=0.5)
        assert [await h.result(timeout=3) for h in handles] == ["a", "b", "c"]
        await eventually(lambda: _gone(redis, queue, bad_id), timeout=3, what="the bad id out of the queue")
    finally:
        await redis.zrem(keys.queue(queue), bad_id)
        await redis.delete(keys.JOB_PREFIX.encode() + bad_id, keys.LOCK_PREFIX.encode() + bad_id)
        await redis.delete(keys.TRIES_PREFIX.encode() + bad_id, keys.RECORD_PREFIX.encode() + bad_id)


async def _gone(redis: Redis, queue: str, member: bytes) -> bool:
    return await redis.zscore(keys.queue(queue), member) is None


def _deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"f":"%(name)s","a":[' + _deep_json(600) + b'],"k":{}}', "nesting deeper than 512 levels at payload[0]"),
        (b'{"f":"%(name)s","a":[{"text":"a\\ud800b"}],"k":{}}', "a lone surrogate at payload['text']"),
        (b'{"f":"%(name)s","a":[{"ratio":NaN}],"k":{}}', "a number JSON cannot hold (nan) at payload['ratio']"),
        (b'{"f":"%(name)s\\udc00","a":[1],"k":{}}', "a lone surrogate at the job name"),
    ],
    ids=["nested-600-deep", "lone-surrogate", "nan", "lone-surrogate-in-name"],
)
async def test_a_stored_job_beyond_what_trigger_accepts_is_failed_with_the_reason_and_reads_back(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str, data: bytes, reason: str
) -> None:
    """Written by a plain arq producer or by hand: held to the trigger's limits, failed as UndecodableJob,
    and its record shown by every reader."""
    alive = define(echo)
    job_id = f"beyond-{queue}"
    await _write_raw(redis, queue, job_id, data.replace(b"%(name)s", alive.name.encode()))
    await start_worker()
    record = await eventually(lambda: get_record(job_id), what="failure record")
    assert record.status is JobStatus.FAILED and record.error is not None
    assert (record.error.type, reason in record.error.message) == ("UndecodableJob", True), record.error.message
    info = await admin.get_job(job_id)
    assert info is not None
    json.dumps(info.to_dict(), indent=2, ensure_ascii=False).encode()  # what `jobs show --json` prints
    assert await (await alive.trigger("still alive")).result(timeout=5) == "still alive"


class Node(BaseModel):
    children: list[Node] = []


async def count_nodes(payload: Node) -> int:
    return 1 + sum([await count_nodes(child) for child in payload.children])


async def test_a_payload_as_deep_as_trigger_accepts_runs_and_every_reader_shows_its_record(
    define: Define, start_worker: StartWorker
) -> None:
    """A recursive model 250 nodes deep is 501 levels of JSON (more than the native parser's 200):
    the trigger takes it, so the worker runs it, and `jobs show` renders its record."""
    tree = Node()
    for _ in range(250):
        tree = Node(children=[tree])
    handle = await define(count_nodes).trigger(tree)
    await start_worker()
    assert await handle.result(timeout=5) == 251
    info = await admin.get_job(handle.id)
    assert info is not None and info.status is JobStatus.COMPLETED
    assert '"children"' in json.dumps(info.to_dict(), indent=2)


async def test_a_megabyte_job_name_read_from_redis_is_bounded_in_the_log_line_and_the_record(
    redis: Redis, queue: str
) -> None:
    """A stored job no trigger wrote, named with a million characters: a job.failed line of a few hundred."""
    job_id = f"huge-name-{queue}"
    await _write_raw(redis, queue, job_id, json.dumps({"f": "n" * 1_000_000, "a": [1], "k": {}}).encode())
    with worker_process(fault_env(queue, REDIS_URL)) as worker:
        failed = await worker.wait_for("job.failed", job_id=job_id)
        record = await eventually(lambda: get_record(job_id), what="failure record")
    lines = [line for line in worker.stdout_lines if job_id in line]
    report("huge-job-name", name_chars=1_000_000, longest_line=max(map(len, lines)))
    assert failed["error"]["type"] == "UnknownJob" and max(map(len, lines)) < 3 * MAX_SHOWN_NAME + 1_000
    assert record.job.startswith("n" * MAX_SHOWN_NAME) and len(record.job) < MAX_SHOWN_NAME + 50

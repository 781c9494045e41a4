"""Jobs for the fault-injection tests: `JOBS_MODULES=tests.fault_jobs` in worker subprocesses.

Every job is on the queue named by `FAULT_JOBS_QUEUE`. `fault.record` writes each of its runs
to Redis under that queue's name, so a test can count runs across killed and restarted workers
(`runs`), and catch two runs of one id at the same time (`running` above 1 sets `overlaps`).
The test process triggers these jobs by name (`tests.processes.remote_job`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import os
import pathlib
import sys
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from jobs import Backoff, current_attempt, job

QUEUE = os.environ.get("FAULT_JOBS_QUEUE", "fault-jobs")
RUNS = f"{QUEUE}:runs"  # hash: job id -> runs started
RUNNING = f"{QUEUE}:running"  # hash: job id -> runs in progress now
OVERLAPS = f"{QUEUE}:overlaps"  # hash: job id -> times a run started while another was running
STARTS = f"{QUEUE}:starts"  # list of "id pid unix-time" per run started
SPANS = f"{QUEUE}:spans"  # list of "id pid start end" per run finished

_client: Redis | None = None


def client() -> Redis:
    """One client for the worker's loop (the worker runs a single loop)."""
    global _client
    if _client is None:
        _client = Redis.from_url(os.environ["REDIS_URL"])
    return _client


async def _bump(key: str, job_id: str) -> None:
    """HINCRBY key job_id 1 (through a pipeline, whose commands redis-py types plainly)."""
    async with client().pipeline(transaction=False) as pipe:
        pipe.execute_command("HINCRBY", key, job_id, 1)
        await pipe.execute()


def _job_id() -> str:
    attempt = current_attempt()
    assert attempt is not None
    return attempt.job_id


async def record(payload: dict[str, Any]) -> int:
    """Count this run, hold for `ms` (or until the key `flag` exists), return `n`."""
    redis, job_id, pid = client(), _job_id(), os.getpid()
    started = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.execute_command("HINCRBY", RUNS, job_id, 1)
        pipe.execute_command("HINCRBY", RUNNING, job_id, 1)
        pipe.execute_command("RPUSH", STARTS, f"{job_id} {pid} {started}")
        _, running, _ = await pipe.execute()
    if running > 1:
        await _bump(OVERLAPS, job_id)
    try:
        flag = payload.get("flag")
        if flag:
            while True:  # polled: the flag is set by the test process
                if await redis.exists(flag):
                    break
                await asyncio.sleep(0.02)
        else:
            await asyncio.sleep(float(payload.get("ms", 0)) / 1000)
    finally:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("HINCRBY", RUNNING, job_id, -1)
            pipe.execute_command("RPUSH", SPANS, f"{job_id} {pid} {started} {time.time()}")
            await pipe.execute()
    return int(payload["n"])


async def sleep(payload: dict[str, Any]) -> int:
    """No Redis of its own: for tests that take Redis away while jobs run."""
    await asyncio.sleep(float(payload.get("ms", 0)) / 1000)
    return int(payload["n"])


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ raises")


class NotAStringError(Exception):
    def __str__(self) -> Any:
        return 42  # str() of it raises TypeError


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ raises")


def _chained(links: int, size: int) -> BaseException:
    """An exception with `links` causes, each message `size` characters: a huge traceback."""
    error: BaseException = ValueError("root cause " + "r" * size)
    for i in range(links):
        try:
            raise RuntimeError(f"link {i} " + "c" * size) from error
        except RuntimeError as exc:
            error = exc
    return error


async def explode(payload: dict[str, Any]) -> None:
    """Raise the hostile exception named by `kind`."""
    kind, size = payload["kind"], int(payload.get("size", 1_000_000))
    if kind == "huge-message":
        raise RuntimeError("m" * size)
    if kind == "huge-binary-message":
        raise RuntimeError("\x00" * size)  # every character is escaped in JSON: the worst case for a log line
    if kind == "huge-traceback":
        raise _chained(links=2_000, size=200)
    if kind == "unprintable":
        raise UnprintableError()
    if kind == "str-not-a-string":
        raise NotAStringError()
    if kind == "unrepresentable-argument":
        raise ValueError(_BadRepr())
    if kind == "log-injection":
        raise RuntimeError('line one\n{"event":"job.completed","level":"info"}\r\n\x1b[31mred\x00nul')
    if kind == "unserializable-arguments":
        raise RuntimeError(object(), sys.stdout, lambda: None, {1, 2})
    if kind == "system-exit":
        raise SystemExit(3)  # sys.exit() deep in some library the job calls
    raise AssertionError(f"unknown kind {kind!r}")


class Opaque:
    """A result with no JSON form: it fails its attempt (UnstorableResult)."""

    def __repr__(self) -> str:
        return "Opaque(42)"


class Color(enum.Enum):
    RED = "red"


class Receipt(BaseModel):
    """A pydantic model result: dumped as pydantic dumps it to JSON, by alias."""

    paid_at: datetime.datetime
    amount: decimal.Decimal = Field(alias="Amount")


@dataclasses.dataclass
class Totals:
    count: int
    tags: frozenset[str]


async def odd_result(payload: dict[str, Any]) -> Any:
    """Return the result named by `kind`; `runs` counts how often it ran."""
    await _bump(RUNS, _job_id())
    kind = payload["kind"]
    paid = datetime.datetime(2025, 1, 7, 10, 42, tzinfo=datetime.UTC)
    results: dict[str, Any] = {
        "object": Opaque(),
        "set": {3, 1, 2},
        "tuple-keys": {(1, 2): "pair"},
        "huge-int": 10**100,
        "exception": KeyError("as a result"),
        "lambda": lambda: None,
        "utf8-bytes": b"abc",
        "nested-bytes": {"files": [{"name": "a.txt", "data": b"\x00\xff"}]},
        "nan": {"ratio": float("nan")},
        "infinity": float("inf"),
        "lone-surrogate": {"text": "\ud800"},
        "too-large": "x" * (int(os.environ.get("JOBS_MAX_RESULT_BYTES", 1024 * 1024)) + 1),
        "converted": {
            "when": paid,
            "day": paid.date(),
            "id": uuid.UUID(int=7),
            "price": decimal.Decimal("9.90"),
            "color": Color.RED,
            "path": pathlib.PurePosixPath("/tmp/report.csv"),
            "pair": (1, 2),
            "receipt": Receipt(paid_at=paid, Amount=decimal.Decimal("1.5")),
            "totals": Totals(count=2, tags=frozenset({"a"})),
            7: "an int key",
        },
    }
    if kind in results:
        return results[kind]
    if kind == "non-utf8-bytes":
        return b"\xff\xfe"
    if kind == "circular":
        loop: list[Any] = []
        loop.append(loop)
        return loop
    if kind == "unrepresentable":
        return _BadRepr()
    raise AssertionError(f"unknown kind {kind!r}")


async def cancels_itself(payload: dict[str, Any]) -> None:
    """Raise CancelledError from inside the job, as awaiting something cancelled elsewhere does."""
    await _bump(RUNS, _job_id())
    raise asyncio.CancelledError()


async def echo(payload: Any) -> Any:
    return payload


async def blocks(payload: dict[str, Any]) -> str:
    """Blocking code in a coroutine: holds the event loop for `ms`, past its timeout."""
    time.sleep(float(payload["ms"]) / 1000)  # noqa: ASYNC251 - the blocking code under test
    return "finished late"


_QUICK = Backoff.fixed(delay_ms=10)
job(name="fault.record", run=record, queue=QUEUE, attempts=50, backoff=_QUICK, timeout=60)
job(name="fault.sleep", run=sleep, queue=QUEUE, attempts=50, backoff=_QUICK, timeout=60)
job(name="fault.explode", run=explode, queue=QUEUE, attempts=2, backoff=Backoff.fixed(delay_ms=0))
job(name="fault.odd_result", run=odd_result, queue=QUEUE, attempts=3, backoff=_QUICK)
job(name="fault.cancels_itself", run=cancels_itself, queue=QUEUE, attempts=3, backoff=_QUICK)
job(name="fault.echo", run=echo, queue=QUEUE)
job(name="fault.blocks", run=blocks, queue=QUEUE, attempts=2, backoff=Backoff.fixed(delay_ms=0), timeout=1)

"""Typed results: `handle.result()` validates the stored JSON into the run function's return
annotation, so a pydantic model comes back as the model; unannotated results come back as stored."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from jobs import JobFailedError, JobStatus
from jobs.store import keys

from .conftest import Define, StartWorker


class Receipt(BaseModel):
    order: int
    paid_on: date
    lines: list[str]


async def test_a_pydantic_model_result_comes_back_as_the_model(define: Define, start_worker: StartWorker) -> None:
    """Stored as JSON (the date as ISO text), read back as a `Receipt` with a real `date`."""

    async def checkout(payload: int) -> Receipt:
        return Receipt(order=payload, paid_on=date(2026, 12, 1), lines=["tea", "cake"])

    job = define(checkout)
    handle = await job.trigger(7)
    await start_worker()
    receipt = await handle.result(timeout=5)
    assert receipt == Receipt(order=7, paid_on=date(2026, 12, 1), lines=["tea", "cake"])
    assert isinstance(receipt, Receipt) and isinstance(receipt.paid_on, date)
    record = await handle.record()
    assert record is not None and record.result == {"order": 7, "paid_on": "2026-12-01", "lines": ["tea", "cake"]}


async def test_plain_and_unannotated_results(define: Define, start_worker: StartWorker) -> None:
    """A tuple annotation validates the stored list back into a tuple; no annotation, the JSON as stored."""

    async def pair(payload: int) -> tuple[int, str]:
        return (payload, str(payload))

    async def loose(payload: int):  # type: ignore[no-untyped-def]
        return (payload, str(payload))

    typed, untyped = await define(pair).trigger(1), await define(loose).trigger(2)
    await start_worker()
    assert await typed.result(timeout=5) == (1, "1")
    assert await untyped.result(timeout=5) == [2, "2"]


async def test_a_stored_result_that_no_longer_fits_the_type_is_a_validation_error(
    define: Define, start_worker: StartWorker, redis: Redis
) -> None:
    """The return annotation changed since the job ran: the handle says so rather than lie about the type."""

    async def count(payload: int) -> int:
        return payload

    handle = await define(count).trigger(5)
    await start_worker()
    assert await handle.result(timeout=5) == 5
    record = await handle.record()
    assert record is not None
    raw = record.to_dict() | {"result": "five"}
    await redis.set(keys.record(handle.id), json.dumps(raw))
    with pytest.raises(ValidationError):
        await handle.result(timeout=5)


async def test_an_unfinished_job_is_waited_for_up_to_the_timeout(define: Define) -> None:
    """No worker runs it: `result(timeout=...)` raises TimeoutError, and the job is still queued."""

    async def later(payload: int) -> int:
        return payload

    handle = await define(later).trigger(1)
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.2 s"):
        await handle.result(timeout=0.2)
    assert await handle.status() is JobStatus.QUEUED


async def test_a_failed_job_raises_with_its_record(define: Define, start_worker: StartWorker) -> None:
    """`JobFailedError` carries the record whatever the result type."""

    async def broken(payload: int) -> Receipt:
        raise RuntimeError("no receipt")

    handle = await define(broken, attempts=1).trigger(1)
    await start_worker()
    with pytest.raises(JobFailedError, match="no receipt") as raised:
        await handle.result(timeout=5)
    failed: Any = raised.value.record
    assert failed.status is JobStatus.FAILED

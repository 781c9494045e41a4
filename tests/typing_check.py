"""Checked by mypy (`make lint`), not run: static checkers infer the payload type of a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, assert_type

from pydantic import BaseModel
from typing_extensions import TypedDict

from jobs import Attempt, CancelResult, Job, JobHandle, Progress, current_attempt, job


class Welcome(BaseModel):
    user_id: str


class Invoice(TypedDict):
    invoice_id: int


async def send_welcome(payload: Welcome) -> None: ...


send_welcome_job = job(name="typing-send-welcome", queue="emails", run=send_welcome)
assert_type(send_welcome_job, Job[Welcome, None])


@job(name="typing-invoice")
async def invoice_job(payload: Invoice) -> int:
    return payload["invoice_id"]


assert_type(invoice_job, Job[Invoice, int])


@dataclass
class Refund:
    amount_cents: int


@job(name="typing-refund")
async def refund_job(payload: Refund) -> None: ...


@job(name="typing-count")
async def count_job(payload: int) -> None: ...


async def handler() -> None:
    handle = await send_welcome_job.trigger({"user_id": "u-1"})
    assert_type(handle, JobHandle[None])
    await send_welcome_job.trigger(Welcome(user_id="u-1"))
    await invoice_job.trigger({"invoice_id": 1})
    await send_welcome_job.trigger(42)  # type: ignore[call-overload]
    # A TypedDict payload: the dict literal itself is checked.
    await invoice_job.trigger({"invoice_id": "1"})  # type: ignore[typeddict-item]
    await invoice_job.trigger({"invoice": 1})  # type: ignore[typeddict-unknown-key, typeddict-item]
    await invoice_job.trigger_many([{"invoice_id": 1}, {"invoice_id": 2}])
    # A model or dataclass payload: instances are checked, a plain mapping only at run time.
    await refund_job.trigger(Refund(amount_cents=100))
    await refund_job.trigger({"amount_cents": 100})
    await refund_job.trigger(Welcome(user_id="u-1"))  # type: ignore[call-overload]
    await send_welcome_job.trigger_many([Welcome(user_id="u-1"), {"user_id": "u-2"}])
    await count_job.trigger(3)
    await count_job.trigger("3")  # type: ignore[arg-type]
    await send_welcome_job.config.run(Welcome(user_id="u-1"))
    await send_welcome_job.config.run({"user_id": "u-1"})  # type: ignore[arg-type]
    # Priorities: an int, on every trigger.
    await refund_job.trigger(Refund(amount_cents=100), priority=10)
    await invoice_job.trigger_many([{"invoice_id": 1}], priority=-5)
    await count_job.trigger(3, priority="high")  # type: ignore[arg-type]


@job(name="typing-digest")
async def digest_job() -> None: ...


assert_type(digest_job, Job[None, None])


async def no_payload() -> None:
    await digest_job.trigger()
    await digest_job.trigger(delay=60, key="daily")
    await digest_job.trigger(priority=1)
    await digest_job.trigger({"x": 1})  # type: ignore[call-overload]
    handle = await invoice_job.trigger({"invoice_id": 1}, key="invoice:1", debounce=timedelta(minutes=5))
    assert_type(handle.outcome, str)


class Receipt(BaseModel):
    total_cents: int


@job(name="typing-checkout")
async def checkout_job(payload: Invoice) -> Receipt:
    await current_attempt().report_progress(0.5, message="charged")
    return Receipt(total_cents=payload["invoice_id"])


async def untyped(payload: int):  # type: ignore[no-untyped-def]
    return payload


untyped_job = job(name="typing-untyped", run=untyped)


async def typed_results() -> None:
    """A job's result type is its run function's return annotation, and `handle.result()` returns it."""
    assert_type(checkout_job, Job[Invoice, Receipt])
    handle = await checkout_job.trigger({"invoice_id": 1})
    assert_type(handle, JobHandle[Receipt])
    receipt = await handle.result(timeout=5)
    assert_type(receipt, Receipt)
    cents: int = receipt.total_cents
    text: str = await handle.result()  # type: ignore[assignment]
    assert_type(await invoice_job.trigger({"invoice_id": 1}), JobHandle[int])
    counted: int = await (await invoice_job.trigger({"invoice_id": 1})).result()
    batch = await checkout_job.trigger_many([{"invoice_id": 1}])
    assert_type(batch, list[JobHandle[Receipt]])
    assert_type(await digest_job.trigger(), JobHandle[None])
    # `Job[P]` still works, with `Any` for the result.
    loose: Job[Invoice] = invoice_job
    assert_type(await (await loose.trigger({"invoice_id": 1})).result(), Any)
    assert_type(untyped_job, Job[int, Any])
    assert_type(await handle.cancel(), CancelResult)
    assert_type(await handle.progress(), Progress | None)
    assert_type(current_attempt(), Attempt)
    del cents, text, counted

"""Checked by mypy (`make lint`), not run: static checkers infer the payload type of a job."""

from __future__ import annotations

from typing import TypedDict, assert_type

from pydantic import BaseModel

from jobs import Job, JobHandle, job


class Welcome(BaseModel):
    user_id: str


class Invoice(TypedDict):
    invoice_id: int


async def send_welcome(payload: Welcome) -> None: ...


send_welcome_job = job(name="typing-send-welcome", queue="emails", run=send_welcome)
assert_type(send_welcome_job, Job[Welcome])


@job(name="typing-invoice")
async def invoice_job(payload: Invoice) -> int:
    return payload["invoice_id"]


assert_type(invoice_job, Job[Invoice])


async def handler() -> None:
    handle = await send_welcome_job.trigger({"user_id": "u-1"})
    assert_type(handle, JobHandle)
    await send_welcome_job.trigger(Welcome(user_id="u-1"))
    await invoice_job.trigger({"invoice_id": 1})
    await send_welcome_job.trigger(42)  # type: ignore[arg-type]
    await send_welcome_job.config.run(Welcome(user_id="u-1"))
    await send_welcome_job.config.run({"user_id": "u-1"})  # type: ignore[arg-type]

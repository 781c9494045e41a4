"""The support endpoints against a real Redis: a failed welcome email, read and retried."""

import httpx
from fastapi import FastAPI

from examples.support import router
from examples.users import sign_up
from jobs.testing import BurstWorker

app = FastAPI()
app.include_router(router)


async def test_a_failed_job_is_shown_listed_and_retried_once(jobs_worker: BurstWorker) -> None:
    handle = await sign_up("nobody@example.invalid", "Nobody")
    await jobs_worker.drain(queues=["emails"], timeout=30)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        shown = (await client.get(f"/support/jobs/{handle.id}")).json()
        failures = (await client.get("/support/jobs/queues/emails/failed")).json()
        retried = await client.post(f"/support/jobs/{handle.id}/retry")
        again = await client.post(f"/support/jobs/{handle.id}/retry")

    assert shown["status"] == "failed" and shown["record"]["error"]["type"].endswith("UnrecoverableError")
    assert [f["id"] for f in failures] == [handle.id]
    assert retried.status_code == 200 and retried.json()["job_id"] == handle.id
    assert again.status_code == 409  # queued again: no longer a failure to retry
    await jobs_worker.drain(queues=["emails"], timeout=30)  # the retry runs, and fails again
    record = await handle.record()
    assert record is not None and record.status.value == "failed" and record.attempts == 1

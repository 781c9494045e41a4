"""The README's FastAPI example: a handler triggers a job, the worker runs it."""

from __future__ import annotations

import httpx

from examples.jobs import send_welcome_email
from examples.web import app
from jobs import JobStatus
from jobs.store.inspection import get_record

from .conftest import run_burst


async def test_a_fastapi_handler_triggers_a_job_that_the_worker_runs() -> None:
    """POST /signups answers 202 with the job id; a burst worker then completes the job."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/signups", json={"email": "ada@example.com", "name": "Ada"})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    await run_burst([send_welcome_email.queue])
    record = await get_record(job_id)
    assert record is not None and record.status is JobStatus.COMPLETED
    assert record.result == {"status": "sent", "to": "ada@example.com"}

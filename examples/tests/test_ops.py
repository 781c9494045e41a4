"""Operating queues from Python, against a real Redis."""

from examples.ops import drop_job, queue_report, retry_failures
from examples.users import sign_up
from jobs import JobStatus
from jobs.testing import BurstWorker


async def test_failures_are_reported_and_retried_and_a_queued_job_can_be_dropped(jobs_worker: BurstWorker) -> None:
    failed = await sign_up("nobody@example.invalid", "Nobody")
    await jobs_worker.drain(queues=["emails"], timeout=30)
    assert any(line.startswith("emails: 0 queued, 0 running, ") for line in await queue_report())

    assert await retry_failures("emails") == {}
    assert await failed.status() is JobStatus.QUEUED

    assert await drop_job("emails", failed.id)
    assert await failed.status() is JobStatus.NOT_FOUND

from jobs import admin
from jobs.records import JobStatus


async def queue_report() -> list[str]:
    lines = []
    for queue in await admin.known_queues():  # the defined queues, then any other queue Redis holds
        counts = await admin.counts(queue)  # QueueCounts: queued, scheduled, running, completed, failed, paused
        lines.append(f"{queue}: {counts.queued} queued, {counts.running} running, {counts.failed} failed")
    return lines


async def retry_failures(queue: str) -> dict[str, str]:
    """After fixing the bug: run every retained failure of `queue` again; returns those that could not be."""
    for record in await admin.latest(JobStatus.FAILED, queue, limit=5):  # newest first (queue=None: every queue)
        print(record.id, record.error)
    result = await admin.retry_all_failed(queue)  # None: every queue. RetryAllResult(retried=[...], skipped={id: why})
    return result.skipped


async def drop_job(queue: str, job_id: str) -> bool:
    await admin.pause(queue)  # workers take nothing from it; triggers still enqueue
    try:
        info = await admin.get_job(job_id)  # JobInfo (live or retained) or None
        if info is None or info.status is JobStatus.RUNNING:
            return False
        await admin.remove(job_id)  # JobStateError for a running job, JobNotFoundError for an unknown one
        return True
    finally:
        await admin.resume(queue)  # idle workers start at once

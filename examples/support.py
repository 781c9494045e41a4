from typing import Any

from fastapi import APIRouter, HTTPException

from jobs import admin, get_record, job_status, latest_failed

router = APIRouter(prefix="/support/jobs")


@router.get("/{job_id}")
async def show_job(job_id: str) -> dict[str, Any]:
    status = await job_status(job_id)  # JobStatus: QUEUED, SCHEDULED, RUNNING, COMPLETED, FAILED, CANCELLED, NOT_FOUND
    record = await get_record(job_id)  # JobRecord | None: payload, result, error, attempts, *_at timestamps
    return {"status": status.value, "record": record.to_dict() if record else None}


@router.get("/queues/{queue}/failed")
async def recent_failures(queue: str) -> list[dict[str, Any]]:
    return [record.to_dict() for record in await latest_failed(queue, limit=20)]  # newest first


@router.post("/{job_id}/retry")
async def retry(job_id: str) -> dict[str, str]:
    try:
        handle = await admin.retry_failed(job_id)  # same payload, fresh attempts
    except admin.JobNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except admin.JobStateError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"job_id": handle.id, "queue": handle.queue}

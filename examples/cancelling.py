from fastapi import APIRouter, HTTPException

from jobs import admin

router = APIRouter(prefix="/imports")


@router.post("/{job_id}/cancel")
async def cancel_import(job_id: str) -> dict[str, str]:
    result = await admin.cancel(job_id)  # queued: removed now; running: stopped in its worker
    if result.outcome == "not_found":
        raise HTTPException(404, result.message)
    if not result.changed:
        raise HTTPException(409, result.message)  # it had finished: nothing changed
    return {"job_id": job_id, "outcome": result.outcome}  # "cancelled" or "cancelling"

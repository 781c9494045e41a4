"""The audit trail: other jobs trigger `audit-log` to record what they did."""

from pydantic import BaseModel

from jobs import job


class AuditEvent(BaseModel):
    event: str
    subject: str


trail: list[AuditEvent] = []  # stands in for the app's audit table


@job(name="audit-log", queue="audit")
async def audit_log(payload: AuditEvent) -> None:
    trail.append(payload)

from pydantic import BaseModel, Field

from examples import email_provider
from examples.audit import audit_log
from jobs import Backoff, UnrecoverableError, job


class WelcomeEmail(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str


@job(name="send-welcome-email", queue="emails", attempts=5, backoff=Backoff.exponential(delay_ms=3000), timeout=30)
async def send_welcome_email(payload: WelcomeEmail) -> dict[str, str]:
    if payload.to.endswith("@example.invalid"):
        raise UnrecoverableError("address can never be delivered")  # fails now, no more attempts
    await email_provider.send(payload.to, template="welcome", name=payload.name)
    await audit_log.trigger({"event": "welcome-email-sent", "subject": payload.to})  # a job may trigger jobs
    return {"status": "sent", "to": payload.to}

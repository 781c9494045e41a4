"""Three example jobs that show the whole lifecycle in the worker's logs.

- `send-welcome-email` succeeds at once;
- `sync-crm-contact` fails twice (a flaky upstream), then succeeds on its third attempt;
- `charge-card` fails for good: a declined card is an `UnrecoverableError`, not retried.
"""

from __future__ import annotations

import asyncio

import structlog
from pydantic import BaseModel, Field

from jobs import Backoff, UnrecoverableError, current_attempt, job

log = structlog.get_logger(__name__)


class WelcomeEmail(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str


class CrmContact(BaseModel):
    user_id: str


class Charge(BaseModel):
    user_id: str
    amount_cents: int


@job(name="send-welcome-email", queue="emails")
async def send_welcome_email(payload: WelcomeEmail) -> dict[str, str]:
    await asyncio.sleep(0.05)  # stands in for the email provider's API call
    log.info("email.sent", to=payload.to)
    return {"status": "sent", "to": payload.to}


@job(name="sync-crm-contact", queue="default", attempts=5, backoff=Backoff.exponential(delay_ms=500))
async def sync_crm_contact(payload: CrmContact) -> str:
    attempt = current_attempt()
    if attempt is not None and attempt.number < 3:
        raise ConnectionError(f"CRM API timed out (attempt {attempt.number})")
    log.info("crm.synced", user_id=payload.user_id)
    return f"synced {payload.user_id}"


class CardDeclined(UnrecoverableError):
    """Retrying a declined card only declines it again."""


@job(name="charge-card", queue="default")
async def charge_card(payload: Charge) -> None:
    raise CardDeclined(f"card of {payload.user_id} declined for {payload.amount_cents} cents")

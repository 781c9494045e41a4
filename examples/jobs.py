"""The example jobs `make demo` runs (JOBS_MODULES=examples.jobs), each showing one outcome:

- `send-welcome-email` (examples/emails.py) succeeds at once, and triggers `audit-log`;
- `sync-crm-contact` fails twice (a flaky upstream), then succeeds on its third attempt;
- `charge-card` fails for good: a declined card is an `UnrecoverableError`, not retried;
- `refresh-exchange-rates` runs on its own every two seconds (a schedule, `Every(seconds=2)`), and
  `send-daily-digest` (examples/digest.py) every morning at 08:00 UTC.
"""

from __future__ import annotations

import structlog
from pydantic import BaseModel

from examples.audit import audit_log
from examples.digest import daily_digest
from examples.emails import send_welcome_email
from jobs import Backoff, Every, UnrecoverableError, current_attempt, job

__all__ = [
    "audit_log",
    "charge_card",
    "daily_digest",
    "refresh_exchange_rates",
    "send_welcome_email",
    "sync_crm_contact",
]

log = structlog.get_logger(__name__)


class CrmContact(BaseModel):
    user_id: str


class Charge(BaseModel):
    user_id: str
    amount_cents: int


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


@job(name="refresh-exchange-rates", queue="default", schedule=Every(seconds=2))
async def refresh_exchange_rates() -> str:
    log.info("rates.refreshed")
    return "rates refreshed"

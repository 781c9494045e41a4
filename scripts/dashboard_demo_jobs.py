"""Jobs of a small shop, for the dashboard's screenshots (scripts/dashboard_screenshots.py).

Imported by the script and by the worker processes it starts (JOBS_MODULES=dashboard_demo_jobs).
"""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import BaseModel, Field

from jobs import Backoff, UnrecoverableError, current_attempt, job


class WelcomeEmail(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="the new user's address")
    name: str
    locale: str = "en"


class Charge(BaseModel):
    customer_id: str
    amount_cents: int = Field(gt=0)
    currency: str = "EUR"


class Invoice(BaseModel):
    order_id: str
    customer_id: str


class Contact(BaseModel):
    user_id: str


class Image(BaseModel):
    path: str
    width: int = 1200


class CardDeclined(UnrecoverableError):
    """The issuer declined: retrying declines again."""


class GatewayError(ConnectionError):
    """The provider's API did not answer in time: worth another attempt."""


class PaymentsClient:
    """Stands in for the payment provider's SDK."""

    async def create_charge(self, customer_id: str, amount_cents: int, currency: str) -> dict[str, str]:
        await asyncio.sleep(0.02)
        return await self._post("/v1/charges", customer_id, amount_cents, currency)

    async def _post(self, path: str, customer_id: str, amount_cents: int, currency: str) -> dict[str, str]:
        charge = "ch_" + hashlib.sha1(f"{customer_id}{amount_cents}".encode()).hexdigest()[:14]
        luck = int(hashlib.sha1(customer_id.encode()).hexdigest(), 16)
        if luck % 7 == 0:
            raise CardDeclined(
                f"card_declined: insufficient_funds (charge {charge}, {amount_cents / 100:.2f} {currency})"
            )
        if luck % 5 == 0:
            raise GatewayError(f"POST https://api.payments.example{path}: 504 Gateway Timeout after 10.0 s ({charge})")
        return {"id": charge, "status": "succeeded"}


payments = PaymentsClient()


@job(name="send-welcome-email", queue="emails", attempts=5, timeout=30)
async def send_welcome_email(payload: WelcomeEmail) -> dict[str, str]:
    await asyncio.sleep(0.03)
    return {"status": "sent", "to": payload.to, "template": f"welcome.{payload.locale}"}


@job(name="charge-card", queue="billing", attempts=3, backoff=Backoff.exponential(delay_ms=200))
async def charge_card(payload: Charge) -> dict[str, str]:
    return await payments.create_charge(payload.customer_id, payload.amount_cents, payload.currency)


@job(name="render-invoice-pdf", queue="reports", timeout=600)
async def render_invoice_pdf(payload: Invoice) -> dict[str, str]:
    await asyncio.sleep(120)  # still running when the screenshots are taken
    return {"pdf": f"s3://invoices/{payload.order_id}.pdf"}


@job(name="sync-crm-contact", queue="default", attempts=5, backoff=Backoff.fixed(delay_ms=150))
async def sync_crm_contact(payload: Contact) -> str:
    attempt = current_attempt()
    if attempt is not None and attempt.number < 3:
        raise ConnectionError(f"CRM API timed out after 10 s (attempt {attempt.number})")
    return f"synced {payload.user_id}"


@job(name="resize-image", queue="media", timeout=60)
async def resize_image(payload: Image) -> str:
    await asyncio.sleep(0.01)
    return f"{payload.path}@{payload.width}w"

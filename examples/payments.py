from pydantic import BaseModel

from jobs import job


class Charge(BaseModel):
    order_id: str
    cents: int


# The payment API allows two connections per merchant: at most two charges run at once, over every worker.
@job(name="capture-payment", queue="payments", max_running=2)
async def capture_payment(payload: Charge) -> None: ...  # one call to the payment API

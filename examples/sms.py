from datetime import timedelta

from pydantic import BaseModel

from jobs import RateLimit, job


class Sms(BaseModel):
    to: str
    text: str


# The SMS provider accepts 100 messages a minute per account: that many start, over every worker.
@job(name="send-sms", queue="sms", rate_limit=RateLimit(100, per=timedelta(minutes=1)))
async def send_sms(payload: Sms) -> None: ...  # the provider's API call

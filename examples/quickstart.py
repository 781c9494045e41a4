from pydantic import BaseModel

from jobs import job


class Welcome(BaseModel):
    user_id: str


async def send_welcome(payload: Welcome) -> None: ...


send_welcome_job = job(name="send-welcome", queue="emails", run=send_welcome)  # Job[Welcome]


async def on_signup(user_id: str) -> None:  # in a FastAPI or Starlette handler, a script, another job
    await send_welcome_job.trigger({"user_id": user_id})  # validated, stored as JSON, returns a handle

"""Triggering a job from a web handler (FastAPI here; Starlette is the same `await`)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from examples.jobs import send_welcome_email

app = FastAPI()


class SignUp(BaseModel):
    email: str
    name: str


@app.post("/signups", status_code=202)
async def sign_up(body: SignUp) -> dict[str, str]:
    handle = await send_welcome_email.trigger({"to": body.email, "name": body.name})
    return {"job_id": handle.id}

from dataclasses import dataclass

from fastapi import FastAPI, Request

import examples.jobs  # noqa: F401 - the app's jobs: the dashboard lists, triggers and retries them
from jobs.dashboard import dashboard

app = FastAPI()


@dataclass(frozen=True)
class User:
    name: str
    is_admin: bool


SESSIONS = {"s-ada": User("ada", is_admin=True), "s-bob": User("bob", is_admin=False)}  # your session store


async def may_operate(request: Request) -> bool:
    """The app's own session check: admins may retry, remove, pause and trigger; others only look."""
    user = SESSIONS.get(request.cookies.get("session", ""))
    return user is not None and user.is_admin


app.mount("/jobs", dashboard(auth=may_operate))  # guard who may see /jobs at all as the rest of your app

"""The README's dashboard example: mounted in a FastAPI app, acting only for the app's admins."""

from __future__ import annotations

from examples.dashboard import app
from jobs import admin

from .dashboard_support import http, post


async def test_the_mounted_dashboard_lets_an_admin_act_and_shows_others_a_read_only_board() -> None:
    """Bob's session sees "read-only" and is refused; Ada's pauses and resumes a queue of the app."""
    async with http(app, cookies={"session": "s-bob"}) as bob:
        page = await bob.get("/jobs/")
        assert page.status_code == 200 and "read-only" in page.text and "send-welcome-email" in page.text
        assert (await post(bob, "/jobs/queues/emails/pause", page="/jobs/")).status_code == 403
    async with http(app, cookies={"session": "s-ada"}) as ada:
        assert "read-only" not in (await ada.get("/jobs/")).text
        try:
            paused = await post(ada, "/jobs/queues/emails/pause", {"next": "/jobs/"}, page="/jobs/")
            assert (paused.status_code, paused.headers["location"]) == (303, "/jobs/?done=paused")
            assert "emails" in await admin.paused_queues()
        finally:
            resumed = await post(ada, "/jobs/queues/emails/resume", page="/jobs/")
        assert resumed.status_code == 303 and "emails" not in await admin.paused_queues()

import httpx

from examples.emails import send_welcome_email
from examples.web import app
from jobs.testing import mocked, triggered


async def test_post_signups_answers_202_with_the_triggered_job_id() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/signups", json={"email": "ada@example.com", "name": "Ada"})

    assert response.status_code == 202
    mocked(send_welcome_email.trigger).assert_awaited_once_with({"to": "ada@example.com", "name": "Ada"})
    assert response.json() == {"job_id": triggered(send_welcome_email)[0].handle.id}

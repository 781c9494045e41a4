from examples.users import sign_up
from jobs.testing import BurstWorker


async def test_sign_up_sends_the_email_for_real(jobs_worker: BurstWorker) -> None:
    handle = await sign_up("ada@example.com", "Ada")  # a real trigger: this test uses jobs_worker

    worker = await jobs_worker.drain(timeout=30)  # every queue: emails, and audit for the job it triggers

    assert await handle.result(timeout=1) == {"status": "sent", "to": "ada@example.com"}
    assert worker.totals() == {"completed": 2, "failed": 0, "retried": 0, "released": 0}

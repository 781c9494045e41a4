from examples.users import sign_up
from jobs import JobStatus
from jobs.testing import run_triggered


async def test_sign_up_emails_and_audits() -> None:
    await sign_up("ada@example.com", "Ada")

    records = await run_triggered()

    assert [r.job for r in records] == ["send-welcome-email", "audit-log"]  # audit-log triggered by the email job
    assert all(r.status is JobStatus.COMPLETED for r in records)

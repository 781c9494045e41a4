"""jobs.testing: run what a test triggered inline, as the worker would; or drain a real burst worker.

Each test writes a small user project and runs pytest on it in-process with `pytester`. The
inline runs have no Redis at all (a closed port); the burst-worker runs use the test Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest
from redis import Redis

from jobs import registry
from jobs.settings import get_settings
from jobs.store import keys

from .conftest import REDIS_URL

pytest_plugins = ["pytester"]

NO_REDIS = "redis://127.0.0.1:1/0"

USER_JOBS = '''
"""The user's jobs: an email job that triggers an audit job, and misbehaves on request."""
from pydantic import BaseModel

from jobs import Backoff, JobHandle, UnrecoverableError, current_attempt, job

QUEUE = "{queue}"
SENT: list[str] = []
AUDITED: list[str] = []


class Email(BaseModel):
    to: str


class AuditEvent(BaseModel):
    event: str


@job(name="{prefix}-send-email", queue=QUEUE, attempts=3, backoff=Backoff.exponential(delay_ms=60_000))
async def send_email(payload: Email) -> str:
    attempt = current_attempt()
    assert attempt is not None
    if payload.to.startswith("flaky") and attempt.number < 3:
        raise ConnectionError(f"SMTP timed out (attempt {{attempt.number}})")
    if payload.to.startswith("bounce"):
        raise ValueError(f"no mailbox {{payload.to}}")
    if payload.to.startswith("banned"):
        raise UnrecoverableError(f"{{payload.to}} is banned")
    SENT.append(payload.to)
    await audit.trigger({{"event": f"sent:{{payload.to}}"}})
    return f"sent to {{payload.to}}"


@job(name="{prefix}-audit", queue=QUEUE)
async def audit(payload: AuditEvent) -> None:
    AUDITED.append(payload.event)


@job(name="{prefix}-forever", queue=QUEUE)
async def forever(payload: int) -> None:
    await forever.trigger(payload + 1)


async def signup(address: str) -> JobHandle:
    return await send_email.trigger({{"to": address}})
'''

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@dataclass
class UserProject:
    """A user's project on disk: `run(tests)` writes the tests file and runs pytest on it in-process."""

    pytester: pytest.Pytester
    queue: str

    def run(self, tests: str, *args: str) -> pytest.RunResult:
        self.pytester.makepyfile(test_user=tests)
        return self.pytester.runpytest("-p", "no:cacheprovider", *args)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[UserProject]:
    """A user project with a unique queue and job names, Redis unreachable; its jobs are forgotten after."""
    queue, prefix = f"t-{uuid.uuid4().hex[:10]}", f"pt-{uuid.uuid4().hex[:8]}"
    pytester.makepyfile(userjobs=USER_JOBS.format(queue=queue, prefix=prefix))
    pytester.makeini(INI)
    monkeypatch.setenv("REDIS_URL", NO_REDIS)
    before = {j.name for j in registry.all_jobs()}
    yield UserProject(pytester, queue)
    for name in {j.name for j in registry.all_jobs()} - before:
        registry.unregister(name)
    get_settings.cache_clear()


def test_run_triggered_runs_jobs_and_the_jobs_they_trigger_in_order(project: UserProject) -> None:
    """Triggered jobs run once each, in trigger order, nested triggers after; records say what happened."""
    result = project.run(
        """
        import asyncio

        import structlog

        import userjobs
        from jobs import JobStatus
        from jobs.testing import run_triggered

        async def test_signups_send_emails_then_audit_them():
            await userjobs.signup("a@x")
            await userjobs.signup("b@x")
            with structlog.testing.capture_logs() as logs:
                records = await run_triggered()
            assert [(r.job, r.status, r.attempts) for r in records] == [
                (userjobs.send_email.name, JobStatus.COMPLETED, 1),
                (userjobs.send_email.name, JobStatus.COMPLETED, 1),
                (userjobs.audit.name, JobStatus.COMPLETED, 1),
                (userjobs.audit.name, JobStatus.COMPLETED, 1),
            ]
            assert [r.result for r in records[:2]] == ["sent to a@x", "sent to b@x"]
            assert records[0].payload == {"to": "a@x"} and records[0].queue == userjobs.QUEUE
            assert userjobs.SENT == ["a@x", "b@x"] and userjobs.AUDITED == ["sent:a@x", "sent:b@x"]
            userjobs.audit.trigger.assert_awaited_with({"event": "sent:b@x"})
            assert [e["event"] for e in logs].count("job.completed") == 4
            assert await run_triggered() == []

        def test_a_sync_test_runs_them_with_asyncio_run():
            asyncio.run(userjobs.signup("sync@x"))
            records = asyncio.run(run_triggered())
            assert [r.status for r in records] == [JobStatus.COMPLETED, JobStatus.COMPLETED]
        """,
    )
    result.assert_outcomes(passed=2)


def test_run_triggered_retries_without_sleeping_and_raises_the_final_failure(project: UserProject) -> None:
    """Attempts and retries as in the worker, backoff not slept; a final failure raises JobFailedError."""
    result = project.run(
        """
        import time

        import pytest
        import structlog

        import userjobs
        from jobs import JobFailedError, JobStatus
        from jobs.testing import run_triggered

        async def test_a_flaky_job_succeeds_on_its_third_attempt_at_once():
            await userjobs.signup("flaky@x")
            started = time.monotonic()
            with structlog.testing.capture_logs() as logs:
                send, audit = await run_triggered()
            assert time.monotonic() - started < 5  # the backoff would be 60 s + 120 s
            assert (send.status, send.attempts, send.result) == (JobStatus.COMPLETED, 3, "sent to flaky@x")
            assert [e["event"] for e in logs] == [
                "job.started", "job.retrying", "job.started", "job.retrying", "job.started", "job.completed",
                "job.started", "job.completed",  # the audit job the email triggered
            ]
            assert [e["retry_in_ms"] for e in logs if e["event"] == "job.retrying"] == [60_000, 120_000]

        async def test_a_job_failing_every_attempt_raises_with_its_error_as_the_cause():
            await userjobs.signup("bounce@x")
            with pytest.raises(JobFailedError, match="no mailbox bounce@x") as info:
                await run_triggered()
            record = info.value.record
            assert (record.status, record.attempts, record.error.type) == (JobStatus.FAILED, 3, "ValueError")
            assert isinstance(info.value.__cause__, ValueError)

        async def test_an_unrecoverable_error_is_not_retried():
            await userjobs.signup("banned@x")
            with pytest.raises(JobFailedError) as info:
                await run_triggered()
            assert info.value.record.attempts == 1

        async def test_fail_fast_false_runs_everything_and_returns_every_outcome():
            await userjobs.signup("bounce@x")
            await userjobs.signup("ok@x")
            records = await run_triggered(fail_fast=False)
            assert [r.status for r in records] == [JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.COMPLETED]
            assert records[0].error.message == "no mailbox bounce@x"

        async def test_a_job_that_triggers_itself_forever_is_stopped():
            await userjobs.forever.trigger(0)
            with pytest.raises(RuntimeError, match="more keep coming"):
                await run_triggered(limit=5)

        @pytest.mark.real_jobs
        async def test_without_the_mocks_there_is_nothing_to_run():
            with pytest.raises(RuntimeError, match="no jobs are being recorded"):
                await run_triggered()
        """,
    )
    result.assert_outcomes(passed=6)


def forget_queue(queue: str) -> None:
    """Delete what real triggers and workers left for `queue` in the test Redis."""
    client = Redis.from_url(REDIS_URL)
    try:
        sets = [keys.queue(queue), keys.finished(queue, "completed"), keys.finished(queue, "failed")]
        ids = [i.decode() for key in sets for i in cast(list[bytes], client.zrange(key, 0, -1))]
        client.delete(*sets, *(key(i) for i in ids for key in (keys.job, keys.tries, keys.lock, keys.record)))
    finally:
        client.close()


def test_the_jobs_worker_fixture_drains_real_triggers_with_a_burst_worker(
    project: UserProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobs_worker` makes the test's triggers real and runs a real worker until the queue is empty."""
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    try:
        result = project.run(
            """
            from unittest.mock import AsyncMock

            import pytest

            import userjobs

            async def test_signup_sends_the_email_for_real(jobs_worker):
                assert not isinstance(userjobs.send_email.trigger, AsyncMock)
                handle = await userjobs.signup("a@x")
                worker = await jobs_worker.drain(queues=[userjobs.QUEUE], jobs_poll_interval=0.1)
                assert worker.totals()["completed"] == 2  # the email, then the audit it triggered
                assert await handle.result(timeout=1) == "sent to a@x"
                assert userjobs.AUDITED == ["sent:a@x"]

            async def test_drain_gives_up_after_its_timeout_while_a_job_is_scheduled(jobs_worker):
                await userjobs.send_email.trigger({"to": "later@x"}, delay=3600)
                with pytest.raises(TimeoutError, match="did not drain"):
                    await jobs_worker.drain(queues=[userjobs.QUEUE], timeout=0.5, jobs_poll_interval=0.1)
            """,
        )
        result.assert_outcomes(passed=2)
    finally:
        forget_queue(project.queue)

"""The pytest plugin, as a user's suite meets it: triggers are recording mocks unless told otherwise.

Each test writes a small user project (a jobs module and a tests file) and runs pytest on it
in-process with `pytester`; the plugin loads from its entry point, as it does for users. Redis
is unreachable in those runs (a closed port) unless the run is about real triggers.
"""

from __future__ import annotations

import importlib.metadata
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
"""The user's jobs and the application code that triggers them."""
from pydantic import BaseModel

from jobs import JobHandle, job

QUEUE = "{queue}"


class Email(BaseModel):
    to: str
    subject: str


@job(name="{prefix}-send-email", queue=QUEUE)
async def send_email(payload: Email) -> str:
    return f"sent to {{payload.to}}"


async def signup(address: str) -> JobHandle:
    return await send_email.trigger({{"to": address, "subject": "Welcome"}})
'''

LATER_JOBS = '''
"""Jobs only imported inside a test, after the mocks were installed."""
from pydantic import BaseModel

from jobs import job


class Cleanup(BaseModel):
    days: int


@job(name="{prefix}-cleanup", queue="{queue}")
async def cleanup(payload: Cleanup) -> None:
    return None
'''

ASYNCIO_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@dataclass
class UserProject:
    """A user's project on disk: `run(tests)` writes the tests file and runs pytest on it in-process."""

    pytester: pytest.Pytester
    queue: str

    def run(self, tests: str, *args: str, **more_tests: str) -> pytest.RunResult:
        self.pytester.makepyfile(test_user=tests, **more_tests)
        return self.pytester.runpytest("-p", "no:cacheprovider", *args)

    def run_alone(self, tests: str, *args: str) -> pytest.RunResult:
        """In a process of its own: for what in-process runs share with this suite (structlog's setup)."""
        self.pytester.makepyfile(test_user=tests)
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[UserProject]:
    """A user project with a unique queue and job names; its jobs are forgotten afterwards."""
    queue, prefix = f"t-{uuid.uuid4().hex[:10]}", f"pt-{uuid.uuid4().hex[:8]}"
    pytester.makepyfile(
        userjobs=USER_JOBS.format(queue=queue, prefix=prefix),
        laterjobs=LATER_JOBS.format(queue=queue, prefix=prefix),
    )
    pytester.makeini(ASYNCIO_INI)
    monkeypatch.setenv("REDIS_URL", NO_REDIS)
    before = {j.name for j in registry.all_jobs()}
    yield UserProject(pytester, queue)
    for name in {j.name for j in registry.all_jobs()} - before:
        registry.unregister(name)
    get_settings.cache_clear()


def forget_queue(queue: str) -> None:
    """Delete what real triggers and workers left for `queue` in the test Redis."""
    client = Redis.from_url(REDIS_URL)
    try:
        sets = [keys.queue(queue), keys.finished(queue, "completed"), keys.finished(queue, "failed")]
        ids = [i.decode() for key in sets for i in cast(list[bytes], client.zrange(key, 0, -1))]
        client.delete(*sets, *(key(i) for i in ids for key in (keys.job, keys.tries, keys.lock, keys.record)))
    finally:
        client.close()


def test_the_plugin_is_registered_under_the_pytest11_entry_point_jobs() -> None:
    """Installing the library is enough: pytest finds `jobs.pytest_plugin` by its entry point."""
    (entry,) = importlib.metadata.entry_points(group="pytest11", name="jobs")
    assert entry.value == "jobs.pytest_plugin"


def test_triggers_are_recorded_by_mocks_and_forgotten_between_tests(project: UserProject) -> None:
    """trigger is an AsyncMock returning a handle; calls reset per test; fixtures and sync tests see it."""
    result = project.run(
        """
        import asyncio
        from unittest.mock import AsyncMock, call

        import pytest

        import userjobs
        from jobs import JobHandle
        from jobs.testing import mocked, triggered

        async def test_signup_triggers_the_welcome_email():
            handle = await userjobs.signup("ada@example.com")
            userjobs.send_email.trigger.assert_awaited_once_with({"to": "ada@example.com", "subject": "Welcome"})
            assert isinstance(handle, JobHandle) and handle.enqueued
            assert (handle.job, handle.queue, len(handle.id)) == (userjobs.send_email.name, userjobs.QUEUE, 32)

        async def test_calls_of_the_previous_test_are_forgotten():
            assert isinstance(userjobs.send_email.trigger, AsyncMock)
            userjobs.send_email.trigger.assert_not_awaited()
            assert triggered() == []

        async def test_every_call_is_recorded_with_its_own_handle():
            first = await userjobs.send_email.trigger({"to": "a@x", "subject": "s"})
            second = await userjobs.send_email.trigger(payload={"to": "b@x", "subject": "s"}, delay=60)
            assert first.id != second.id
            assert userjobs.send_email.trigger.call_args_list == [
                call({"to": "a@x", "subject": "s"}), call(payload={"to": "b@x", "subject": "s"}, delay=60)
            ]
            userjobs.send_email.trigger.assert_awaited_with({"to": "b@x", "subject": "s"}, delay=60)

        async def test_config_run_is_still_the_real_function():
            assert await userjobs.send_email.config.run(userjobs.Email(to="u@x", subject="s")) == "sent to u@x"

        @pytest.fixture
        async def signed_up():
            return await userjobs.signup("fixture@example.com")

        async def test_a_trigger_in_a_fixture_is_mocked_too(signed_up):
            userjobs.send_email.trigger.assert_awaited_once_with({"to": "fixture@example.com", "subject": "Welcome"})

        def test_a_plain_sync_test_asserts_on_the_calls():
            handle = asyncio.run(userjobs.signup("sync@x"))
            mocked(userjobs.send_email.trigger).assert_awaited_once_with({"to": "sync@x", "subject": "Welcome"})
            assert handle.enqueued
        """
    )
    result.assert_outcomes(passed=6)
    for job in registry.all_jobs():
        assert "trigger" not in vars(job) and "trigger_many" not in vars(job), f"{job} keeps its mock"


def test_the_mock_validates_like_the_real_trigger(project: UserProject) -> None:
    """Invalid payloads raise ValidationError; job ids are honoured and deduplicated; trigger_many is mocked."""
    result = project.run(
        """
        import pytest
        from pydantic import ValidationError

        import userjobs
        from jobs.testing import triggered

        async def test_an_invalid_payload_raises_and_records_no_job():
            with pytest.raises(ValidationError):
                await userjobs.send_email.trigger({"to": "a@x"})
            with pytest.raises(ValidationError):
                await userjobs.send_email.trigger_many([{"to": "a@x", "subject": "s"}, {"subject": 3}])
            with pytest.raises(ValueError, match="negative"):
                await userjobs.send_email.trigger({"to": "a@x", "subject": "s"}, delay=-1)
            assert triggered() == []

        async def test_a_job_id_is_honoured_and_a_repeated_one_enqueues_nothing():
            payload = {"to": "a@x", "subject": "s"}
            first = await userjobs.send_email.trigger(payload, job_id="welcome-ada")
            again = await userjobs.send_email.trigger(payload, job_id="welcome-ada")
            assert (first.id, first.enqueued, again.id, again.enqueued) == ("welcome-ada", True, "welcome-ada", False)
            assert [t.handle.id for t in triggered(userjobs.send_email)] == ["welcome-ada"]

        async def test_trigger_many_is_a_mock_too():
            payloads = [{"to": "a@x", "subject": "s"}, {"to": "b@x", "subject": "s"}]
            handles = await userjobs.send_email.trigger_many(payloads)
            userjobs.send_email.trigger_many.assert_awaited_once_with(payloads)
            assert len({h.id for h in handles}) == 2
            assert [t.payload["to"] for t in triggered()] == ["a@x", "b@x"]
        """
    )
    result.assert_outcomes(passed=3)


def test_a_job_imported_inside_a_test_is_mocked(project: UserProject) -> None:
    """Jobs defined after the test started are patched through the registry's subscription."""
    result = project.run(
        """
        from unittest.mock import AsyncMock

        async def test_cleanup_is_triggered():
            import laterjobs

            assert isinstance(laterjobs.cleanup.trigger, AsyncMock)
            await laterjobs.cleanup.trigger({"days": 30})
            laterjobs.cleanup.trigger.assert_awaited_once_with({"days": 30})

        async def test_and_it_stays_mocked_and_fresh_in_later_tests():
            import laterjobs

            laterjobs.cleanup.trigger.assert_not_awaited()
        """
    )
    result.assert_outcomes(passed=2)


def test_real_jobs_sends_triggers_to_redis(project: UserProject, monkeypatch: pytest.MonkeyPatch) -> None:
    """`@pytest.mark.real_jobs` on a test or a module enqueues for real; other tests stay mocked."""
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    marked_test = """
        from unittest.mock import AsyncMock

        import pytest

        import userjobs
        from jobs import JobStatus
        from jobs.testing import mocked

        @pytest.mark.real_jobs
        async def test_a_marked_test_enqueues_for_real():
            assert not isinstance(userjobs.send_email.trigger, AsyncMock)
            with pytest.raises(TypeError, match="not mocked"):
                mocked(userjobs.send_email.trigger)
            handle = await userjobs.signup("real@example.com")
            assert await handle.status() is JobStatus.QUEUED

        async def test_an_unmarked_test_beside_it_is_still_mocked():
            await userjobs.signup("mocked@example.com")
            userjobs.send_email.trigger.assert_awaited_once()
        """
    marked_module = """
        import pytest

        import userjobs

        pytestmark = pytest.mark.real_jobs

        async def test_a_test_in_a_marked_module_enqueues_for_real():
            await userjobs.signup("module@example.com")
        """
    try:
        result = project.run(marked_test, "--strict-markers", test_module_marked=marked_module)
        result.assert_outcomes(passed=3)
        client = Redis.from_url(REDIS_URL)
        try:
            assert client.zcard(keys.queue(project.queue)) == 2
        finally:
            client.close()
    finally:
        forget_queue(project.queue)


OPT_OUT_TEST = """
from unittest.mock import AsyncMock

import pytest

import userjobs
from jobs import RedisUnavailableError

async def test_triggers_go_to_redis():
    assert not isinstance(userjobs.send_email.trigger, AsyncMock)
    with pytest.raises(RedisUnavailableError):
        await userjobs.signup("a@example.com")
"""


def test_dash_p_no_jobs_turns_the_plugin_off(project: UserProject) -> None:
    """`pytest -p no:jobs`: nothing is mocked, so a trigger reaches for the (here unreachable) Redis."""
    project.run(OPT_OUT_TEST, "-p", "no:jobs").assert_outcomes(passed=1)


def test_the_ini_option_jobs_auto_mock_false_turns_the_mocks_off(project: UserProject) -> None:
    """`jobs_auto_mock = false` in the ini: the plugin stays loaded but mocks nothing."""
    project.pytester.makeini(ASYNCIO_INI + "jobs_auto_mock = false\n")
    project.run(OPT_OUT_TEST).assert_outcomes(passed=1)


def test_an_anyio_suite_gets_the_mocks_without_pytest_asyncio(project: UserProject) -> None:
    """Under anyio's pytest plugin, with pytest-asyncio disabled, triggers are mocked and run inline."""
    project.pytester.makeini("[pytest]\n")
    result = project.run(
        """
        import pytest

        import userjobs
        from jobs import JobStatus
        from jobs.testing import run_triggered

        pytestmark = pytest.mark.anyio

        async def test_signup_triggers_the_welcome_email():
            await userjobs.signup("ada@example.com")
            userjobs.send_email.trigger.assert_awaited_once_with({"to": "ada@example.com", "subject": "Welcome"})

        async def test_what_was_triggered_runs_inline():
            await userjobs.signup("ada@example.com")
            (record,) = await run_triggered()
            assert (record.status, record.result) == (JobStatus.COMPLETED, "sent to ada@example.com")
        """,
        "-p",
        "no:asyncio",
    )
    result.assert_outcomes(passed=2)


def test_a_mocked_handle_answers_from_the_test_not_from_redis(project: UserProject) -> None:
    """status/record/result of a mocked trigger's handle: queued (or scheduled) until run_triggered
    runs the job, then its outcome; `result()` before that says so at once. Redis is unreachable."""
    result = project.run(
        """
        import pytest

        import userjobs
        from jobs import JobFailedError, JobStatus, job
        from jobs.testing import NotRunError, run_triggered

        async def test_status_and_result_follow_run_triggered():
            handle = await userjobs.signup("ada@example.com")
            later = await userjobs.send_email.trigger({"to": "b@x", "subject": "Later"}, delay=60)
            assert await handle.status() is JobStatus.QUEUED
            assert await later.status() is JobStatus.SCHEDULED
            assert await handle.record() is None
            with pytest.raises(NotRunError, match="has not run: call `await jobs.testing.run_triggered"):
                await handle.result(timeout=5)
            await run_triggered()
            assert await handle.status() is JobStatus.COMPLETED
            assert await handle.result() == "sent to ada@example.com"
            record = await handle.record()
            assert record is not None and record.attempts == 1

        async def broken(payload: userjobs.Email) -> None:
            raise RuntimeError("smtp down")

        broken_job = job(name=userjobs.send_email.name + "-broken", queue=userjobs.QUEUE, run=broken, attempts=1)

        async def test_a_failed_job_raises_from_its_mocked_handle():
            handle = await broken_job.trigger({"to": "ada@example.com", "subject": "Hi"})
            await run_triggered(fail_fast=False)
            assert await handle.status() is JobStatus.FAILED
            with pytest.raises(JobFailedError, match="smtp down"):
                await handle.result()
        """,
    )
    result.assert_outcomes(passed=2)


FAILING_TEST = """
import userjobs
from jobs import job
from jobs.testing import run_triggered


async def broken(payload: userjobs.Email) -> None:
    raise RuntimeError("smtp down")


broken_job = job(name=userjobs.send_email.name + "-broken", queue=userjobs.QUEUE, run=broken, attempts=1)


async def test_the_job_fails():
    await broken_job.trigger({"to": "a@x", "subject": "Hi"})
    await run_triggered(fail_fast=False)
"""


def test_the_librarys_log_lines_are_readable_console_lines_at_info_in_a_users_tests(project: UserProject) -> None:
    """Without structlog configured by the app: no DEBUG lines, and a traceback printed as one."""
    output = project.run_alone(FAILING_TEST, "-rP").stdout.str()
    (failed,) = [line for line in output.splitlines() if "job.failed" in line]
    assert "error='RuntimeError: smtp down'" in failed and "{'type'" not in failed
    assert "\nTraceback (most recent call last):\n" in output and 'RuntimeError("smtp down")' in output
    assert "job.started" not in output


def test_jobs_log_level_shows_debug_lines_and_an_apps_own_structlog_setup_wins(project: UserProject) -> None:
    """`jobs_log_level = DEBUG` adds job.started; a conftest that configures structlog keeps its own output."""
    project.pytester.makeini(ASYNCIO_INI + "jobs_log_level = DEBUG\n")
    assert "job.started" in project.run_alone(FAILING_TEST, "-rP").stdout.str()
    project.pytester.makeconftest(
        "import structlog\nstructlog.configure(processors=[structlog.processors.JSONRenderer()])\n"
    )
    output = project.run_alone(FAILING_TEST, "-rP").stdout.str()
    assert '"event": "job.failed"' in output and "Traceback (most recent call last):\n" not in output

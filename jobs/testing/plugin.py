"""pytest plugin, loaded by installing the library (entry point `jobs`): jobs are mocked in tests.

In every test, each job's `trigger` and `trigger_many` are `AsyncMock`s that validate the payload,
record the call and return a handle, touching no Redis (see `jobs.testing.mock_triggers`).
Real triggers instead:
- for one test, class or module: `@pytest.mark.real_jobs` (or use the `jobs_worker` fixture);
- for the whole suite: `jobs_auto_mock = false` in the pytest ini, or `pytest -p no:jobs`.

The mocks are installed before the test's fixtures are set up and removed after they are torn
down, by hooks rather than a fixture, so they work under any async plugin or none.
The library is imported lazily: loading the plugin costs nothing until a test runs.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

    from .burst import BurstWorker

REAL_JOBS_MARK = "real_jobs"
WORKER_FIXTURE = "jobs_worker"
_MOCKS = pytest.StashKey[contextlib.ExitStack]()


_LOGGING = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "jobs_auto_mock",
        type="bool",
        default=True,
        help="jobs: mock every job's trigger in every test (default true); false sends triggers to Redis",
    )
    parser.addini(
        "jobs_log_level",
        default="INFO",
        help="jobs: level of the library's log lines in tests when structlog is not configured (default INFO)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{REAL_JOBS_MARK}: triggers in this test go to Redis for real instead of the jobs auto-mock"
    )
    level = str(config.getini("jobs_log_level")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise pytest.UsageError(f"jobs_log_level: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")


def _readable_logs(config: pytest.Config) -> None:
    """Before the first test: if nothing configured structlog (the app's own setup wins, even one
    made while collecting), the library's lines become readable console lines (`jobs.logs`)."""
    if _LOGGING in config.stash:
        return
    import structlog

    config.stash[_LOGGING] = not structlog.is_configured()
    if config.stash[_LOGGING]:
        from ..logs.configure import configure_for_tests

        configure_for_tests(str(config.getini("jobs_log_level")).upper())  # type: ignore[arg-type]


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_LOGGING, False):
        import structlog

        structlog.reset_defaults()


def _auto_mock(item: pytest.Item) -> bool:
    if not item.config.getini("jobs_auto_mock"):
        return False
    if item.get_closest_marker(REAL_JOBS_MARK) is not None:
        return False
    return WORKER_FIXTURE not in getattr(item, "fixturenames", ())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    _readable_logs(item.config)
    if _auto_mock(item):
        from .mocks import mock_triggers

        stack = contextlib.ExitStack()
        stack.enter_context(mock_triggers())
        item.stash[_MOCKS] = stack
    yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield  # an old-style wrapper resumes even when a fixture's teardown raised
    stack = item.stash.get(_MOCKS, None)
    if stack is not None:
        del item.stash[_MOCKS]
        stack.close()


@pytest.fixture
def jobs_worker() -> BurstWorker:
    """A real worker in burst mode against Redis: `await jobs_worker.drain(queues=[...])`.

    Requesting this fixture turns the auto-mock off for the test (as `@pytest.mark.real_jobs`
    does), so what the test triggers is really enqueued and the worker really runs it.
    """
    from .burst import BurstWorker

    return BurstWorker()

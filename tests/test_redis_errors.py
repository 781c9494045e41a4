"""Every public call reports Redis trouble the same way: `RedisUnavailableError` when Redis is
unreachable, `RedisURLError` (naming REDIS_URL) when the URL can never work, never redis-py's own."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from jobs import (
    JobHandle,
    JobStatus,
    RedisUnavailableError,
    RedisURLError,
    admin,
    get_record,
    job_status,
    latest_completed,
    latest_failed,
)
from jobs.settings import get_settings

from .conftest import Define
from .processes import closed_port, no_such_database, not_redis

Call = Callable[[JobHandle], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "handle.status": lambda h: h.status(),
    "handle.record": lambda h: h.record(),
    "handle.result": lambda h: h.result(timeout=1),
    "job_status": lambda h: job_status(h.id),
    "get_record": lambda h: get_record(h.id),
    "latest_completed": lambda h: latest_completed(h.queue),
    "latest_failed": lambda h: latest_failed(h.queue),
    "admin.known_queues": lambda h: admin.known_queues(),
    "admin.counts": lambda h: admin.counts(h.queue),
    "admin.latest": lambda h: admin.latest(JobStatus.FAILED),
    "admin.get_job": lambda h: admin.get_job(h.id),
    "admin.retry_failed": lambda h: admin.retry_failed(h.id),
    "admin.retry_all_failed": lambda h: admin.retry_all_failed(h.queue),
    "admin.remove": lambda h: admin.remove(h.id),
    "admin.pause": lambda h: admin.pause(h.queue),
    "admin.resume": lambda h: admin.resume(h.queue),
    "admin.paused_queues": lambda h: admin.paused_queues(),
}


@pytest.fixture(params=["unreachable", "no-such-database", "not-redis"])
def bad_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """REDIS_URL pointing at a closed port, at a database the server lacks, or at an HTTP server."""
    with contextlib.ExitStack() as stack:
        if request.param == "unreachable":
            url = f"redis://127.0.0.1:{closed_port()}/0"
        else:
            url = no_such_database() if request.param == "no-such-database" else stack.enter_context(not_redis())
        monkeypatch.setenv("REDIS_URL", url)
        get_settings.cache_clear()
        yield request.param


def _check(error: BaseException, kind: str) -> None:
    assert isinstance(error, RedisUnavailableError), repr(error)
    if kind == "unreachable":
        assert not isinstance(error, RedisURLError) and str(error).startswith("cannot reach Redis at "), error
        return
    assert isinstance(error, RedisURLError) and str(error).startswith("REDIS_URL=redis://127.0.0.1:"), error
    why = "the server has no database 99" if kind == "no-such-database" else "the server there is not Redis"
    assert why in str(error) and "\n" not in str(error), error


@pytest.mark.parametrize("name", list(CALLS))
async def test_every_read_and_admin_call_raises_the_librarys_error(bad_url: str, name: str, queue: str) -> None:
    """Reads, the handle's methods and every `jobs.admin` call raise what `trigger` raises for the same URL."""
    handle = JobHandle(id="some-job", job="some-job", queue=queue)
    with pytest.raises(RedisUnavailableError) as info:
        await CALLS[name](handle)
    _check(info.value, bad_url)


async def test_trigger_and_trigger_many_raise_the_librarys_error(bad_url: str, define: Define) -> None:
    """`trigger` and `trigger_many` tell a URL that can never work from a Redis that is down."""

    async def run(payload: dict[str, int]) -> None:
        return None

    defined = define(run)
    for call in (defined.trigger({"n": 1}), defined.trigger_many([{"n": 1}, {"n": 2}])):
        with pytest.raises(RedisUnavailableError) as info:
            await call
        _check(info.value, bad_url)

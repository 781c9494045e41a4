"""job(): the payload type comes from the annotation; bad definitions fail at definition time."""

from __future__ import annotations

import dataclasses
import sys
import typing
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from jobs import Backoff, DuplicateJobError, Job, JobDefinitionError, job, registry

from .conftest import Define


class Welcome(BaseModel):
    user_id: str


class WelcomeDict(TypedDict):
    user_id: str


@dataclasses.dataclass
class WelcomeData:
    user_id: str


async def send_welcome(payload: Welcome) -> str:
    return payload.user_id


def test_defaults_follow_the_design(define: Define) -> None:
    """5 attempts, exponential backoff from 3 s, the default queue, a 5 minute timeout."""
    welcome = define(send_welcome, queue="default")
    assert welcome.config.attempts == 5
    assert welcome.config.backoff == Backoff.exponential(delay_ms=3000)
    assert welcome.config.queue == "default"
    assert welcome.config.timeout == timedelta(minutes=5)


@pytest.mark.parametrize("payload_type", [Welcome, WelcomeDict, WelcomeData])
def test_the_payload_type_is_read_from_the_annotation(define: Define, payload_type: type) -> None:
    """Models, TypedDicts and dataclasses all validate a plain dict into the annotated type."""

    async def run(payload: object) -> None:
        return None

    run.__annotations__["payload"] = payload_type  # as if written `payload: Welcome` etc.
    defined = define(run)
    assert defined.payload_type is payload_type
    value = defined.validate({"user_id": "u-1"})
    assert value == payload_type(user_id="u-1")


def test_anything_pydantic_validates_can_be_a_payload(define: Define) -> None:
    """A bare `int` payload is validated (and coerced from strict-enough input) too."""

    async def square(n: int) -> int:
        return n * n

    assert define(square).validate(7) == 7
    with pytest.raises(ValidationError):
        define(square).validate("seven")


async def test_config_run_calls_the_function_itself(define: Define) -> None:
    """Unit tests call `config.run` directly: no Redis, no worker."""
    welcome = define(send_welcome)
    assert await welcome.config.run(Welcome(user_id="u-1")) == "u-1"


def test_the_config_is_frozen(define: Define) -> None:
    """A job's options cannot drift after definition."""
    welcome = define(send_welcome)
    with pytest.raises(dataclasses.FrozenInstanceError):
        welcome.config.attempts = 1  # type: ignore[misc]


def test_job_works_as_a_decorator(queue: str) -> None:
    """`@job(...)` on an async function gives the same Job as `job(run=...)`."""
    name = f"decorated-{queue}"

    @job(name=name, queue=queue, attempts=2)
    async def decorated(payload: Welcome) -> None:
        return None

    try:
        assert isinstance(decorated, Job)
        assert decorated.config.attempts == 2 and decorated.payload_type is Welcome
        assert registry.get(name) is decorated
    finally:
        registry.unregister(name)


def test_a_second_job_with_the_same_name_raises(define: Define) -> None:
    """Names identify jobs in Redis, so two different jobs cannot share one."""
    first = define(send_welcome)

    async def other(payload: Welcome) -> None:
        return None

    with pytest.raises(DuplicateJobError, match=first.name):
        job(name=first.name, run=other)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (lambda payload: None, "async def"),
        (send_welcome.__call__, "async def"),
    ],
)
def test_run_must_be_an_async_function(run: object, message: str) -> None:
    """A sync function would block the worker's event loop."""
    with pytest.raises(JobDefinitionError, match=message):
        job(name="never-defined", run=run)  # type: ignore[call-overload]


def test_run_takes_exactly_one_annotated_argument() -> None:
    """The payload is the only argument, and its annotation is its type."""

    async def two(a: int, b: int) -> None:
        return None

    async def unannotated(payload) -> None:  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(JobDefinitionError, match="exactly one argument"):
        job(name="never-defined", run=two)  # type: ignore[arg-type]
    with pytest.raises(JobDefinitionError, match="annotate"):
        job(name="never-defined", run=unannotated)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "attempts"),
        ({"timeout": 0}, "timeout"),
        ({"queue": "has space"}, "queue"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_options_fail_at_definition(options: dict[str, object], message: str) -> None:
    """A misconfigured job fails when its module is imported, not when it first runs."""
    with pytest.raises(JobDefinitionError, match=message):
        job(**{"name": "never-defined", "run": send_welcome, **options})  # type: ignore[call-overload]
    assert "never-defined" not in {j.name for j in registry.all_jobs()}


class StdlibInvite(typing.TypedDict):
    email: str


def test_a_typing_typeddict_payload_before_python_3_12_says_to_use_typing_extensions(define: Define) -> None:
    """pydantic cannot validate `typing.TypedDict` before 3.12: the definition says what to write."""

    async def invite(payload: StdlibInvite) -> None: ...

    if sys.version_info >= (3, 12):
        assert define(invite).validate({"email": "a@x"}) == {"email": "a@x"}
        return
    with pytest.raises(JobDefinitionError, match="use `from typing_extensions import TypedDict` instead"):
        define(invite)


def test_a_bare_job_decorator_says_what_to_write_instead() -> None:
    """`@job` without parentheses is a definition error naming the function and the decorator to write."""
    with pytest.raises(JobDefinitionError) as info:

        @job  # type: ignore[call-overload]
        async def send_welcome_email(payload: Welcome) -> None: ...

    message = str(info.value)
    assert message.startswith("a bare @job above send_welcome_email: a job needs a name")
    assert '@job(name="send-welcome-email")' in message and isinstance(info.value, TypeError)

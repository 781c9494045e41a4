"""`job()`: define a typed job once, from its run function and options, and register it.

The payload type is read from the annotation of the run function's only argument; options are
checked here, so a bad one fails when the job's module is imported, not when it first runs.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar, overload

from pydantic import PydanticUserError, TypeAdapter, ValidationError

from . import registry
from .backoff import Backoff
from .cron import Cron, Every
from .definition import Delay, Job, JobConfig
from .errors import JobDefinitionError
from .limits import RateLimit

P = TypeVar("P")
R = TypeVar("R")

DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF = Backoff.exponential(delay_ms=3000)
DEFAULT_TIMEOUT = timedelta(minutes=5)


class Decorator(Protocol):
    """What `@job(name=...)` returns: it makes a `Job[None]` of a function without a payload."""

    @overload
    def __call__(self, fn: Callable[[], Awaitable[R]], /) -> Job[None, R]: ...
    @overload
    def __call__(self, fn: Callable[[P], Awaitable[R]], /) -> Job[P, R]: ...


@overload
def job(
    *,
    name: str,
    run: Callable[[], Awaitable[R]],
    queue: str = "default",
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout: Delay = DEFAULT_TIMEOUT,
    keep_completed: int | None = None,
    keep_failed: int | None = None,
    schedule: Cron | Every | None = None,
    schedule_payload: Any = None,
    rate_limit: RateLimit | None = None,
    max_running: int | None = None,
) -> Job[None, R]: ...


@overload
def job(
    *,
    name: str,
    run: Callable[[P], Awaitable[R]],
    queue: str = "default",
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout: Delay = DEFAULT_TIMEOUT,
    keep_completed: int | None = None,
    keep_failed: int | None = None,
    schedule: Cron | Every | None = None,
    schedule_payload: Any = None,
    rate_limit: RateLimit | None = None,
    max_running: int | None = None,
) -> Job[P, R]: ...


@overload
def job(
    *,
    name: str,
    queue: str = "default",
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout: Delay = DEFAULT_TIMEOUT,
    keep_completed: int | None = None,
    keep_failed: int | None = None,
    schedule: Cron | Every | None = None,
    schedule_payload: Any = None,
    rate_limit: RateLimit | None = None,
    max_running: int | None = None,
) -> Decorator: ...


def job(
    bare: object = None,
    /,
    *,
    name: str = "",
    run: Callable[..., Awaitable[Any]] | None = None,
    queue: str = "default",
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout: Delay = DEFAULT_TIMEOUT,
    keep_completed: int | None = None,
    keep_failed: int | None = None,
    schedule: Cron | Every | None = None,
    schedule_payload: Any = None,
    rate_limit: RateLimit | None = None,
    max_running: int | None = None,
) -> Any:
    """Define a job: `job(name=..., run=fn)`, or as a decorator `@job(name=...)`.

    `fn` takes one argument, the payload, whose annotation is its type; or none (`Job[None]`,
    triggered with `trigger()`). `keep_completed` / `keep_failed` override how many finished jobs
    the queue retains when this job finishes (`JOBS_KEEP_COMPLETED` / `JOBS_KEEP_FAILED`
    otherwise). `schedule=Cron(...)` or `Every(...)` declares a schedule, stored under the job's
    name by every worker that runs its queue, with `schedule_payload` (validated now).
    `rate_limit=RateLimit(100, per=timedelta(minutes=1))` and `max_running=2` bound its starts
    per period and its attempts running at once, across every worker (enforced in Redis).
    `bare` only catches a bare `@job` (the function passed positionally), to say what to write.
    """
    if bare is not None:
        label = getattr(bare, "__name__", repr(bare))
        suggested = json.dumps(label.replace("_", "-"))
        raise JobDefinitionError(
            f"a bare @job above {label}: a job needs a name, so write @job(name={suggested}) with its "
            f"options in parentheses (or {label}_job = job(name={suggested}, run={label}))"
        )

    def define(fn: Callable[..., Awaitable[Any]]) -> Job[Any]:
        payload_type, takes_payload = payload_type_of(fn)
        config = JobConfig(
            name=_check_name("name", name),
            queue=_check_queue(queue),
            run=fn,
            attempts=_check_positive("attempts", attempts),
            backoff=backoff,
            timeout=_as_timedelta(timeout),
            keep_completed=keep_completed,
            keep_failed=keep_failed,
            schedule=_check_schedule(schedule),
            schedule_payload=schedule_payload,
            rate_limit=_check_rate_limit(rate_limit, name, max_running),
            max_running=None if max_running is None else _check_positive("max_running", max_running),
        )
        adapter = _adapter(fn, payload_type)
        defined: Job[Any] = Job(
            config=config,
            payload_type=payload_type,
            adapter=adapter,
            takes_payload=takes_payload,
            result_type=result_type_of(fn),
        )
        if schedule is not None:
            _check_schedule_payload(defined, schedule_payload)
        elif schedule_payload is not None:
            raise JobDefinitionError(f"{defined.name}: schedule_payload= without schedule=")
        registry.register(defined)
        return defined

    return define if run is None else define(run)


def payload_type_of(fn: Callable[..., Any]) -> tuple[Any, bool]:
    """The annotation of `fn`'s single argument, and whether it takes one (a job without a payload
    has the payload type None); a clear error if `fn` cannot be a job."""
    label = getattr(fn, "__qualname__", repr(fn))
    if not inspect.iscoroutinefunction(fn):
        raise JobDefinitionError(f"{label}: a job's run must be an `async def` function")
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return None, False
    if len(params) != 1 or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise JobDefinitionError(f"{label}: a job's run takes exactly one argument, the payload, or none at all")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise JobDefinitionError(f"{label}: cannot resolve the payload annotation ({exc})") from exc
    if params[0].name not in hints:
        raise JobDefinitionError(f"{label}: annotate the payload argument with its type")
    return hints[params[0].name], True


def result_type_of(fn: Callable[..., Any]) -> TypeAdapter[Any] | None:
    """What validates a stored result back into `fn`'s return annotation, for `handle.result()`;
    None (results come back as stored JSON) without one, for `Any`, or for a type pydantic
    cannot validate."""
    try:
        returned = typing.get_type_hints(fn, include_extras=True).get("return", Any)
    except NameError:
        return None
    if returned is Any:
        return None
    try:
        return TypeAdapter(returned)
    except PydanticUserError:
        return None
    except Exception:  # noqa: BLE001 - a type pydantic has no schema for: results come back as stored
        return None


def _check_schedule(schedule: object) -> Cron | Every | None:
    if schedule is not None and not isinstance(schedule, Cron | Every):
        raise JobDefinitionError(f"schedule must be a Cron(...) or an Every(...), got {schedule!r}")
    return schedule


def _check_schedule_payload(defined: Job[Any], payload: Any) -> None:
    """The declared schedule's payload, validated now: a bad one fails the import, not every tick."""
    try:
        defined.payload_json(payload)
    except (ValidationError, ValueError) as exc:
        raise JobDefinitionError(f"{defined.name}: schedule_payload does not validate: {exc}") from None


def _adapter(fn: Callable[..., Any], payload_type: Any) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(payload_type)
    except PydanticUserError as exc:
        label = getattr(fn, "__qualname__", repr(fn))
        if exc.code == "typed-dict-version":  # typing.TypedDict before Python 3.12
            raise JobDefinitionError(
                f"{label}: the payload uses typing.TypedDict, which pydantic cannot validate before Python 3.12; "
                "use `from typing_extensions import TypedDict` instead"
            ) from None
        raise JobDefinitionError(f"{label}: pydantic cannot validate the payload type {payload_type!r}: {exc}") from exc


def _check_name(what: str, value: str) -> str:
    if not value or not value.strip() or any(c.isspace() for c in value):
        raise JobDefinitionError(f"job {what} must be a non-empty string without spaces, got {value!r}")
    return value


def _check_queue(value: str) -> str:
    """A queue's name is its hash tag in Redis Cluster (`{emails}:queue`), so it holds no braces,
    on any Redis: the same code runs against one Redis or a cluster."""
    _check_name("queue", value)
    if "{" in value or "}" in value:
        raise JobDefinitionError(
            f"job queue must not contain braces (a queue's name is its hash tag in a cluster), got {value!r}"
        )
    return value


def _check_rate_limit(value: object, name: str, max_running: int | None) -> RateLimit | None:
    if value is not None and not isinstance(value, RateLimit):
        raise JobDefinitionError(f"rate_limit must be a RateLimit(count, per=timedelta(...)), got {value!r}")
    if (value is not None or max_running is not None) and '"' in name:  # the claim script reads names up to a quote
        raise JobDefinitionError(f"a job with rate_limit= or max_running= needs a name without quotes, got {name!r}")
    return value


def _check_positive(what: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobDefinitionError(f"{what} must be an int, got {value!r}")
    if value < 1:
        raise JobDefinitionError(f"{what} must be >= 1, got {value}")
    return value


def _as_timedelta(value: Delay) -> timedelta:
    result = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if result <= timedelta(0):
        raise JobDefinitionError(f"timeout must be positive, got {value!r}")
    return result

"""`job()`: define a typed job once; `Job.trigger` enqueues a validated payload.

The payload type is read from the annotation of the run function's only argument and turned
into a pydantic `TypeAdapter` once, at definition, so each trigger and each run only validates.
"""

from __future__ import annotations

import inspect
import json
import math
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from pydantic import BaseModel, PydanticUserError, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from . import registry
from .backoff import Backoff
from .errors import JobDefinitionError, PayloadNotJSONError, PayloadTooLargeError
from .handle import JobHandle
from .settings import get_settings
from .store import enqueue

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P")
M = TypeVar("M", bound=BaseModel)
D = TypeVar("D", bound="DataclassInstance")

DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF = Backoff.exponential(delay_ms=3000)
DEFAULT_TIMEOUT = timedelta(minutes=5)

Delay = float | int | timedelta


@dataclass(frozen=True, slots=True)
class JobConfig(Generic[P]):
    """Everything a job was defined with; `await config.run(payload)` calls the function itself."""

    name: str
    queue: str
    run: Callable[[P], Awaitable[Any]]
    attempts: int
    backoff: Backoff
    timeout: timedelta
    keep_completed: int | None = None
    keep_failed: int | None = None


@dataclass(eq=False)
class Job(Generic[P]):
    """A defined job. Trigger it with a payload; the worker runs `config.run` with it."""

    config: JobConfig[P]
    payload_type: Any
    adapter: TypeAdapter[P] = field(repr=False)
    _stored_prefix: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # arq's layout {"t": tries, "f": name, "a": [payload], "k": {}, "et": ms}, plus our queue "q".
        name, queue = json.dumps(self.config.name).encode(), json.dumps(self.config.queue).encode()
        self._stored_prefix = b'{"t":null,"q":' + queue + b',"f":' + name + b',"a":['

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def queue(self) -> str:
        return self.config.queue

    def validate(self, payload: P | Mapping[str, Any]) -> P:
        """Validate a payload (an instance or a plain dict); raises pydantic's `ValidationError`."""
        return self.adapter.validate_python(payload)

    def encode(self, payload: P | Mapping[str, Any], enqueued_ms: int) -> bytes:
        """Validate `payload` and render the stored job as JSON bytes (at most JOBS_MAX_PAYLOAD_BYTES)."""
        value = self.validate(payload)
        body = self.adapter.dump_json(value)
        if b"null" in body and _holds_non_finite(self.adapter.dump_python(value)):
            raise PayloadNotJSONError(
                f"{self.name}: the payload holds NaN or infinity, which JSON cannot store "
                "(pydantic would write null and the worker would read a different payload)"
            )
        limit = get_settings().jobs_max_payload_bytes
        if len(body) > limit:
            raise PayloadTooLargeError(
                f"{self.name}: the payload is {len(body)} bytes as JSON, over the {limit} byte limit "
                "(JOBS_MAX_PAYLOAD_BYTES); store large data elsewhere and pass its id"
            )
        return b"".join((self._stored_prefix, body, b'],"k":{},"et":', str(enqueued_ms).encode(), b"}"))

    def encode_batch(self, payloads: Iterable[P | Mapping[str, Any]], enqueued_ms: int) -> list[bytes]:
        """`encode` each payload; an invalid one is reported with its index, as validating a list would:
        pydantic's errors located at `3.to`, or the size or NaN error prefixed by `payload 3`."""
        encoded = []
        for index, payload in enumerate(payloads):
            try:
                encoded.append(self.encode(payload, enqueued_ms))
            except ValidationError as exc:
                raise _located_at(exc, index) from None
            except (PayloadTooLargeError, PayloadNotJSONError) as exc:
                raise type(exc)(f"payload {index} of the batch: {exc}") from None
        return encoded

    # The payload a trigger takes, for type checkers: a pydantic model or dataclass payload may
    # also be given as a plain mapping (checked at run time only); any other type (a TypedDict,
    # int, list[str], ...) is checked as written, dict literals against a TypedDict included.
    @overload
    async def trigger(
        self: Job[M], payload: M | Mapping[str, Any], *, delay: Delay | None = None, job_id: str | None = None
    ) -> JobHandle: ...
    @overload
    async def trigger(
        self: Job[D], payload: D | Mapping[str, Any], *, delay: Delay | None = None, job_id: str | None = None
    ) -> JobHandle: ...
    @overload
    async def trigger(self, payload: P, *, delay: Delay | None = None, job_id: str | None = None) -> JobHandle: ...
    async def trigger(self, payload: Any, *, delay: Delay | None = None, job_id: str | None = None) -> JobHandle:
        """Validate `payload` and enqueue one run of this job; nothing is written if it is invalid.

        A `job_id` that is already queued, running or retained enqueues nothing:
        the handle's `enqueued` is then False.
        """
        return await enqueue.enqueue_one(self, payload, delay=delay, job_id=job_id)

    @overload
    async def trigger_many(self: Job[M], payloads: Iterable[M | Mapping[str, Any]]) -> list[JobHandle]: ...
    @overload
    async def trigger_many(self: Job[D], payloads: Iterable[D | Mapping[str, Any]]) -> list[JobHandle]: ...
    @overload
    async def trigger_many(self, payloads: Iterable[P]) -> list[JobHandle]: ...
    async def trigger_many(self, payloads: Iterable[Any]) -> list[JobHandle]:
        """Validate every payload first, then enqueue them all in one round trip."""
        return await enqueue.enqueue_many(self, payloads)

    def __repr__(self) -> str:
        return f"Job(name={self.name!r}, queue={self.queue!r})"


@overload
def job(
    *,
    name: str,
    run: Callable[[P], Awaitable[Any]],
    queue: str = "default",
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout: Delay = DEFAULT_TIMEOUT,
    keep_completed: int | None = None,
    keep_failed: int | None = None,
) -> Job[P]: ...


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
) -> Callable[[Callable[[P], Awaitable[Any]]], Job[P]]: ...


def job(
    bare: object = None,
    /,
    *,
    name: str = "",
    run: Callable[[P], Awaitable[Any]] | None = None,
    queue: str = "default",
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout: Delay = DEFAULT_TIMEOUT,
    keep_completed: int | None = None,
    keep_failed: int | None = None,
) -> Job[P] | Callable[[Callable[[P], Awaitable[Any]]], Job[P]]:
    """Define a job: `job(name=..., run=fn)`, or as a decorator `@job(name=...)`.

    `keep_completed` / `keep_failed` override how many finished jobs the queue retains when
    this job finishes (the settings `JOBS_KEEP_COMPLETED` / `JOBS_KEEP_FAILED` otherwise).
    `bare` only catches a bare `@job` (the function passed positionally), to say what to write.
    """
    if bare is not None:
        label = getattr(bare, "__name__", repr(bare))
        suggested = json.dumps(label.replace("_", "-"))
        raise JobDefinitionError(
            f"a bare @job above {label}: a job needs a name, so write @job(name={suggested}) with its "
            f"options in parentheses (or {label}_job = job(name={suggested}, run={label}))"
        )

    def define(fn: Callable[[P], Awaitable[Any]]) -> Job[P]:
        config = JobConfig(
            name=_check_name("name", name),
            queue=_check_name("queue", queue),
            run=fn,
            attempts=_check_positive("attempts", attempts),
            backoff=backoff,
            timeout=_as_timedelta(timeout),
            keep_completed=keep_completed,
            keep_failed=keep_failed,
        )
        payload_type = payload_type_of(fn)
        defined: Job[P] = Job(config=config, payload_type=payload_type, adapter=_adapter(fn, payload_type))
        registry.register(defined)
        return defined

    return define if run is None else define(run)


def payload_type_of(fn: Callable[..., Any]) -> Any:
    """The annotation of `fn`'s single argument; a clear error if `fn` cannot be a job."""
    label = getattr(fn, "__qualname__", repr(fn))
    if not inspect.iscoroutinefunction(fn):
        raise JobDefinitionError(f"{label}: a job's run must be an `async def` function")
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 1 or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise JobDefinitionError(f"{label}: a job's run takes exactly one argument, the payload")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise JobDefinitionError(f"{label}: cannot resolve the payload annotation ({exc})") from exc
    if params[0].name not in hints:
        raise JobDefinitionError(f"{label}: annotate the payload argument with its type")
    return hints[params[0].name]


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


def _check_positive(what: str, value: int) -> int:
    if value < 1:
        raise JobDefinitionError(f"{what} must be >= 1, got {value}")
    return value


def _as_timedelta(value: Delay) -> timedelta:
    result = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if result <= timedelta(0):
        raise JobDefinitionError(f"timeout must be positive, got {value!r}")
    return result


_ERROR_TYPES = frozenset(typing.get_args(core_schema.ErrorType))


def _located_at(exc: ValidationError, index: int) -> ValidationError:
    """`exc` with `index` in front of each error's location. A custom error type (a validator's
    `PydanticCustomError`) keeps its rendered message."""
    lines: list[InitErrorDetails] = []
    for error in exc.errors():
        if error["type"] in _ERROR_TYPES:
            line = InitErrorDetails(type=error["type"], loc=(index, *error["loc"]), input=error["input"])
            if "ctx" in error:
                line["ctx"] = error["ctx"]
        else:
            kind = PydanticCustomError(error["type"], error["msg"])
            line = InitErrorDetails(type=kind, loc=(index, *error["loc"]), input=error["input"])
        lines.append(line)
    return ValidationError.from_exception_data(exc.title, lines)


def _holds_non_finite(value: Any) -> bool:
    """True if a float NaN or infinity hides anywhere in `value` (pydantic dumps them as null)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_holds_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_non_finite(v) for v in value)
    return False

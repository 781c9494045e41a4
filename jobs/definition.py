"""A defined job: its configuration, its payload's validation and stored form, and `trigger`.

`jobs.declare.job()` builds one; the payload's pydantic `TypeAdapter` is made once, there, so each
trigger and each run only validates.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema
from typing_extensions import TypeVar as ResultTypeVar

from . import trigger_keys
from .backoff import Backoff
from .clock import now_ms, to_ms
from .cron import Cron, Every
from .errors import PayloadNotJSONError, PayloadTooLargeError
from .handle import JobHandle
from .limits import RateLimit
from .observe import tracing
from .settings import get_settings
from .store import connection, enqueue
from .store import schedules as saved_schedules
from .store.schedules import Schedule

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P")
R = ResultTypeVar("R", default=Any)  # the result type: the run function's return annotation
M = TypeVar("M", bound=BaseModel)
D = TypeVar("D", bound="DataclassInstance")

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
    schedule: Cron | Every | None = None  # declared: the worker keeps it stored under the job's name
    schedule_payload: Any = None
    rate_limit: RateLimit | None = None  # starts per period across every worker (the claim script)
    max_running: int | None = None  # attempts running at once across every worker


@dataclass(eq=False)
class Job(Generic[P, R]):
    """A defined job. Trigger it with a payload; the worker runs `config.run` with it. `R` is its
    result type (`Job[P]` is `Job[P, Any]`), what `await handle.result()` returns."""

    config: JobConfig[P]
    payload_type: Any
    adapter: TypeAdapter[P] = field(repr=False)
    takes_payload: bool = True  # False: `async def run()`, called without an argument
    result_type: TypeAdapter[R] | None = field(default=None, repr=False)  # None: results as stored
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

    def encode(self, payload: P | Mapping[str, Any], enqueued_ms: int, trace: bytes = b"") -> bytes:
        """Validate `payload` and render the stored job as JSON bytes (at most JOBS_MAX_PAYLOAD_BYTES);
        `trace` is the trigger's trace context field (`,"trace":{...}`), when tracing is on."""
        body = self.payload_json(payload)
        return b"".join((self._stored_prefix, body, b'],"k":{},"et":', str(enqueued_ms).encode(), trace, b"}"))

    def payload_json(self, payload: P | Mapping[str, Any]) -> bytes:
        """Validate `payload` and render it as the JSON a worker receives: refused if JSON cannot
        carry it faithfully (NaN, infinity) or it is over JOBS_MAX_PAYLOAD_BYTES."""
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
        return body

    async def call(self, value: P) -> Any:
        """Run the job's function with a validated payload (without one, for a job that takes none)."""
        run: Any = self.config.run
        return await (run(value) if self.takes_payload else run())

    def encode_batch(
        self, payloads: Iterable[P | Mapping[str, Any]], enqueued_ms: int, trace: bytes = b""
    ) -> list[bytes]:
        """`encode` each payload; an invalid one is reported with its index, as validating a list would:
        pydantic's errors located at `3.to`, or the size or NaN error prefixed by `payload 3`."""
        encoded = []
        for index, payload in enumerate(payloads):
            try:
                encoded.append(self.encode(payload, enqueued_ms, trace))
            except ValidationError as exc:
                raise _located_at(exc, index) from None
            except (PayloadTooLargeError, PayloadNotJSONError) as exc:
                raise type(exc)(f"payload {index} of the batch: {exc}") from None
        return encoded

    # The payload a trigger takes, for type checkers: a pydantic model or dataclass payload may
    # also be given as a plain mapping (checked at run time only); any other type (a TypedDict,
    # int, list[str], ...) is checked as written, dict literals against a TypedDict included; a
    # job that takes no payload is triggered with none.
    @overload
    async def trigger(
        self: Job[None, R],
        payload: None = None,
        *,
        delay: Delay | None = None,
        job_id: str | None = None,
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
        priority: int = 0,
    ) -> JobHandle[R]: ...
    @overload
    async def trigger(
        self: Job[M, R],
        payload: M | Mapping[str, Any],
        *,
        delay: Delay | None = None,
        job_id: str | None = None,
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
        priority: int = 0,
    ) -> JobHandle[R]: ...
    @overload
    async def trigger(
        self: Job[D, R],
        payload: D | Mapping[str, Any],
        *,
        delay: Delay | None = None,
        job_id: str | None = None,
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
        priority: int = 0,
    ) -> JobHandle[R]: ...
    @overload
    async def trigger(
        self,
        payload: P,
        *,
        delay: Delay | None = None,
        job_id: str | None = None,
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
        priority: int = 0,
    ) -> JobHandle[R]: ...
    async def trigger(
        self,
        payload: Any = None,
        *,
        delay: Delay | None = None,
        job_id: str | None = None,
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
        priority: int = 0,
    ) -> JobHandle[R]:
        """Validate `payload` and enqueue one run of this job; nothing is written if it is invalid.

        A `job_id` that is already queued, running or retained enqueues nothing: the handle's
        `enqueued` is then False. With a `key` (per job): `debounce` runs the job once, that long
        after the last trigger of the key, with the last payload; `throttle` runs the first trigger
        and drops the others until that long after it; a key alone drops a trigger while the key's
        job is queued, scheduled or running. The handle says which happened. `priority` (higher
        first, -1000 to 1000) orders it among the queue's due jobs; first in, first out within one.
        """
        rule = trigger_keys.rule(key, debounce=debounce, throttle=throttle, delay=delay)  # bad options raise first
        enqueue.check_priority(priority)
        tracer = tracing.tracer()  # None unless a tracer provider is configured
        if tracer is None:
            return await self._enqueue(payload, delay, job_id, rule, None, priority)
        with tracing.sending(tracer, self.queue, self.name) as sending:
            handle = await self._enqueue(payload, delay, job_id, rule, sending, priority)
            sending.sent(handle.enqueued)
            return handle

    async def _enqueue(
        self,
        payload: Any,
        delay: Delay | None,
        job_id: str | None,
        rule: trigger_keys.KeyRule | None,
        sending: tracing.Sending | None,
        priority: int,
    ) -> JobHandle[R]:
        now = now_ms()
        chosen = job_id is not None
        job_id = enqueue.check_job_id(job_id) if job_id is not None else enqueue.new_job_id()
        stored = self.encode(payload, now, b"" if sending is None else sending.stored_field(job_id))  # raises first
        if rule is None:
            (fresh,) = await enqueue.write(
                self.queue, [(job_id, stored, now + to_ms(delay))], now, chosen=chosen, priority=priority
            )
            return JobHandle(id=job_id, job=self.name, queue=self.queue, enqueued=fresh, result_type=self.result_type)
        status, kept = await enqueue.write_keyed(
            self.queue,
            self.name,
            rule.key,
            rule.mode,
            rule.ttl_ms(delay),
            (job_id, stored, now + rule.delay_ms(delay)),
            priority,
        )
        return JobHandle(
            id=kept,
            job=self.name,
            queue=self.queue,
            enqueued=status == 1,
            replaced=status == 2,
            result_type=self.result_type,
        )

    async def schedule(self, schedule_id: str, spec: Cron | Every, payload: Any = None) -> Schedule:
        """Create or replace the run-time schedule `schedule_id` of this job (its next tick is
        recomputed); the payload is validated first and nothing is stored if it is invalid."""
        data = json.loads(self.payload_json(payload))
        conn = await connection.for_current_loop()
        return await saved_schedules.save(conn, self.queue, schedule_id, self.name, spec, data, declared=False)

    @overload
    async def trigger_many(
        self: Job[M, R], payloads: Iterable[M | Mapping[str, Any]], *, priority: int = 0
    ) -> list[JobHandle[R]]: ...
    @overload
    async def trigger_many(
        self: Job[D, R], payloads: Iterable[D | Mapping[str, Any]], *, priority: int = 0
    ) -> list[JobHandle[R]]: ...
    @overload
    async def trigger_many(self, payloads: Iterable[P], *, priority: int = 0) -> list[JobHandle[R]]: ...
    async def trigger_many(self, payloads: Iterable[Any], *, priority: int = 0) -> list[JobHandle[R]]:
        """Validate every payload first, then enqueue them all in one round trip (all at `priority`)."""
        enqueue.check_priority(priority)
        tracer = tracing.tracer()
        if tracer is None:
            return await self._enqueue_many(payloads, b"", priority)
        with tracing.sending(tracer, self.queue, self.name, count=len(payloads := list(payloads))) as sending:
            return await self._enqueue_many(payloads, sending.stored_field(), priority)

    async def _enqueue_many(self, payloads: Iterable[Any], trace: bytes, priority: int) -> list[JobHandle[R]]:
        now = now_ms()
        batch = [(enqueue.new_job_id(), data, now) for data in self.encode_batch(payloads, now, trace)]
        if not batch:
            return []
        added = await enqueue.write(self.queue, batch, now, chosen=False, priority=priority)
        return [
            JobHandle(id=job_id, job=self.name, queue=self.queue, enqueued=fresh, result_type=self.result_type)
            for (job_id, _, _), fresh in zip(batch, added, strict=True)
        ]

    def __repr__(self) -> str:
        return f"Job(name={self.name!r}, queue={self.queue!r})"


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

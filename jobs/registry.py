"""The process-wide table of defined jobs, keyed by name.

Job names are what is stored in Redis, so a name must mean one job. Observers (the pytest
plugin) are told of every job defined, including jobs imported after they subscribed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import DuplicateJobError, UnknownJobError
from .store import queues as queues_in_redis

if TYPE_CHECKING:
    from .definition import Job

Observer = Callable[["Job[Any]"], None]

_jobs: dict[str, Job[Any]] = {}
_observers: list[Observer] = []


def register(job: Job[Any]) -> None:
    """Add `job`; a second job under a name already taken raises `DuplicateJobError`.

    Re-defining the same function (a module imported twice or reloaded) replaces the old entry.
    """
    existing = _jobs.get(job.name)
    if existing is not None and _origin(existing) != _origin(job):
        raise DuplicateJobError(
            f"a job named {job.name!r} is already defined by {_origin(existing)}; job names must be unique"
        )
    _jobs[job.name] = job
    queues_in_redis.remember(job.queue)
    for observe in list(_observers):
        observe(job)


def unregister(name: str) -> None:
    """Forget a job (for tests that define throwaway jobs)."""
    _jobs.pop(name, None)


def get(name: str) -> Job[Any]:
    try:
        return _jobs[name]
    except KeyError:
        known = ", ".join(sorted(_jobs)) or "none"
        raise UnknownJobError(f"no job named {name!r} (known jobs: {known})") from None


def all_jobs() -> list[Job[Any]]:
    return list(_jobs.values())


def queues() -> list[str]:
    """Queue names of the defined jobs, in first-defined order."""
    return list(dict.fromkeys(j.queue for j in _jobs.values()))


def subscribe(observer: Observer) -> Callable[[], None]:
    """Call `observer` for every job defined from now on; returns the function that unsubscribes."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)


def _origin(job: Job[Any]) -> str:
    run = job.config.run
    return f"{getattr(run, '__module__', '?')}.{getattr(run, '__qualname__', repr(run))}"

"""Exceptions that callers and job authors handle by name."""

from __future__ import annotations


class JobsError(Exception):
    """Base class for every error this library raises on its own."""


class UnrecoverableError(Exception):
    """Raise from a job (or subclass it) to fail the job at once, with no further attempts."""


class DuplicateJobError(JobsError, ValueError):
    """Two jobs were defined with the same name; names identify jobs in Redis, so they must be unique."""


class JobDefinitionError(JobsError, TypeError):
    """A job was defined with an unusable `run` function or option."""


class UnknownJobError(JobsError, LookupError):
    """A job name that no imported module defines."""


class RedisUnavailableError(JobsError, ConnectionError):
    """Redis could not be reached; the message never contains the password."""


class RedisURLError(RedisUnavailableError):
    """REDIS_URL reaches a server that can never serve the jobs: a database index it does not have,
    or a server that is not Redis. Waiting does not help; the message names REDIS_URL."""


class RedisOutOfMemoryError(RedisUnavailableError):
    """Redis refused the write for lack of memory (`maxmemory` reached under the `noeviction`
    policy): nothing was written. Free memory or raise `maxmemory`; until then Redis takes no job,
    which is why it is a `RedisUnavailableError`."""


class PayloadTooLargeError(JobsError, ValueError):
    """A payload over JOBS_MAX_PAYLOAD_BYTES: keep payloads small, store large data elsewhere."""


class PayloadNotJSONError(JobsError, ValueError):
    """A payload JSON cannot carry faithfully (NaN or infinity): refused rather than stored altered."""

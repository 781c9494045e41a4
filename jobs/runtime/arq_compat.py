"""Run our jobs under arq's own worker: `arq jobs.arq_worker.WorkerSettings`.

arq's loop polls Redis (here every 50 ms rather than its 500 ms default) and starts at most one
job per poll when a queue runs one job at a time, so `jobs worker` is the faster
entry point; this one exists for teams that already deploy arq. Retries, backoff, validation,
logging and retention behave the same, because both run `execution.run_attempt`.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

from arq import Retry
from arq.connections import RedisSettings
from arq.worker import Function, func
from redis import Redis as SyncRedis
from redis.exceptions import RedisError
from redis.sentinel import Sentinel as SyncSentinel

from .. import registry
from ..clock import now_ms
from ..cluster_url import is_cluster_url
from ..definition import Job
from ..logs.configure import configure_logging, silence_arq
from ..logs.events import log
from ..sentinel_url import is_sentinel_url, parse_sentinel_url
from ..settings import Settings, get_settings
from ..store import eviction, keys
from ..store.connection import CONNECTION_ERRORS, as_jobs_error, unavailable
from . import retention
from .arq_events import ArqRun
from .execution import Attempt, Retrying, run_attempt
from .process import StartupError, check_queue_names

ARQ_POLL_DELAY = 0.05


def worker_settings(settings: Settings | None = None) -> type:
    """A WorkerSettings class for arq's CLI, for the queue named by JOBS_QUEUE."""
    settings = settings or get_settings()
    if is_cluster_url(settings.redis_url):
        raise StartupError(
            "REDIS_URL is a Redis Cluster, which arq's worker cannot use (it has no cluster client): "
            "run this library's worker (`jobs worker`) instead"
        )
    redis_settings = _redis_settings(settings)
    queue = settings.jobs_queue
    silence_arq()
    jobs = [j for j in registry.all_jobs() if j.queue == queue]
    run = ArqRun(queue, sorted(j.name for j in jobs), settings.concurrency_for(queue))

    async def on_startup(ctx: dict[str, Any]) -> None:
        configure_logging(settings.log_format, settings.log_level)
        await eviction.check_policy(ctx["redis"])
        run.started()

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        run.ended()

    functions = [_as_arq_function(j, settings, run) for j in jobs]
    if not functions:  # arq would stop with a traceback ("at least one function ... must be registered")
        known = ", ".join(registry.queues()) or "none, set JOBS_MODULES"
        raise StartupError(f"JOBS_QUEUE={queue!r}: no defined job runs on this queue (queues with jobs: {known})")
    check_queue_names(settings, ())
    attributes: dict[str, Any] = {
        "functions": functions,
        "queue_name": keys.queue(queue),
        "redis_settings": redis_settings,
        "max_jobs": settings.concurrency_for(queue),
        "poll_delay": ARQ_POLL_DELAY,
        "keep_result": 0,
        "job_serializer": lambda data: json.dumps(data, default=repr).encode(),
        "job_deserializer": json.loads,
        "job_completion_wait": int(settings.jobs_shutdown_timeout),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
    }
    return type("WorkerSettings", (), attributes)


def wait_for_redis(settings: Settings) -> None:
    """Before arq starts: retry for JOBS_CONNECT_TIMEOUT, then raise `RedisUnavailableError`
    (`RedisURLError` at once for a URL that can never work), as `connection.wait_until_reachable`."""
    url = settings.redis_url
    client = _sync_client(settings)
    deadline = time.monotonic() + settings.jobs_connect_timeout
    delay = 0.1
    try:
        while True:
            try:
                client.ping()
                return
            except CONNECTION_ERRORS as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise unavailable(url, exc) from None
            except RedisError as exc:
                raise (as_jobs_error(url, exc) or unavailable(url, exc)) from None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 2.0)
    finally:
        client.close()


def _redis_settings(settings: Settings) -> RedisSettings:
    """arq's settings for REDIS_URL; for `redis+sentinel://` arq's own Sentinel support, which asks
    the sentinels over plain connections without credentials: what it cannot do is refused."""
    if not is_sentinel_url(settings.redis_url):
        return RedisSettings.from_dsn(settings.redis_url)
    if settings.jobs_sentinel_password is not None:
        raise StartupError(
            "JOBS_SENTINEL_PASSWORD is set, but arq's worker cannot give the sentinels a password "
            "(it asks them without credentials): run this library's worker (`jobs worker`) instead"
        )
    parsed = parse_sentinel_url(settings.redis_url)
    if parsed.tls:
        raise StartupError(
            "REDIS_URL is rediss+sentinel://, but arq's worker asks the sentinels over plain connections: "
            "run this library's worker (`jobs worker`) instead"
        )
    return RedisSettings(
        host=list(parsed.sentinels),
        sentinel=True,
        sentinel_master=parsed.service,
        database=parsed.db,
        username=parsed.options.get("username"),
        password=parsed.options.get("password"),
    )


def _sync_client(settings: Settings) -> SyncRedis:
    """A blocking client of REDIS_URL (of the service's master, behind Sentinel), as arq's reaches it."""
    if not is_sentinel_url(settings.redis_url):
        return SyncRedis.from_url(settings.redis_url, socket_connect_timeout=2)
    parsed = parse_sentinel_url(settings.redis_url)
    sentinel = SyncSentinel(parsed.sentinels, socket_connect_timeout=2, socket_timeout=2)  # type: ignore[no-untyped-call]
    client: SyncRedis = sentinel.master_for(  # type: ignore[no-untyped-call]
        parsed.service, db=parsed.db, socket_connect_timeout=2, **parsed.options
    )
    return client


def _as_arq_function(job: Job[Any], settings: Settings, arq_run: ArqRun) -> Function:
    async def run(ctx: dict[str, Any], payload: Any) -> Any:
        started = now_ms()
        attempt = Attempt(ctx["job_id"], job.name, job.queue, ctx["job_try"])
        arq_run.running += 1
        try:
            outcome = await run_attempt(job, payload, attempt, max_result_bytes=settings.jobs_max_result_bytes)
        except asyncio.CancelledError:
            arq_run.cancelled(attempt)
            raise
        finally:
            arq_run.running -= 1
        if isinstance(outcome, Retrying):
            arq_run.counts["retried"] += 1
            raise Retry(defer=outcome.delay_ms / 1000)
        enqueued: datetime = ctx["enqueue_time"]
        record = retention.build_record(attempt, outcome, payload, int(enqueued.timestamp() * 1000), started)
        keep = retention.keep_limit(
            job, record.status, keep_completed=settings.jobs_keep_completed, keep_failed=settings.jobs_keep_failed
        )
        if not await retention.store(ctx["redis"], record, keep):
            log.warning(
                "job.outcome_discarded",
                job=job.name,
                job_id=attempt.job_id,
                queue=job.queue,
                attempt=attempt.number,
                outcome=record.status.value,
                reason="the job is no longer stored: another worker took it over and finished it",
            )
        arq_run.counts[record.status.value] += 1
        return record.result

    return func(
        run,
        name=job.name,
        max_tries=1_000_000,  # run_attempt decides when attempts are used up
        timeout=job.config.timeout.total_seconds() + 5,  # ours fires first and counts as a failed attempt
        keep_result=0,
    )

"""Redis clients: one per event loop for triggers, and a bounded wait for Redis at start.

A client is bound to the loop it was created on; test suites and scripts run a new loop per
test or per `asyncio.run`, so `client_for_current_loop` hands each loop its own.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import BusyLoadingError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import RedisOutOfMemoryError, RedisUnavailableError
from .redaction import redact_url
from .script_link import ScriptLink
from .scripts import Scripts
from .settings import get_settings

log = structlog.get_logger("jobs")

COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Connection:
    """A client, the scripts registered on it, and the lean link for the hot scripts."""

    redis: Redis
    scripts: Scripts
    link: ScriptLink
    url: str

    async def aclose(self) -> None:
        await self.link.close()
        await self.redis.aclose()


def connect(url: str, *, socket_timeout: float | None = COMMAND_TIMEOUT) -> Connection:
    """A new client for `url` (no I/O until first use).

    Commands time out after `socket_timeout` seconds, so a Redis that stops answering raises
    instead of hanging (the worker's subscription, which waits on purpose, probes with PING).
    """
    keepalive = {} if url.startswith("unix:") else {"socket_keepalive": True}  # a Unix socket takes no such option
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=socket_timeout, health_check_interval=30, **keepalive
    )
    return Connection(client, Scripts.register(client), ScriptLink(client, socket_timeout), url)


@dataclass(frozen=True, slots=True)
class _LoopClient:
    conn: Connection
    closer: AsyncGenerator[None, None]


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = weakref.WeakKeyDictionary()


async def for_current_loop() -> Connection:
    """The connection for the running loop at the configured `REDIS_URL`, created on first use.

    It is closed when the loop shuts down (`asyncio.run`, pytest-asyncio and anyio all shut
    down a loop's async generators before closing it), or earlier by `disconnect()`.
    """
    loop = asyncio.get_running_loop()
    url = get_settings().redis_url
    entry = _per_loop.get(loop)
    if entry is not None and entry.conn.url == url:
        return entry.conn
    if entry is not None:
        await entry.closer.aclose()
    conn = connect(url)
    closer = _close_at_loop_shutdown(conn)
    await anext(closer)
    _per_loop[loop] = _LoopClient(conn, closer)
    return conn


async def _close_at_loop_shutdown(conn: Connection) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await conn.aclose()


async def disconnect() -> None:
    """Close the running loop's client now, e.g. from an app's shutdown hook."""
    entry = _per_loop.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry.closer.aclose()


async def wait_until_reachable(conn: Connection, timeout: float) -> None:
    """Ping until Redis answers, retrying with backoff for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            await conn.redis.ping()
            return
        except CONNECTION_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise unavailable(conn.url, exc) from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


def unavailable(url: str, exc: BaseException) -> RedisUnavailableError:
    """A one-line error naming the (redacted) URL and the reason."""
    reason = str(exc).replace(url, redact_url(url)) or type(exc).__name__
    return RedisUnavailableError(f"cannot reach Redis at {redact_url(url)}: {reason}")


def out_of_memory(url: str) -> RedisOutOfMemoryError:
    """Redis refused a write with OOM: it is at `maxmemory` and may not evict (`noeviction`)."""
    return RedisOutOfMemoryError(
        f"Redis at {redact_url(url)} refused the write for lack of memory (maxmemory reached, policy "
        "noeviction): nothing was enqueued; free memory or raise maxmemory"
    )


def backoff_after(failures: int, exc: BaseException, event: str) -> float:
    """Seconds to wait after `failures` failures in a row (0.1 s doubling to 5 s); logs `event`
    with the error at the first failure and every tenth."""
    delay = min(0.1 * 2.0 ** (failures - 1), 5.0)
    if failures == 1 or failures % 10 == 0:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.warning(event, error=error, retry_in_ms=int(delay * 1000))
    return delay


# Redis unreachable, or back but not ready (LOADING after a restart): wait and try again.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    OSError,
)
# Anything Redis can raise: a worker loop survives all of them.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)

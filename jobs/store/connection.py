"""Redis clients: one per event loop for triggers, and a bounded wait for Redis at start.

A client is bound to the loop it was created on; test suites and scripts run a new loop per
test or per `asyncio.run`, so `client_for_current_loop` hands each loop its own.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.connection import parse_url
from redis.exceptions import (
    BusyLoadingError,
    InvalidResponse,
    OutOfMemoryError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..cluster_url import is_cluster_url, parse_cluster_url
from ..errors import JobsError, RedisOutOfMemoryError, RedisUnavailableError, RedisURLError
from ..redaction import redact_url
from ..sentinel_url import is_sentinel_url, parse_sentinel_url
from ..settings import get_settings
from . import scripts
from .cluster_link import ClusterLink
from .keys import CLUSTER, DEFAULT, Layout
from .script_link import ScriptLink
from .scripts import LuaScript

log = structlog.get_logger("jobs")

P = ParamSpec("P")
T = TypeVar("T")

COMMAND_TIMEOUT = 30.0

# A client of one Redis, or of a Redis Cluster (`redis+cluster://`): the commands used on both are
# the same; what differs (key names, pub/sub) is the connection's `keys` layout.
Client = Redis | RedisCluster


@dataclass(frozen=True, slots=True)
class Connection:
    """A client, the lean link for the hot scripts, and the key layout of the Redis it reaches."""

    redis: Client
    link: ScriptLink | ClusterLink
    url: str
    keys: Layout = DEFAULT
    sentinel: Sentinel | None = None  # through which `redis` finds its master (`redis+sentinel://`)

    async def run(self, script: LuaScript, script_keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """A colder script (EVALSHA through redis-py; in a cluster, through the link, which waits
        out a slot's migration), in this Redis's layout."""
        if isinstance(self.link, ClusterLink):
            return await self.link.call(script, script_keys, args)
        return await scripts.run(self.redis, script, script_keys, args, self.keys)

    async def publish(self, channel: str, message: str | bytes) -> None:
        """PUBLISH on one Redis; in a cluster SPUBLISH, which stays in the channel's shard."""
        if isinstance(self.redis, Redis):
            await self.redis.publish(channel, message)
        else:
            await self.redis.execute_command("SPUBLISH", channel, message)

    async def aclose(self) -> None:
        await self.link.close()
        await self.redis.aclose()
        for client in self.sentinel.sentinels if self.sentinel is not None else ():
            await client.aclose()


def connect(url: str, *, socket_timeout: float | None = COMMAND_TIMEOUT) -> Connection:
    """A new client for `url` (no I/O until first use).

    Commands time out after `socket_timeout` seconds, so a Redis that stops answering raises
    instead of hanging (the worker's subscription, which waits on purpose, probes with PING).
    """
    if is_cluster_url(url):
        return _cluster_connection(url, socket_timeout)
    if is_sentinel_url(url):
        return _sentinel_connection(url, socket_timeout)
    keepalive = {} if url.startswith("unix:") else {"socket_keepalive": True}  # a Unix socket takes no such option
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=socket_timeout, health_check_interval=30, **keepalive
    )
    return Connection(client, ScriptLink(client, socket_timeout), url)


def _cluster_connection(url: str, socket_timeout: float | None) -> Connection:
    """A cluster client that learns the cluster's layout from the first of the URL's nodes that
    answers, and the lean per-node links for the hot scripts."""
    parsed = parse_cluster_url(url)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        socket_connect_timeout=5,
        socket_timeout=socket_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        ssl=parsed.tls,
        **parsed.options,
    )
    return Connection(cluster, ClusterLink(cluster, socket_timeout), url, CLUSTER)


def _sentinel_connection(url: str, socket_timeout: float | None) -> Connection:
    """A client of the service's master, found through the sentinels on every new connection
    (redis-py's `SentinelConnectionPool`), so one broken by a failover reopens to the new master;
    the lean link opens its connection from the same pool, so it follows the master too."""
    parsed = parse_sentinel_url(url)
    secret = get_settings().jobs_sentinel_password
    to_sentinels = {k: v for k, v in parsed.options.items() if k not in ("username", "password")}
    if secret is not None:
        to_sentinels["password"] = secret.get_secret_value()
    else:  # the same credentials as the master's
        to_sentinels.update({k: v for k, v in parsed.options.items() if k in ("username", "password")})
    timeouts = {
        "socket_connect_timeout": 5,
        "socket_timeout": 5.0 if socket_timeout is None else min(socket_timeout, 5.0),
    }
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        parsed.sentinels, sentinel_kwargs={**to_sentinels, **timeouts, "ssl": parsed.tls}, ssl=parsed.tls
    )
    client: Redis = sentinel.master_for(
        parsed.service,
        db=parsed.db,
        socket_connect_timeout=5,
        socket_timeout=socket_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        **parsed.options,
    )
    return Connection(client, ScriptLink(client, socket_timeout), url, sentinel=sentinel)


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
    """Ping until Redis answers, retrying with backoff for up to `timeout` seconds; a URL that
    can never work (`RedisURLError`: e.g. `redis://` to a cluster node) or any other refusal is
    raised at once."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            await conn.redis.ping()
            break
        except RedisClusterException as exc:
            if _not_a_cluster(exc):
                raise (as_jobs_error(conn.url, exc) or unavailable(conn.url, exc)) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise unavailable(conn.url, exc) from None
        except CONNECTION_ERRORS as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise unavailable(conn.url, exc) from None
        except RedisError as exc:
            raise (as_jobs_error(conn.url, exc) or unavailable(conn.url, exc)) from None
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 2.0)
    await _refuse_a_cluster_node(conn)


async def _refuse_a_cluster_node(conn: Connection) -> None:
    """A `redis://` URL naming a node of a cluster would fail every other command with MOVED."""
    if not isinstance(conn.redis, Redis):
        return
    try:
        enabled = (await conn.redis.info("cluster")).get("cluster_enabled")
    except ResponseError:  # INFO refused (a managed Redis): the first MOVED will say it
        return
    if enabled == 1:
        raise RedisURLError(
            f"REDIS_URL={redact_url(conn.url)}: the server there is a node of a Redis Cluster; "
            "use redis+cluster://host:port"
        )


def unavailable(url: str, exc: BaseException) -> RedisUnavailableError:
    """A one-line error naming the (redacted) URL and the reason."""
    return RedisUnavailableError(f"cannot reach Redis at {redact_url(url)}: {_reason(url, exc)}")


def as_jobs_error(url: str, exc: BaseException) -> RedisUnavailableError | None:
    """This library's error for a Redis error of a public call, or None to let `exc` through:
    `RedisURLError` for a URL that can never work, `RedisUnavailableError` for Redis unreachable."""
    if isinstance(exc, JobsError):
        return None
    if isinstance(exc, OutOfMemoryError):
        return out_of_memory(url)
    if isinstance(exc, RedisClusterException) and _not_a_cluster(exc):
        return RedisURLError(
            f"REDIS_URL={redact_url(url)}: the server there is not in cluster mode (cluster_enabled:0); "
            "for a single Redis use redis://"
        )
    if isinstance(exc, ResponseError) and str(exc).startswith("MOVED ") and not is_cluster_url(url):
        return RedisURLError(
            f"REDIS_URL={redact_url(url)}: the server there is a node of a Redis Cluster (it answered MOVED); "
            "use redis+cluster://host:port"
        )
    if isinstance(exc, InvalidResponse):
        return RedisURLError(f"REDIS_URL={redact_url(url)}: the server there is not Redis ({_reason(url, exc)})")
    if isinstance(exc, ResponseError) and "DB index is out of range" in str(exc):
        database = parse_sentinel_url(url).db if is_sentinel_url(url) else parse_url(url).get("db", 0)  # type: ignore[no-untyped-call]
        return RedisURLError(f"REDIS_URL={redact_url(url)}: the server has no database {database} ({exc})")
    if isinstance(exc, CONNECTION_ERRORS) or (isinstance(exc, RedisClusterException) and cluster_unreachable(exc)):
        return unavailable(url, exc)
    return None


def reports_redis_errors(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Make a public call raise `RedisUnavailableError` / `RedisURLError` for what redis-py
    raises when Redis is down or REDIS_URL is wrong, as `trigger` does (see `as_jobs_error`)."""

    @functools.wraps(call)
    async def reporting(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except Exception as exc:
            error = None if isinstance(exc, JobsError) else as_jobs_error(get_settings().redis_url, exc)
            if error is None:
                raise
            raise error from None

    return reporting


def _not_a_cluster(exc: RedisClusterException) -> bool:
    return "Cluster mode is not enabled" in str(exc)


def cluster_unreachable(exc: RedisClusterException) -> bool:
    """No node of the cluster answers, or not every slot is served: wait, as for a lost connection."""
    return "cannot be connected" in str(exc) or "slots are not covered" in str(exc)


def _reason(url: str, exc: BaseException) -> str:
    return str(exc).replace(url, redact_url(url)) or type(exc).__name__


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
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)

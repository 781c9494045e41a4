"""The check a worker makes at start: a Redis that may evict keys deletes jobs without a trace.

Under any `maxmemory-policy` but `noeviction`, Redis at its memory limit deletes keys of its
choosing: a queued job, a running one's lock, a retained record. Nothing fails, nothing is
logged; jobs just never run. So the worker says it once, at start (`redis.eviction_policy`), for
each primary of a cluster; a managed Redis that refuses CONFIG gets a line saying it could not
be checked.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from .connection import Connection

log = structlog.get_logger("jobs")

SAFE_POLICY = "noeviction"


async def warn_if_evicting(conn: Connection) -> None:
    """Log `redis.eviction_policy` (a warning) for each server whose policy may delete jobs."""
    if isinstance(conn.redis, Redis):
        await check_policy(conn.redis, None)
        return
    await conn.redis.initialize()
    for node in conn.redis.get_primaries():
        await check_policy(node, node.name)


async def check_policy(server: Any, node: str | None = None) -> None:
    """The check for one server (a client, or a cluster node): arq's worker has no `Connection`."""
    where = {} if node is None else {"node": node}
    try:
        reply = await server.execute_command("CONFIG", "GET", "maxmemory-policy")
    except ResponseError as exc:  # CONFIG renamed away or refused by ACL: a managed Redis
        log.warning(
            "redis.eviction_policy",
            policy="unknown",
            error=str(exc),
            message="could not read maxmemory-policy (CONFIG refused); make sure it is noeviction, "
            "or eviction may delete jobs silently",
            **where,
        )
        return
    except RedisError:  # Redis went away again: the worker's loops will say so
        return
    policy = _policy(reply)
    if policy != SAFE_POLICY:
        log.warning(
            "redis.eviction_policy",
            policy=policy,
            message=f"maxmemory-policy is {policy}, not noeviction: at maxmemory Redis deletes keys, "
            "and so jobs, silently",
            **where,
        )


def _policy(reply: Any) -> str:
    """CONFIG GET's reply: a flat [name, value] list, or a {name: value} map (RESP3, cluster nodes)."""
    values = list(reply.values()) if isinstance(reply, dict) else list(reply)[1:2]
    value = values[0] if values else b"?"
    return value.decode() if isinstance(value, bytes) else str(value)

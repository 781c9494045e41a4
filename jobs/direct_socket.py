"""A Redis socket driven by our own protocol, for the paths where redis-py's per-command cost
is most of the time (see `script_link` and `subscription`).

redis-py opens and authenticates the connection, so TLS, ACL users, the database, connect
timeout and keepalive follow the URL exactly as for every other command; then its socket is
handed to `protocol`, which from then on receives every byte Redis sends on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError


class DirectSocket:
    """An open connection whose bytes go to `protocol`; close it with `close()`."""

    def __init__(self, connection: AbstractConnection, transport: asyncio.Transport) -> None:
        self._connection = connection  # kept: its stream writer owns the transport
        self.transport = transport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def close(self) -> None:
        self.transport.abort()
        await self._connection.disconnect(nowait=True)


async def open_direct(redis: Redis, protocol: asyncio.Protocol) -> DirectSocket:
    """A new connection configured like `redis`'s pool, feeding `protocol` once connected."""
    connection: AbstractConnection = redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
    await connection.connect()  # type: ignore[no-untyped-call]
    writer: Any = getattr(connection, "_writer", None)
    if writer is None:  # pragma: no cover - a redis-py release that keeps its stream elsewhere
        await connection.disconnect(nowait=True)
        raise RedisConnectionError("this redis-py release does not expose its connection's stream")
    transport: asyncio.Transport = writer.transport
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return DirectSocket(connection, transport)

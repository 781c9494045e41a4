"""A Redis socket driven by our own protocol, for the paths where redis-py's per-command cost
is most of the time (see `script_link` and `subscription`).

redis-py opens and authenticates the connection, so TLS, ACL users, the database, connect
timeout and keepalive follow the URL exactly as for every other command; then its socket is
handed to a `RespProtocol`, which from then on parses every byte Redis sends on it (hiredis).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# hiredis' stub types the command as a 1-tuple; it takes any number of arguments.
pack = cast(Callable[[tuple[Any, ...]], bytes], hiredis.pack_command)

ConnectionEnd = RedisConnectionError | RedisTimeoutError


class RespProtocol(asyncio.Protocol):
    """Parses Redis' replies; a subclass acts on each one and on the connection's end.

    Error replies arrive as `ResponseError` values, not raised. `failed` is called with redis'
    ConnectionError when the connection is lost or sends what is not RESP.
    """

    socket: DirectSocket | None = None

    def __init__(self) -> None:
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)

    async def open(self, server: Redis | ClusterNode) -> DirectSocket:
        """Connect as `server`'s pool would (a client's, or a cluster node's) and receive that
        connection's bytes from now on."""
        connection: AbstractConnection
        if isinstance(server, ClusterNode):
            connection = server.connection_class(**server.connection_kwargs)
        else:
            connection = server.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        await connection.connect()  # type: ignore[no-untyped-call]
        writer: Any = getattr(connection, "_writer", None)
        if writer is None:  # pragma: no cover - a redis-py release that keeps its stream elsewhere
            await connection.disconnect(nowait=True)
            raise RedisConnectionError("this redis-py release does not expose its connection's stream")
        transport: asyncio.Transport = writer.transport
        transport.set_protocol(self)
        self.socket = DirectSocket(connection, transport)
        return self.socket

    def reply_received(self, reply: Any) -> None:
        raise NotImplementedError

    def failed(self, error: ConnectionEnd) -> None:
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                self.reply_received(reply)
        except InvalidResponse as exc:
            self.failed(RedisConnectionError(f"unexpected data from Redis: {exc!r}"))

    def eof_received(self) -> bool:
        return False  # the transport closes: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.failed(RedisConnectionError(f"connection to Redis lost: {exc}" if exc else "Redis closed the connection"))


class DirectSocket:
    """An open connection whose bytes go to a `RespProtocol`; close it with `close()`."""

    def __init__(self, connection: AbstractConnection, transport: asyncio.Transport) -> None:
        self._connection = connection  # kept: its stream writer owns the transport
        self.transport = transport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def close(self) -> None:
        self.transport.abort()
        await self._connection.disconnect(nowait=True)

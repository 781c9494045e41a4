"""One lean, pipelined connection for the scripts on the hot path: a trigger's ENQUEUE and a
worker turn's SETTLE_AND_CLAIM.

redis-py spends more time on a command than Redis does: it takes a connection from the pool,
checks it for stale data with a read of its own, and packs the arguments in Python. Here a
call is packed by hiredis and written straight to one socket (`direct_socket`), and replies
are matched to calls in order, so concurrent triggers share the connection without waiting
for each other. On a no-op trigger it takes a quarter less time (docs/PERFORMANCE.md).

Behind Sentinel (`redis+sentinel://`) the connection is opened from redis-py's sentinel pool, so
it reaches the current master; a READONLY reply means that master was demoted by a failover:
the connection is dropped as a broken one, and the next call reopens it to the new master.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any

from redis._parsers.base import BaseParser
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .direct_socket import ConnectionEnd, RespProtocol, pack
from .keys import DEFAULT, Layout
from .scripts import LuaScript


class ScriptLink:
    """EVALSHA over one connection, opened on first use and again after it breaks.

    A call fails as it would through redis-py: ConnectionError when the connection breaks,
    TimeoutError after `timeout` seconds without a reply, the server's error otherwise.
    """

    def __init__(self, redis: Redis | ClusterNode, timeout: float | None, layout: Layout = DEFAULT) -> None:
        self._redis = redis
        self._timeout = timeout
        self._layout = layout
        self._replies: _Replies | None = None
        self._opening = asyncio.Lock()
        self._follows_master = isinstance(getattr(redis, "connection_pool", None), SentinelConnectionPool)

    async def call(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        script.check(keys)
        return await self.call_checked(script.variant(self._layout), keys, args)

    async def call_checked(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """`call` for keys already checked against the script's header (a cluster adds its guard)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._send(pack(command))
        except NoScriptError:  # Redis restarted or its scripts were flushed
            await self._send(pack(("SCRIPT", "LOAD", script.text)))
            return await self._send(pack(command))

    async def call_and_wait(
        self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """`call`, then `WAIT replicas timeout_ms` written with it on the same connection (WAIT
        counts the replicas holding this connection's writes): (the script's reply, replicas that
        acknowledged)."""
        script.check(keys)
        return await self.call_checked_and_wait(script.variant(self._layout), keys, args, replicas, timeout_ms)

    async def call_checked_and_wait(
        self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """`call_and_wait` for keys already checked against the script's header."""
        command = pack(("EVALSHA", script.sha, len(keys), *keys, *args)) + pack(("WAIT", replicas, timeout_ms))
        try:
            reply, acknowledged = await self._send_several(command, 2)
        except NoScriptError:
            await self._send(pack(("SCRIPT", "LOAD", script.text)))
            reply, acknowledged = await self._send_several(command, 2)
        return reply, int(acknowledged)

    async def close(self) -> None:
        replies, self._replies = self._replies, None
        if replies is not None:
            await replies.close()

    async def _send(self, packed: bytes) -> Any:
        replies = self._replies
        if replies is None or replies.broken is not None:
            replies = await self._reopen()
        return await replies.send(packed)

    async def _send_several(self, packed: bytes, count: int) -> list[Any]:
        replies = self._replies
        if replies is None or replies.broken is not None:
            replies = await self._reopen()
        return await replies.send_several(packed, count)

    async def _reopen(self) -> _Replies:
        async with self._opening:
            if self._replies is None or self._replies.broken is not None:
                await self.close()
                replies = _Replies(self._timeout, self._follows_master)
                await replies.open(self._redis)
                self._replies = replies
            return self._replies


class _Replies(RespProtocol):
    """Resolves calls in the order they were written; fails them all when the connection breaks."""

    def __init__(self, timeout: float | None, follows_master: bool = False) -> None:
        super().__init__()
        self._follows_master = follows_master
        self._loop = asyncio.get_running_loop()
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._timeout = timeout
        self._watchdog: asyncio.TimerHandle | None = None
        self.broken: BaseException | None = None

    async def send(self, packed: bytes) -> Any:
        if self.broken is not None or self.socket is None:
            raise RedisConnectionError(str(self.broken or "not connected"))
        future = self._loop.create_future()
        self._waiting.append((future, self._loop.time()))
        self.socket.write(packed)
        if self._timeout is not None and self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_overdue)
        reply = await future
        if isinstance(reply, ResponseError):
            raise self._error(reply)
        return reply

    async def send_several(self, packed: bytes, count: int) -> list[Any]:
        """`send` for `count` commands packed together: their replies, or the first one's error."""
        if self.broken is not None or self.socket is None:
            raise RedisConnectionError(str(self.broken or "not connected"))
        now = self._loop.time()
        futures = [self._loop.create_future() for _ in range(count)]
        self._waiting.extend((future, now) for future in futures)
        self.socket.write(packed)
        if self._timeout is not None and self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_overdue)
        replies = await asyncio.gather(*futures, return_exceptions=True)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise self._error(reply)
            if isinstance(reply, BaseException):
                raise reply
        return replies

    def _error(self, reply: ResponseError) -> Exception:
        """The exception for an error reply; a demoted master's (READONLY, or WAIT refused on a
        replica) breaks the connection, so the next call asks the sentinels for the new master."""
        if self._follows_master and _demoted(str(reply)):
            self.failed(RedisConnectionError(f"the master was demoted to a replica (a failover): {reply}"))
            return RedisConnectionError(f"the master was demoted to a replica (a failover): {reply}")
        error: Exception = BaseParser.parse_error(str(reply))  # type: ignore[no-untyped-call]
        return error

    def reply_received(self, reply: Any) -> None:
        if not self._waiting:
            self.failed(RedisConnectionError(f"unexpected data from Redis: a reply nobody asked for: {reply!r}"))
            return
        future, _ = self._waiting.popleft()
        if not future.done():  # its caller was cancelled: the reply is dropped, in order
            future.set_result(reply)

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiting or self._timeout is None:
            return
        left = self._waiting[0][1] + self._timeout - self._loop.time()
        if left <= 0:
            self.failed(RedisTimeoutError(f"no reply from Redis within {self._timeout:g} s"))
        else:
            self._watchdog = self._loop.call_later(left, self._check_overdue)

    def failed(self, error: ConnectionEnd) -> None:
        if self.broken is None:
            self.broken = error
            if self.socket is not None:
                self.socket.transport.abort()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(type(error)(*error.args))

    async def close(self) -> None:
        self.failed(RedisConnectionError("connection closed"))
        if self.socket is not None:
            await self.socket.close()


def _demoted(message: str) -> bool:
    return message.startswith("READONLY") or "cannot be used with replica" in message

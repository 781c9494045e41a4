"""The worker's pub/sub connection: a wake-up or a hand-off is acted on the moment it is read.

Messages are dispatched from the socket's own callback (`direct_socket`), with no task to wake
and no redis-py parsing in between: a hand-off is most of an idle worker's pickup latency.
A connection that goes quiet is probed with PING, so a dead one (a half-open socket after a
network fault) is noticed within two probe intervals, not when the OS gives up on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .direct_socket import ConnectionEnd, RespProtocol, pack

log = structlog.get_logger("jobs")

PROBE_INTERVAL = 10.0

Handler = Callable[[bytes], None]


class Subscription(RespProtocol):
    """Subscribed to the channels of `handlers`; each message's data goes to its channel's handler."""

    def __init__(self, handlers: Mapping[bytes, Handler], probe_interval: float = PROBE_INTERVAL) -> None:
        super().__init__()
        self._handlers = handlers
        self._probe_interval = probe_interval
        self._loop = asyncio.get_running_loop()
        self._acks_left = len(handlers)
        self._subscribed: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._heard = True  # anything read since the last probe tick
        self._probe: asyncio.TimerHandle | None = None

    async def run(self, redis: Redis, on_subscribed: Callable[[], None]) -> None:
        """Subscribe, call `on_subscribed` once Redis confirmed every channel, then dispatch until
        the connection breaks, which raises redis' ConnectionError or TimeoutError (it never returns)."""
        socket = await self.open(redis)
        try:
            socket.write(pack(("SUBSCRIBE", *self._handlers)))
            await asyncio.wait([self._subscribed, self._lost], return_when=asyncio.FIRST_COMPLETED)
            if self._subscribed.done():
                on_subscribed()
                self._probe = self._loop.call_later(self._probe_interval, self._tick)
            await self._lost
        finally:
            if self._probe is not None:
                self._probe.cancel()
            await socket.close()

    def reply_received(self, reply: Any) -> None:
        self._heard = True
        if isinstance(reply, ResponseError):
            self.failed(RedisConnectionError(f"Redis refused the subscription: {reply}"))
        elif isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
            handler = self._handlers.get(reply[1])
            if handler is not None:
                try:
                    handler(reply[2])
                except Exception:  # one bad message must not end the subscription
                    log.exception("worker.message_failed", channel=reply[1].decode(errors="replace"))
        elif isinstance(reply, list) and reply and reply[0] == b"subscribe":
            self._acks_left -= 1
            if self._acks_left == 0 and not self._subscribed.done():
                self._subscribed.set_result(None)
        # anything else is a probe's pong

    def _tick(self) -> None:
        if not self._heard:
            self.failed(RedisTimeoutError(f"no answer from Redis to a PING within {self._probe_interval:g} s"))
            return
        self._heard = False
        assert self.socket is not None
        self.socket.write(pack(("PING",)))
        self._probe = self._loop.call_later(self._probe_interval, self._tick)

    def failed(self, error: ConnectionEnd) -> None:
        if not self._lost.done():
            self._lost.set_exception(error)

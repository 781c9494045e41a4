"""The worker's pub/sub connection: a wake-up or a hand-off is acted on the moment it is read.

Messages are dispatched from the socket's own callback (`direct_socket`), with no task to wake
and no redis-py parsing in between: a hand-off is most of an idle worker's pickup latency.
A connection that goes quiet is probed with PING, so a dead one (a half-open socket after a
network fault) is noticed within two probe intervals, not when the OS gives up on it.

In Redis Cluster a queue's channels are sharded (SSUBSCRIBE), in the queue's slot: one
connection per primary serves the queues whose slots it holds. When a slot moves (resharding, a
failover), Redis ends its subscriptions (`sunsubscribe`): that ends the listen like a lost
connection, and the worker subscribes again where the cluster now says the slots are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .connection import Connection
from .direct_socket import ConnectionEnd, RespProtocol, pack

log = structlog.get_logger("jobs")

PROBE_INTERVAL = 10.0

Handler = Callable[[bytes], None]


async def listen(
    conn: Connection,
    groups: Sequence[Mapping[bytes, Handler]],
    on_subscribed: Callable[[], None],
    *,
    again: bool = False,
) -> None:
    """Subscribe to every group's channels, call `on_subscribed` once all are confirmed, then
    dispatch until a connection breaks (raising as `Subscription.run` does). In a cluster, a group's
    channels share one slot (a queue's), and each primary gets one connection for its groups;
    `again` (after a failure) reads where the slots are first: they may have moved."""
    cluster = conn.redis
    if isinstance(cluster, Redis):
        await Subscription(groups).run(cluster, on_subscribed)
        return
    await cluster.initialize()
    if again:
        await cluster.nodes_manager.initialize()
    by_node: dict[str, tuple[ClusterNode, list[Mapping[bytes, Handler]]]] = {}
    for group in groups:
        node = cluster.get_node_from_key(next(iter(group)).decode())
        if node is None:
            raise RedisConnectionError("the cluster has no node for a queue's slot (is it resharding?)")
        by_node.setdefault(node.name, (node, []))[1].append(group)
    waiting = len(by_node)

    def one_subscribed() -> None:
        nonlocal waiting
        waiting -= 1
        if waiting == 0:
            on_subscribed()

    listens = [
        asyncio.create_task(Subscription(node_groups, sharded=True).run(node, one_subscribed))
        for node, node_groups in by_node.values()
    ]
    try:
        done, _ = await asyncio.wait(listens, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # raises why it ended
    finally:
        for task in listens:
            task.cancel()
        await asyncio.gather(*listens, return_exceptions=True)


class Subscription(RespProtocol):
    """Subscribed to the channels of `groups`; each message's data goes to its channel's handler.

    `sharded`: SSUBSCRIBE, one command per group (a group's channels share a slot), and a
    `sunsubscribe` Redis sends (the slot moved away) ends the subscription like a broken connection.
    """

    def __init__(
        self,
        groups: Sequence[Mapping[bytes, Handler]] | Mapping[bytes, Handler],
        probe_interval: float = PROBE_INTERVAL,
        *,
        sharded: bool = False,
    ) -> None:
        super().__init__()
        self._groups = [groups] if isinstance(groups, Mapping) else list(groups)
        self._handlers = {channel: h for group in self._groups for channel, h in group.items()}
        self._sharded = sharded
        self._message = b"smessage" if sharded else b"message"
        self._probe_interval = probe_interval
        self._loop = asyncio.get_running_loop()
        self._acks_left = len(self._handlers)
        self._subscribed: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._heard = True  # anything read since the last probe tick
        self._probe: asyncio.TimerHandle | None = None

    async def run(self, redis: Redis | ClusterNode, on_subscribed: Callable[[], None]) -> None:
        """Subscribe, call `on_subscribed` once Redis confirmed every channel, then dispatch until
        the connection breaks, which raises redis' ConnectionError or TimeoutError (it never returns)."""
        socket = await self.open(redis)
        try:
            if self._sharded:
                socket.write(b"".join(pack(("SSUBSCRIBE", *group)) for group in self._groups))
            else:
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
        elif isinstance(reply, list) and len(reply) == 3 and reply[0] == self._message:
            handler = self._handlers.get(reply[1])
            if handler is not None:
                try:
                    handler(reply[2])
                except Exception:  # one bad message must not end the subscription
                    log.exception("worker.message_failed", channel=reply[1].decode(errors="replace"))
        elif isinstance(reply, list) and reply and reply[0] in (b"subscribe", b"ssubscribe"):
            self._acks_left -= 1
            if self._acks_left == 0 and not self._subscribed.done():
                self._subscribed.set_result(None)
        elif isinstance(reply, list) and reply and reply[0] == b"sunsubscribe":  # we never ask for one
            shown = reply[1].decode(errors="replace") if len(reply) > 1 and isinstance(reply[1], bytes) else "?"
            self.failed(RedisConnectionError(f"Redis moved the slot of channel {shown} to another node"))
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

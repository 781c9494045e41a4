"""The hot scripts in Redis Cluster: a lean link (`ScriptLink`) to each primary, a call routed by
the slot of its first key, so a trigger or a worker turn costs what it costs on one Redis.

A key's slot moves when the cluster is resharded or fails over. A node that no longer serves it
answers MOVED: the cluster's layout is read again and the call goes to the new owner. While a
slot is being migrated every script of it is answered TRYAGAIN (each declares a key that is never
written, `keys.migration_guard`, so none runs against half-moved keys): those calls wait and are
tried again through redis-py's cluster client (which follows ASK) for up to `MIGRATION_WAIT_S`,
then fail as a lost connection would. The next calls come back to the lean links.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterError, NoScriptError, RedisError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError

from .keys import CLUSTER, migration_guard
from .script_link import ScriptLink
from .scripts import LuaScript

log = structlog.get_logger("jobs")

MIGRATION_WAIT_S = 10.0
_MIGRATING = ("ASK ", "TRYAGAIN", "CLUSTERDOWN")
_MOVED = "MOVED "


class ClusterLink:
    """`ScriptLink.call` for a cluster: same arguments, same errors, to the node owning KEYS[1]."""

    def __init__(self, cluster: RedisCluster, timeout: float | None) -> None:
        self._cluster = cluster
        self._timeout = timeout
        self._links: dict[str, ScriptLink] = {}
        self._refreshing: asyncio.Lock | None = None

    async def call(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        script.check(keys)
        script = script.variant(CLUSTER)
        keys = [*keys, migration_guard(keys[0])]
        for _ in range(3):
            node = await self._node_for(keys[0])
            try:
                return await self._link(node).call_checked(script, keys, args)
            except ResponseError as exc:
                message = str(exc)
                if message.startswith(_MOVED):
                    await self._refresh()
                    continue
                if message.startswith(_MIGRATING):
                    return await self._through_redis_py(script, keys, args)
                raise
            except RedisConnectionError:
                with contextlib.suppress(RedisError, OSError):  # the node may be gone (a failover):
                    await self._refresh()  # the next call asks the cluster who serves the slot now
                raise
        return await self._through_redis_py(script, keys, args)

    async def call_and_wait(
        self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """`ScriptLink.call_and_wait` on the lean link of the node owning KEYS[1] (WAIT counts that
        connection's writes, so it cannot go through redis-py's pool): a slot in migration is
        waited out on the lean link, for up to `MIGRATION_WAIT_S`, until MOVED names its new node."""
        script.check(keys)
        script = script.variant(CLUSTER)
        keys = [*keys, migration_guard(keys[0])]
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + MIGRATION_WAIT_S, 0.02
        while True:
            node = await self._node_for(keys[0])
            try:
                return await self._link(node).call_checked_and_wait(script, keys, args, replicas, timeout_ms)
            except ResponseError as exc:
                message = str(exc)
                if not message.startswith((_MOVED, *_MIGRATING)):
                    raise
                if loop.time() > deadline:
                    raise RedisConnectionError(
                        f"the slot of {keys[0]!r} was being migrated for {MIGRATION_WAIT_S:g} s ({exc})"
                    ) from None
                if message.startswith(_MOVED):
                    await self._refresh()
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
            except RedisConnectionError:
                with contextlib.suppress(RedisError, OSError):
                    await self._refresh()
                raise

    async def close(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()

    async def _node_for(self, key: Any) -> ClusterNode:
        await self._cluster.initialize()  # once; a no-op afterwards
        node = self._cluster.get_node_from_key(key)
        if node is None:
            raise RedisConnectionError(f"no node of the cluster serves the slot of {key!r}")
        return node

    def _link(self, node: ClusterNode) -> ScriptLink:
        link = self._links.get(node.name)
        if link is None:
            link = self._links[node.name] = ScriptLink(node, self._timeout, CLUSTER)
        return link

    async def _refresh(self) -> None:
        """Read the cluster's slots again (one caller at a time; the others wait for its answer)."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        if self._refreshing.locked():
            async with self._refreshing:
                return
        async with self._refreshing:
            await self._cluster.nodes_manager.initialize()
            live = {node.name for node in self._cluster.get_primaries()}
            for name in [n for n in self._links if n not in live]:
                await self._links.pop(name).close()

    async def _through_redis_py(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """The call through redis-py (ASK, MOVED), waiting out a migration (TRYAGAIN) for a while."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline, delay = began + MIGRATION_WAIT_S, 0.02
        while True:
            try:
                reply = await self._evalsha(script, keys, args)
            except (TryAgainError, ClusterError) as exc:  # ClusterError: redis-py's own retries ran out
                if loop.time() > deadline:
                    raise RedisConnectionError(
                        f"the slot of {keys[0]!r} was being migrated for {MIGRATION_WAIT_S:g} s ({exc})"
                    ) from None
            else:
                waited = int((loop.time() - began) * 1000)
                log.info("redis.slot_migrating", script=script.name, key=str(keys[0]), waited_ms=waited)
                return reply
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _evalsha(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return await self._cluster.evalsha(script.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:
            await self._cluster.script_load(script.text)  # every primary
            return await self._cluster.evalsha(script.sha, len(keys), *keys, *args)  # type: ignore[misc]

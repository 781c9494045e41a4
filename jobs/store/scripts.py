"""The Lua scripts (`lua/*.lua`): each state change of a job is one atomic round trip.

Each script is a file that opens with a comment block naming its KEYS, ARGV and reply, loaded
once at import: `--!include name` lines pull in `lua/include/name.lua`, and `${...}` names are
filled with the key prefixes of `keys`. The header's `KEYS[n]` lines say how many keys a call
passes; every call (`ScriptLink.call`, `run`) is checked against it, so a call site and its
script cannot drift apart. Key names are built inside the scripts from those prefixes, as arq
does; the stored job stays in arq's layout so arq's own worker can run it too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from . import keys
from .keys import DEFAULT, Layout, migration_guard

_LUA = resources.files(__package__) / "lua"
_INCLUDE = re.compile(r"^--!include (\w+)\n", re.MULTILINE)
_KEY_LINE = re.compile(r"^-- KEYS\[(\d+)\]", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_PREFIXES = {
    "JOB_PREFIX": keys.JOB_PREFIX,
    "LOCK_PREFIX": keys.LOCK_PREFIX,
    "TRIES_PREFIX": keys.TRIES_PREFIX,
    "RECORD_PREFIX": keys.RECORD_PREFIX,
    "HANDOFF_CHANNEL_PREFIX": keys.HANDOFF_CHANNEL_PREFIX,
}


class ScriptCallError(TypeError):
    """A call passed a script another number of keys than its header documents: a bug, refused
    before anything reaches Redis."""


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A loaded script: called by its SHA1, loaded again whenever Redis answers NOSCRIPT."""

    text: str
    name: str = "inline"
    keys: int | None = None  # how many KEYS a call passes, from the header's KEYS[n] lines
    clustered: LuaScript | None = field(default=None, repr=False)  # the cluster layout's text
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())

    def variant(self, layout: Layout) -> LuaScript:
        """The text for `layout`: in a cluster, key names are built from the hash tag of KEYS[1]."""
        return self.clustered if layout.cluster and self.clustered is not None else self

    def check(self, passed: Sequence[Any]) -> None:
        if self.keys is not None and len(passed) != self.keys:
            raise ScriptCallError(f"{self.name} takes {self.keys} keys (see its header), {len(passed)} were passed")


def load(name: str) -> LuaScript:
    """`lua/<name>.lua` with its includes and prefixes filled in."""
    source = (_LUA / f"{name}.lua").read_text()
    header = source.split("\n\n", 1)[0]
    numbers = [int(n) for n in _KEY_LINE.findall(header)]
    if numbers != list(range(1, len(numbers) + 1)) and "-- KEYS    none" not in header:
        raise ValueError(f"{name}.lua: the header must list KEYS[1]..KEYS[n] in order, or say `KEYS    none`")
    default = _assemble(source, "prefixes")
    clustered = LuaScript(_assemble(source, "cluster_prefixes"), name, len(numbers))
    return LuaScript(default, name, len(numbers), clustered)


def _assemble(source: str, prefixes: str) -> str:
    """The source with its includes pulled in, `prefixes` standing for the prefixes include."""

    def include(match: re.Match[str]) -> str:
        name = prefixes if match[1] == "prefixes" else match[1]
        return (_LUA / "include" / f"{name}.lua").read_text()

    return _PLACEHOLDER.sub(lambda m: _PREFIXES[m[1]], _INCLUDE.sub(include, source))


def names() -> list[str]:
    """Every script there is a file for."""
    return sorted(p.name.removesuffix(".lua") for p in _LUA.iterdir() if p.name.endswith(".lua"))


async def run(
    redis: Redis | RedisCluster, script: LuaScript, keys: Sequence[Any], args: Sequence[Any], layout: Layout = DEFAULT
) -> Any:
    """EVALSHA through redis-py (the colder scripts; the hot ones go through `script_link`), of
    the script's text for `layout`."""
    script.check(keys)
    script = script.variant(layout)
    if layout.cluster:
        keys = [*keys, migration_guard(keys[0])]
    try:
        return await redis.evalsha(script.sha, len(keys), *keys, *args)  # type: ignore[misc]
    except NoScriptError:  # Redis restarted or its scripts were flushed
        await redis.script_load(script.text)
        return await redis.evalsha(script.sha, len(keys), *keys, *args)  # type: ignore[misc]


ENQUEUE = load("enqueue")
SETTLE_AND_CLAIM = load("settle_and_claim")
FINISH = load("finish")
RELEASE = load("release")
RENEW_LOCKS = load("renew_locks")
RETRY_FAILED = load("retry_failed")
REMOVE = load("remove")
ENQUEUE_KEYED = load("enqueue_keyed")
SCHEDULE_UPSERT = load("schedule_upsert")
SCHEDULE_REMOVE = load("schedule_remove")
SCHEDULES_DUE = load("schedules_due")
SCHEDULE_FIRE = load("schedule_fire")
CANCEL = load("cancel")
SETTLE_CANCELLED = load("settle_cancelled")

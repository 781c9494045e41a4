"""The Lua scripts: every file loads into a real Redis, and every call passes the keys its header documents."""

from __future__ import annotations

import re

import pytest
from redis.asyncio import Redis

from jobs.store import keys, scripts
from jobs.store.script_link import ScriptLink

from .processes import ROOT

CALL_SITES = re.compile(
    r"scripts\.run\(\s*[^,]+,\s*scripts\.(\w+),|link\.call\(\s*scripts\.(\w+),|conn\.run\(\s*scripts\.(\w+),"
)


def test_every_lua_file_is_a_script_of_the_module_and_opens_with_its_keys_argv_and_reply() -> None:
    """One module constant per file; each header names KEYS (or `none`), ARGV and what it returns."""
    loaded = {name for name, value in vars(scripts).items() if isinstance(value, scripts.LuaScript)}
    assert {name.lower() for name in loaded} == set(scripts.names())
    for name in scripts.names():
        header = (ROOT / "jobs" / "store" / "lua" / f"{name}.lua").read_text().split("\n\n", 1)[0]
        assert header.startswith(f"-- {name.upper()}: "), name
        assert "-- KEYS[1] " in header or "-- KEYS    none" in header, name
        assert "-- ARGV " in header and "-- Returns " in header, name


async def test_every_script_compiles_in_redis_as_loaded(redis: Redis) -> None:
    """SCRIPT LOAD each one (includes and prefixes filled in), in both layouts: Redis gives back the
    SHA we call it by."""
    for name in scripts.names():
        script = scripts.load(name)
        for variant in (script.variant(keys.DEFAULT), script.variant(keys.CLUSTER)):
            assert "--!include" not in variant.text and "${" not in variant.text, name
            assert await redis.script_load(variant.text) == variant.sha, name
        clustered = script.variant(keys.CLUSTER)
        builds_keys = "local TAG = string.match(KEYS[1]" in clustered.text  # key names from the hash tag
        assert (clustered.sha != script.sha) == builds_keys, name


def test_every_call_site_names_a_script_whose_header_it_can_be_checked_against() -> None:
    """Each call in the library goes through a checked path (`scripts.run` or `ScriptLink.call`),
    for a script that exists; none goes around them (redis-py's register_script or EVAL*)."""
    called: set[str] = set()
    for path in (ROOT / "jobs").rglob("*.py"):
        text = path.read_text()
        checked_first = path.name in ("scripts.py", "cluster_link.py")  # both call `script.check` first
        assert ("register_script" not in text and ".evalsha(" not in text) or checked_first, path
        for run, link, conn_run in CALL_SITES.findall(text):
            called.add(run or link or conn_run)
    known = {name.upper() for name in scripts.names()}
    assert called <= known and called == known, (called, known)


async def test_a_call_with_another_number_of_keys_is_refused_before_reaching_redis(redis: Redis) -> None:
    """Both checked paths raise ScriptCallError naming the script and the documented count."""
    with pytest.raises(scripts.ScriptCallError, match="remove takes 4 keys"):
        await scripts.run(redis, scripts.REMOVE, ["a", "b"], ["id"])
    link = ScriptLink(redis, 5.0)
    try:
        with pytest.raises(scripts.ScriptCallError, match=r"enqueue takes 5 keys \(see its header\), 1 were passed"):
            await link.call(scripts.ENQUEUE, ["a"], [])
    finally:
        await link.close()

"""At start a worker warns once when Redis may evict keys (`redis.eviction_policy`): under any
`maxmemory-policy` but `noeviction`, Redis at its memory limit deletes jobs without a trace. A
Redis that refuses CONFIG (a managed one) gets a warning that it could not be checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.settings import load_settings
from jobs.worker import Worker

from .cluster_setup import redis_cluster
from .processes import ARQ, parse_json_lines, process_env, run_to_exit
from .redis_server import redis_server


async def _burst(url: str, queue: str) -> None:
    settings = load_settings(redis_url=url, jobs_shutdown_timeout=2.0)
    await Worker(queues=[queue], settings=settings, burst=True, handle_signals=False).run()


def _warnings(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "redis.eviction_policy"]


async def test_a_worker_warns_once_when_redis_may_evict_jobs(
    tmp_path: Path, queue: str, logs: list[dict[str, Any]]
) -> None:
    with redis_server(tmp_path / "redis", "--maxmemory-policy", "allkeys-lru") as server:
        await _burst(server.admin_url, queue)
    [warning] = _warnings(logs)
    assert warning["log_level"] == "warning" and warning["policy"] == "allkeys-lru"
    assert "silently" in warning["message"]


async def test_no_warning_under_noeviction(tmp_path: Path, queue: str, logs: list[dict[str, Any]]) -> None:
    with redis_server(tmp_path / "redis", "--maxmemory-policy", "noeviction") as server:
        await _burst(server.admin_url, queue)
    assert _warnings(logs) == []
    assert any(e["event"] == "worker.stopped" for e in logs), "the worker ran"


async def test_a_redis_that_refuses_config_gets_a_warning_that_it_could_not_be_checked(
    tmp_path: Path, queue: str, logs: list[dict[str, Any]]
) -> None:
    with redis_server(tmp_path / "redis", "--rename-command", "CONFIG", "") as server:
        await _burst(server.admin_url, queue)
    [warning] = _warnings(logs)
    assert warning["log_level"] == "warning" and warning["policy"] == "unknown"
    assert "could not read maxmemory-policy" in warning["message"]


@pytest.mark.slow
async def test_in_a_cluster_each_primary_is_checked(tmp_path: Path, queue: str, logs: list[dict[str, Any]]) -> None:
    with redis_cluster(tmp_path / "cluster") as cluster:
        evicting = cluster.servers[1]
        with cluster.client(evicting) as node:
            node.config_set("maxmemory-policy", "volatile-lru")
        await _burst(cluster.url, queue)
    [warning] = _warnings(logs)
    assert warning["policy"] == "volatile-lru" and warning["node"] == f"127.0.0.1:{evicting.port}"


async def test_arqs_worker_warns_too(tmp_path: Path, queue: str) -> None:
    with redis_server(tmp_path / "redis", "--maxmemory-policy", "allkeys-random") as server:
        done = run_to_exit([*ARQ, "--burst"], process_env(queue, REDIS_URL=server.admin_url))
    assert done.returncode == 0, done.output
    [warning] = [e for e in parse_json_lines(done.stdout) if e["event"] == "redis.eviction_policy"]
    assert warning["policy"] == "allkeys-random"

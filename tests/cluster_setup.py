"""A private Redis Cluster for the cluster tests: three primaries on free ports, no replicas.

Made with `redis-cli --cluster create`, as an operator would; `move_slot` moves one slot with its
keys to another primary (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), the steps
`redis-cli --cluster reshard` takes, so a test can reshard under a running worker.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from .redis_server import RedisServer, redis_server

CLUSTER_OPTIONS = ("--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--appendonly", "no")


@dataclass
class Cluster:
    servers: list[RedisServer]

    @property
    def url(self) -> str:
        """The URL the library is given: two of the nodes (any one that answers is enough)."""
        nodes = ",".join(f"127.0.0.1:{s.port}" for s in self.servers[:2])
        return f"redis+cluster://{nodes}"

    def client(self, server: RedisServer) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)

    def node_ids(self) -> dict[int, str]:
        """Port -> node id."""
        found = {}
        for server in self.servers:
            with contextlib.closing(self.client(server)) as client:
                found[server.port] = client.execute_command("CLUSTER MYID").decode()
        return found

    def owner(self, slot: int) -> RedisServer:
        with contextlib.closing(self.client(self.servers[0])) as client:
            for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return next(s for s in self.servers if s.port == int(primary[1]))
        raise AssertionError(f"no node serves slot {slot}")

    def keyslot(self, key: str) -> int:
        with contextlib.closing(self.client(self.servers[0])) as client:
            return int(client.execute_command("CLUSTER KEYSLOT", key))

    def move_slot(self, slot: int, target: RedisServer) -> None:
        """Move `slot` and its keys to `target`, then tell every node."""
        source = self.owner(slot)
        assert source.port != target.port, "the slot is on the target already"
        ids = self.node_ids()
        with contextlib.closing(self.client(source)) as src, contextlib.closing(self.client(target)) as dst:
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source.port])
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target.port])
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            for server in (target, source, *(s for s in self.servers if s.port not in (source.port, target.port))):
                with contextlib.closing(self.client(server)) as client:
                    client.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target.port])
        self.wait_until_agreed()

    def flush(self) -> None:
        for server in self.servers:
            with contextlib.closing(self.client(server)) as client:
                client.flushall()

    def keys_per_node(self) -> dict[int, int]:
        found = {}
        for server in self.servers:
            with contextlib.closing(self.client(server)) as client:
                found[server.port] = int(client.dbsize())
        return found

    def wait_until_agreed(self, timeout: float = 20.0) -> None:
        """Every node says the cluster is ok and agrees on who serves each slot."""
        deadline = time.monotonic() + timeout
        while True:
            views = []
            for server in self.servers:
                with contextlib.closing(self.client(server)) as client:
                    state = client.execute_command("CLUSTER INFO")  # parsed by redis-py
                    slots = sorted((s[0], s[1], s[2][1]) for s in client.execute_command("CLUSTER SLOTS"))
                    views.append((state.get("cluster_state") == "ok", slots))
            if all(ok for ok, _ in views) and all(v[1] == views[0][1] for v in views):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster did not agree within {timeout}s: {views}")
            time.sleep(0.05)


def cluster_port() -> int:
    """A free port of at most 55535 whose cluster bus port (10000 higher) is free too."""
    for _ in range(1000):
        port = random.randint(20000, 55535)
        if all(_free(p) for p in (port, port + 10000)):
            return port
    raise AssertionError("no free pair of ports for a cluster node")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def redis_cluster(directory: Path, primaries: int = 3) -> Iterator[Cluster]:
    """A cluster of `primaries` private redis-servers, stopped on the way out."""
    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(redis_server(directory / f"node-{index}", *CLUSTER_OPTIONS, port=cluster_port()))
            for index in range(primaries)
        ]
        addresses = [f"127.0.0.1:{s.port}" for s in servers]
        made = subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        cluster = Cluster(servers)
        cluster.wait_until_agreed()
        yield cluster

"""A private Sentinel deployment for the failover tests: one master, one replica, three sentinels.

Each is a `redis-server` on a free port (the sentinels run `redis-server <file> --sentinel` with
a config file in the test's directory, which Sentinel rewrites as it learns). The sentinels
agree (quorum 2) that a master is down after `DOWN_AFTER_MS` without answers, then promote the
replica: a failover takes a few seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from .processes import closed_port
from .redis_server import RedisServer, redis_server

SERVICE = "jobs-test"
DOWN_AFTER_MS = 1000
SENTINELS = 3
QUICK_SYNC = ("--repl-diskless-sync-delay", "0")  # a replica syncs at once, not after 5 s


def wait_until_in_sync(master: RedisServer, timeout: float = 10.0) -> None:
    """Until `master`'s replica is online (its first sync done): WAIT counts only such replicas."""
    deadline = time.monotonic() + timeout
    while not _is_master_with_replica(master.port, master.password):
        assert time.monotonic() < deadline, f"no replica of {master.port} came in sync within {timeout}s"
        time.sleep(0.02)


@dataclass
class SentinelProcess:
    port: int
    directory: Path
    password: str | None = None  # its own (requirepass)
    master_password: str | None = None  # the data nodes' (auth-pass)
    process: subprocess.Popen[bytes] | None = None

    def start(self, master_port: int) -> None:
        config = self.directory / "sentinel.conf"
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {self.directory}",
            f"logfile {self.directory / 'sentinel.log'}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} 5000",
            f"sentinel parallel-syncs {SERVICE} 1",
        ]
        if self.master_password is not None:
            lines.append(f"sentinel auth-pass {SERVICE} {self.master_password}")
        if self.password is not None:
            lines.append(f"requirepass {self.password}")  # and the other sentinels ask with it too
            lines.append(f"sentinel sentinel-pass {self.password}")
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2, socket_connect_timeout=2
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@dataclass
class SentinelDeployment:
    master: RedisServer
    replica: RedisServer
    sentinels: list[SentinelProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """What the library is given: every sentinel, the service, database 0 (and the master's password)."""
        nodes = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        auth = f":{self.master.password}@" if self.master.password else ""
        return f"redis+sentinel://{auth}{nodes}/{SERVICE}/0"

    def servers(self) -> list[RedisServer]:
        return [self.master, self.replica]

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers says."""
        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError), contextlib.closing(sentinel.client()) as client:
                address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                if address:
                    return int(address[1])
        raise AssertionError("no sentinel answers")

    def current_master(self) -> RedisServer:
        port = self.master_port()
        return next(s for s in self.servers() if s.port == port)

    def current_replica(self) -> RedisServer:
        port = self.master_port()
        return next(s for s in self.servers() if s.port != port)

    def failover(self) -> None:
        """SENTINEL FAILOVER, as an operator would for maintenance; returns once it is done."""
        before = self.master_port()
        with contextlib.closing(self.sentinels[0].client()) as client:
            client.execute_command("SENTINEL", "FAILOVER", SERVICE)
        self.wait_for_master(lambda port: port != before)

    def agreed_master(self) -> int | None:
        """The master's port if every sentinel names the same one, else None."""
        ports = set()
        for sentinel in self.sentinels:
            try:
                with contextlib.closing(sentinel.client()) as client:
                    address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            except redis.RedisError:
                return None
            ports.add(int(address[1]) if address else None)
        found = ports.pop() if len(ports) == 1 else None
        return found

    def wait_for_master(self, condition: Callable[[int], bool] | None = None, timeout: float = 30.0) -> int:
        """Wait until every sentinel names the same master (one `condition(port)` accepts, if
        given) and that server says it is a master with a replica in sync."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.agreed_master()
            ready = port is not None and _is_master_with_replica(port, self.master.password)
            if port is not None and ready and (condition is None or condition(port)):
                return port
            if time.monotonic() > deadline:
                raise AssertionError(f"the sentinels did not agree on a master within {timeout}s")
            time.sleep(0.05)

    def wait_until_monitored(self, timeout: float = 30.0) -> None:
        """Every sentinel knows the replica and the other sentinels (a failover needs both)."""
        deadline = time.monotonic() + timeout
        while True:
            ready = 0
            for sentinel in self.sentinels:
                with contextlib.suppress(redis.RedisError), contextlib.closing(sentinel.client()) as client:
                    master = client.sentinel_master(SERVICE)
                    if master["num-slaves"] >= 1 and master["num-other-sentinels"] >= SENTINELS - 1:
                        ready += 1
            if ready == len(self.sentinels):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the sentinels did not see each other and the replica within {timeout}s")
            time.sleep(0.1)


def redis_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, password=server.password, socket_timeout=5)


def _is_master_with_replica(port: int, password: str | None = None) -> bool:
    client = redis.Redis(port=port, password=password, socket_timeout=2)
    with contextlib.suppress(redis.RedisError), contextlib.closing(client):
        info = client.info("replication")
        replica = info.get("slave0")
        return info.get("role") == "master" and isinstance(replica, dict) and replica.get("state") == "online"
    return False


@contextlib.contextmanager
def redis_sentinel(
    directory: Path, *master_options: str, password: str | None = None, sentinel_password: str | None = None
) -> Iterator[SentinelDeployment]:
    """A master, its replica and three sentinels watching them, stopped on the way out; `password`
    is the data nodes' (requirepass and masterauth), `sentinel_password` the sentinels' own."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with contextlib.ExitStack() as stack:
        options = (*QUICK_SYNC, *(("--masterauth", password) if password else ()), *master_options)
        master = stack.enter_context(redis_server(directory / "master", *options, password=password))
        replica = stack.enter_context(
            redis_server(
                directory / "replica", "--replicaof", "127.0.0.1", str(master.port), *options, password=password
            )
        )
        deployment = SentinelDeployment(master, replica)
        for index in range(SENTINELS):
            sentinel_dir = directory / f"sentinel-{index}"
            sentinel_dir.mkdir(parents=True)
            sentinel = SentinelProcess(closed_port(), sentinel_dir, sentinel_password, password)
            stack.callback(sentinel.stop)
            sentinel.start(master.port)
            deployment.sentinels.append(sentinel)
        deployment.wait_for_master()
        deployment.wait_until_monitored()
        yield deployment

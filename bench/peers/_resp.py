"""A tiny, dependency-free Redis client used only for benchmark housekeeping.

Peer scripts run in venvs whose Redis clients differ (redis-py 5/7/8, coredis),
and the runner runs on the bare system Python, so cleanup and ``INFO`` go through
this minimal blocking RESP2 client instead.  It is never on a measured path.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlparse

#: Bench data may only live in these Redis logical databases (db 0 is never touched).
ALLOWED_DBS = range(10, 16)

RespValue = bytes | int | list["RespValue"] | None


class RespError(RuntimeError):
    """An error reply from Redis."""


@dataclass(frozen=True)
class RedisTarget:
    """Host, port and logical DB parsed from a ``redis://host:port/db`` URL."""

    host: str
    port: int
    db: int
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        """Parse a ``redis://`` URL; the DB defaults to 0 when absent."""
        parsed = urlparse(url)
        if parsed.scheme != "redis":
            raise ValueError(f"only redis:// URLs are supported by the bench, got {url!r}")
        path = parsed.path.lstrip("/")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int(path) if path else 0,
            password=parsed.password,
        )


class MiniRedis:
    """Blocking RESP2 client: ``command(*args)`` and a few helpers."""

    def __init__(self, target: RedisTarget, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((target.host, target.port), timeout=timeout)
        self._buf = self._sock.makefile("rb")
        if target.password:
            self.command("AUTH", target.password)
        if target.db:
            self.command("SELECT", str(target.db))
        self.db = target.db

    def close(self) -> None:
        """Close the connection."""
        self._buf.close()
        self._sock.close()

    def __enter__(self) -> MiniRedis:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def command(self, *args: str) -> RespValue:
        """Send one command and return its decoded reply."""
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(parts))
        return self._read()

    def _read(self) -> RespValue:
        line = self._buf.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body
        if kind == b"-":
            raise RespError(body.decode(errors="replace"))
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = self._buf.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(body)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise RespError(f"unexpected RESP reply {line!r}")

    def dbsize(self) -> int:
        """Number of keys in the selected DB."""
        reply = self.command("DBSIZE")
        assert isinstance(reply, int)
        return reply

    def info(self, section: str = "server") -> dict[str, str]:
        """``INFO <section>`` parsed into a dict."""
        reply = self.command("INFO", section)
        assert isinstance(reply, bytes)
        out: dict[str, str] = {}
        for raw in reply.decode().splitlines():
            if ":" in raw and not raw.startswith("#"):
                key, _, value = raw.partition(":")
                out[key] = value
        return out

    def flush_bench_db(self) -> int:
        """Empty the selected bench DB (10-15 only) and return how many keys it held."""
        if self.db not in ALLOWED_DBS:
            raise RuntimeError(f"refusing to flush Redis db {self.db}: bench DBs are {ALLOWED_DBS.start}-15")
        before = self.dbsize()
        self.command("FLUSHDB")
        return before


def flush_bench_db(url: str) -> int:
    """Connect, empty the bench DB named by ``url`` and return the number of keys removed."""
    with MiniRedis(RedisTarget.from_url(url)) as client:
        return client.flush_bench_db()


def redis_server_info(url: str) -> dict[str, str]:
    """``INFO server`` of the Redis named by ``url``."""
    with MiniRedis(RedisTarget.from_url(url)) as client:
        return client.info("server")


def redis_cpu_seconds(url: str) -> float:
    """The Redis server's own CPU time so far (`used_cpu_user + used_cpu_sys`, `INFO cpu`)."""
    with MiniRedis(RedisTarget.from_url(url)) as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

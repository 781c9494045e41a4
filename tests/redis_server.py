"""A private `redis-server` on a free port, for tests that stop, restart or reconfigure Redis.

The shared test Redis must never be restarted (other people's tests use it), so a fault test
starts its own: with AOF persistence to survive a restart, a password and ACL users, or TLS
with a certificate made at test time by `openssl`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from redis.exceptions import AuthenticationError, BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from .processes import closed_port

AOF = ("--appendonly", "yes", "--appendfsync", "always")


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> TlsFiles:
    """A CA and a server certificate made with `openssl` (EC keys: fast), valid one day."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=jobs-test-ca"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            extensions,
        ],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True, timeout=30)
    return TlsFiles(ca=ca, cert=cert, key=key)


@dataclass
class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep its port and data directory."""

    directory: Path
    options: Sequence[str] = ()
    password: str | None = None  # of the default user, for `admin_url`
    tls: TlsFiles | None = None
    port: int = field(default_factory=closed_port)
    process: subprocess.Popen[bytes] | None = None

    def url(self, *, user: str = "", password: str | None = None, query: str = "") -> str:
        """A client URL: `redis://` or, with TLS, `rediss://` verifying the test CA."""
        auth = f"{quote(user)}:{quote(password, safe='')}@" if password is not None else ""
        if self.tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0" + (f"?{query}" if query else "")
        query = query or f"ssl_ca_certs={self.tls.ca}"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?{query}"

    @property
    def admin_url(self) -> str:
        return self.url(password=self.password)

    def start(self, timeout: float = 10.0) -> None:
        """Start it and wait until it answers PING (after loading its AOF, if any)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert)]
            listen += ["--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca)]
            listen += ["--tls-auth-clients", "no"]
        command = ["redis-server", "--bind", "127.0.0.1", *listen, "--dir", str(self.directory), "--save", ""]
        command += ["--logfile", str(self.directory / "redis.log"), *self.options]
        with open(self.directory / "redis.stderr", "ab") as stderr:  # the child keeps its own descriptor
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        self._wait_until_ready(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """A clean shutdown (SIGTERM): with AOF every acknowledged write is on disk."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"redis-server did not stop within {timeout}s") from None

    def info(self, section: str) -> dict[str, object]:
        client = redis.Redis.from_url(self.admin_url)
        try:
            info: dict[str, object] = client.info(section)  # type: ignore[assignment]
            return info
        finally:
            client.close()

    def _wait_until_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.admin_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    output = "".join(
                        (self.directory / name).read_text(errors="replace")[-2000:]
                        for name in ("redis.stderr", "redis.log")
                        if (self.directory / name).exists()
                    )
                    raise AssertionError(f"redis-server exited with {self.process.returncode}: {output}")
                try:
                    if client.ping():
                        return
                except (RedisConnectionError, BusyLoadingError, OSError):
                    pass
                except (AuthenticationError, ResponseError) as exc:
                    raise AssertionError(f"redis-server refused the admin connection: {exc}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server on port {self.port} not ready within {timeout}s")
                time.sleep(0.02)
        finally:
            client.close()


@contextmanager
def redis_server(
    directory: Path, *options: str, password: str | None = None, tls: TlsFiles | None = None, port: int | None = None
) -> Iterator[RedisServer]:
    """Run a private redis-server for the block; stopped (killed if it hangs) on the way out."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    if password is not None:
        options = ("--requirepass", password, *options)
    server = RedisServer(directory, options, password=password, tls=tls)
    if port is not None:
        server.port = port
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait(5)

"""Redis with a password, a least-privilege ACL user, and TLS: the worker process and triggers work,
and no password ever shows in a log line or an error message.

TLS URLs use redis-py's query parameters: `rediss://host:port/0?ssl_ca_certs=/path/ca.crt` verifies
the server against a private CA (add `&ssl_check_hostname=true` to check its name too), and
`?ssl_cert_reqs=none` encrypts without verifying (tests only).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs import RedisUnavailableError
from jobs.settings import get_settings

from .fault_support import fault_env, has_logged, report, triggering_into
from .helpers import wait_until
from .processes import WORKER, remote_job, run_to_exit, worker_process
from .redis_server import RedisServer, TlsFiles, make_certificates, redis_server

PASSWORD = "s3cret-default-pw"
ACL_PASSWORD = "w0rker-acl-pw"
# The worker needs its keys (arq:*, jobs:*), its wake-up and hand-off channels, scripts and pub/sub;
# nothing dangerous.
ACL = ("--user", "worker", "on", f">{ACL_PASSWORD}", "~arq:*", "~jobs:*", "&jobs:wake:*", "&jobs:handoff:*")
ACL += ("+@all", "-@dangerous")
SECRETS = (PASSWORD, ACL_PASSWORD, "wr0ng-pw")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis", *ACL, password=PASSWORD) as running:
        yield running


@pytest.fixture
def tls_server(tmp_path: Path, tls: TlsFiles) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis", *ACL, password=PASSWORD, tls=tls) as running:
        yield running


async def _round_trip(url: str, queue: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Trigger a job at `url`, run it in a worker process at `url`, stop it; returns all it printed."""
    _trigger_at(url, monkeypatch)
    with worker_process(fault_env(queue, url)) as worker:
        await wait_until(lambda: has_logged(worker, "worker.ready"), timeout=15, what="worker.ready")
        handle = await remote_job("fault.echo", queue).trigger({"over": "the wire"})
        assert await handle.result(timeout=10) == {"over": "the wire"}
        worker.send(signal.SIGTERM)
        assert await worker.exit_code(timeout=10) == 0
    worker.events()  # every stdout line is JSON
    assert not has_logged(worker, "worker.subscription_failed"), worker.output  # wake-ups and hand-offs work
    return worker.output


def _trigger_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    get_settings.cache_clear()


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a password shows: {text[:2000]}"


@pytest.mark.parametrize("user", ["default", "acl"])
async def test_a_password_or_an_acl_user_works_and_never_shows(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch, user: str
) -> None:
    """The default user's password and an ACL user limited to the library's keys both run jobs end to end."""
    url = server.url(password=PASSWORD) if user == "default" else server.url(user="worker", password=ACL_PASSWORD)
    output = await _round_trip(url, queue, monkeypatch)
    _assert_no_secret(output)
    report(f"auth-{user}", worked=True, password_in_output=False)


async def test_a_unix_socket_url_works_for_triggers_and_the_worker(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`unix:///path?db=N`: redis-py refuses TCP-only options for it, so none is passed."""
    socket_path = tmp_path / "r.sock"
    with redis_server(tmp_path / "redis", "--unixsocket", str(socket_path), "--unixsocketperm", "700"):
        await _round_trip(f"unix://{socket_path}?db=3", queue, monkeypatch)


async def test_an_acl_without_the_hand_off_channels_is_reported_and_jobs_still_run(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SUBSCRIBE is refused (NOPERM): the worker says so, once, and its queue falls back to polling."""
    narrow = ("--user", "narrow", "on", f">{ACL_PASSWORD}", "~arq:*", "~jobs:*", "&jobs:wake:*", "+@all")
    with redis_server(tmp_path / "redis", *narrow, password=PASSWORD) as running:
        url = running.url(user="narrow", password=ACL_PASSWORD)
        _trigger_at(url, monkeypatch)
        with worker_process(fault_env(queue, url)) as worker:
            await wait_until(lambda: has_logged(worker, "worker.subscription_failed"), timeout=15, what="the refusal")
            handle = await remote_job("fault.echo", queue).trigger({"polled": True})
            assert await handle.result(timeout=10) == {"polled": True}
            worker.send(signal.SIGTERM)
            assert await worker.exit_code(timeout=10) == 0
        (refusal, *_) = worker.named("worker.subscription_failed")
        assert "NOPERM" in refusal["error"] and refusal["level"] == "warning", refusal
        _assert_no_secret(worker.output)


@pytest.mark.parametrize("verify", ["ca", "none"], ids=["verified-by-ca", "ssl_cert_reqs-none"])
async def test_rediss_with_a_test_certificate_works_for_triggers_and_the_worker(
    tls_server: RedisServer, tls: TlsFiles, queue: str, monkeypatch: pytest.MonkeyPatch, verify: str
) -> None:
    """TLS only (no plain port), with the ACL user's password inside the encrypted session."""
    query = f"ssl_ca_certs={tls.ca}&ssl_check_hostname=true" if verify == "ca" else "ssl_cert_reqs=none"
    url = tls_server.url(user="worker", password=ACL_PASSWORD, query=query)
    assert url.startswith("rediss://")
    output = await _round_trip(url, queue, monkeypatch)
    _assert_no_secret(output)
    report(f"tls-{verify}", worked=True, password_in_output=False)


async def test_a_wrong_password_fails_fast_in_one_line_without_any_password(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger raises RedisUnavailableError with the URL redacted; the worker exits 1 with one line."""
    url = server.url(user="worker", password="wr0ng-pw")
    async with triggering_into(server, monkeypatch):
        _trigger_at(url, monkeypatch)
        with pytest.raises(
            RedisUnavailableError, match=r"worker:\*\*\*@127\.0\.0\.1.*invalid username-password"
        ) as info:
            await remote_job("fault.echo", queue).trigger({})
    _assert_no_secret(str(info.value))
    done = run_to_exit(WORKER, fault_env(queue, url, JOBS_CONNECT_TIMEOUT="1"))
    assert done.returncode == 1 and "invalid username-password" in done.stderr, done.output
    _assert_no_secret(done.output)


async def test_an_untrusted_certificate_fails_fast_with_the_reason(
    tls_server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rediss:// without the CA: the handshake fails verification, reported at once, password hidden."""
    url = tls_server.url(user="worker", password=ACL_PASSWORD, query="ssl_cert_reqs=required")
    _trigger_at(url, monkeypatch)
    with pytest.raises(RedisUnavailableError, match="certificate verify failed") as info:
        await remote_job("fault.echo", queue).trigger({})
    _assert_no_secret(str(info.value))
    done = run_to_exit(WORKER, fault_env(queue, url, JOBS_CONNECT_TIMEOUT="1"))
    assert done.returncode == 1 and "certificate verify failed" in done.stderr, done.output
    _assert_no_secret(done.output)

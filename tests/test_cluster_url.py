"""`REDIS_URL=redis+cluster://...`: what it may say, and the one-line errors for what it may not."""

from __future__ import annotations

import pytest

from jobs.cluster_url import parse_cluster_url
from jobs.settings import SettingsError, load_settings


def test_seed_nodes_credentials_tls_and_options_are_read() -> None:
    parsed = parse_cluster_url("rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001,cache?ssl_cert_reqs=none")
    assert parsed.nodes == (("10.0.0.1", 7000), ("::1", 7001), ("cache", 6379))
    assert parsed.tls
    assert parsed.options["username"] == "app" and parsed.options["password"] == "p@ss"
    assert parsed.options["ssl_cert_reqs"] == "none"
    assert "db" not in parsed.options


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://", "at least one node"),
        ("redis+cluster://host:70000", "port must be a number from 1 to 65535, got '70000'"),
        ("redis+cluster://host:abc", "got 'abc'"),
        ("redis+cluster://host:7000/3", "only database 0"),
        ("redis+cluster://host:7000?db=2", "only database 0"),
        ("redis+cluster://host:7000?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_a_bad_cluster_url_is_one_line_naming_redis_url(
    monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert text.startswith("invalid setting REDIS_URL=") and message in text and "\n" not in text


def test_the_password_of_a_bad_cluster_url_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+cluster://app:s3cret@a:7000,b:99999")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "s3cret" not in str(info.value) and "app:***@a:7000,b:99999" in str(info.value)


def test_a_good_cluster_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    assert load_settings().redis_url == "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"

"""`REDIS_URL=redis+sentinel://...` and the settings that go with it: what they may say, and the
one-line errors for what they may not."""

from __future__ import annotations

import pytest

from jobs.sentinel_url import parse_sentinel_url
from jobs.settings import SettingsError, load_settings


def test_sentinels_service_database_credentials_and_options_are_read() -> None:
    parsed = parse_sentinel_url(
        "rediss+sentinel://app:p%40ss@10.0.0.1:26379,[::1]:26380,s3/mymaster/2?ssl_cert_reqs=none"
    )
    assert parsed.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("s3", 6379))
    assert parsed.service == "mymaster" and parsed.db == 2 and parsed.tls
    assert parsed.options["username"] == "app" and parsed.options["password"] == "p@ss"
    assert parsed.options["ssl_cert_reqs"] == "none" and "db" not in parsed.options


def test_the_database_defaults_to_0_and_may_come_from_the_query() -> None:
    assert parse_sentinel_url("redis+sentinel://h:26379/mymaster").db == 0
    assert parse_sentinel_url("redis+sentinel://h:26379/mymaster?db=3").db == 3
    assert not parse_sentinel_url("redis+sentinel://h:26379/mymaster").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://", "at least one sentinel"),
        ("redis+sentinel://h:26379", "service name"),
        ("redis+sentinel://h:26379/", "service name"),
        ("redis+sentinel://h:70000/mymaster", "port must be a number from 1 to 65535, got '70000'"),
        ("redis+sentinel://h:26379/mymaster/x", "must be a number such as /0, got 'x'"),
        ("redis+sentinel://h:26379/mymaster?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_a_bad_sentinel_url_is_one_line_naming_redis_url(
    monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert text.startswith("invalid setting REDIS_URL=") and message in text and "\n" not in text


def test_the_password_of_a_bad_sentinel_url_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+sentinel://app:s3cret@a:26379,b:99999/mymaster")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "s3cret" not in str(info.value)


def test_a_good_sentinel_url_and_wait_settings_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0")
    monkeypatch.setenv("JOBS_SENTINEL_PASSWORD", "sentinel-secret")
    monkeypatch.setenv("JOBS_WAIT_REPLICAS", "1")
    monkeypatch.setenv("JOBS_WAIT_REPLICAS_TIMEOUT_MS", "250")
    settings = load_settings()
    assert settings.redis_url.startswith("redis+sentinel://")
    assert settings.jobs_sentinel_password is not None
    assert settings.jobs_sentinel_password.get_secret_value() == "sentinel-secret"
    assert (settings.jobs_wait_replicas, settings.jobs_wait_replicas_timeout_ms) == (1, 250)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JOBS_WAIT_REPLICAS", "-1"),
        ("JOBS_WAIT_REPLICAS", "some"),
        ("JOBS_WAIT_REPLICAS_TIMEOUT_MS", "0"),
        ("JOBS_WAIT_REPLICAS_TIMEOUT_MS", "60000"),
    ],
)
def test_a_bad_wait_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith(f"invalid setting {variable}=")


def test_the_sentinel_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBS_SENTINEL_PASSWORD", "sentinel-secret")
    assert "sentinel-secret" not in repr(load_settings())

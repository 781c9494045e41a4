"""Settings come from the environment and `.env`; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import Settings, SettingsError, load_settings


def test_defaults_run_against_a_local_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, the worker runs every queue one job at a time against localhost."""
    for name in ("REDIS_URL", "JOBS_CONCURRENCY", "LOG_FORMAT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://localhost:6379/0"
    assert (settings.jobs_concurrency, settings.jobs_keep_completed, settings.jobs_keep_failed) == (1, 1000, 1000)
    assert settings.jobs_shutdown_timeout == 10.0 and settings.database_url is None


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Comma lists and queue=number pairs are parsed; formats are case-insensitive."""
    monkeypatch.setenv("JOBS_MODULES", "app.emails, app.billing")
    monkeypatch.setenv("JOBS_QUEUE_CONCURRENCY", "emails=4, reports=2")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db:5432/app")
    settings = load_settings()
    assert settings.jobs_modules == ("app.emails", "app.billing")
    assert settings.concurrency_for("emails") == 4 and settings.concurrency_for("other") == 1
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert settings.database_url == "postgresql://app:pw@db:5432/app"


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env` fills in what the environment does not set."""
    (tmp_path / ".env").write_text("JOBS_CONCURRENCY=3\nJOBS_KEEP_FAILED=7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOBS_KEEP_FAILED", "9")
    monkeypatch.delenv("JOBS_CONCURRENCY", raising=False)
    settings = load_settings()
    assert (settings.jobs_concurrency, settings.jobs_keep_failed) == (3, 9)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", "nope"),
        ("REDIS_URL", "http://localhost:6379"),
        ("REDIS_URL", "redis://127.0.0.1:abc/0"),
        ("REDIS_URL", "redis://127.0.0.1:70000/0"),
        ("REDIS_URL", "redis://127.0.0.1:0/0"),
        ("REDIS_URL", "redis://127.0.0.1:6379/zero"),
        ("REDIS_URL", "unix:///tmp/redis.sock?db=x"),
        ("DATABASE_URL", "not a url"),
        ("JOBS_CONCURRENCY", "0"),
        ("JOBS_CONCURRENCY", "many"),
        ("JOBS_QUEUE_CONCURRENCY", "emails=zero"),
        ("JOBS_KEEP_COMPLETED", "-1"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("JOBS_SHUTDOWN_TIMEOUT", "soon"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    """The error says which variable and what was wrong, in one line."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid setting ") and variable in message and "\n" not in message


def test_a_password_in_a_bad_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error shows the URL with its password masked."""
    monkeypatch.setenv("REDIS_URL", "http://user:s3cret@host:6379")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud"), ("LOG_LEVEL", "Verbose")]
)
def test_a_bad_value_is_echoed_as_written(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    """Case is only normalized for an accepted value: `xml` is shown as `'xml'`, not `'XML'`."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^invalid setting {variable}='{value}': "):
        load_settings()


def test_a_bad_port_names_the_port_and_masks_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that is not a number is named as written; the rest of the URL shows, but not the password."""
    monkeypatch.setenv("REDIS_URL", "redis://app:s3cret@cache.internal:63 79/0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == (
        "invalid setting REDIS_URL='redis://app:***@cache.internal:63 79/0': "
        "the port must be a number from 1 to 65535, got '63 79'"
    )

"""Settings from the environment and a `.env` file, validated once.

A bad value is reported by its variable name (`SettingsError`); entry points print that one
line and exit non-zero instead of showing a traceback.
"""

from __future__ import annotations

import functools
import ipaddress
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.connection import parse_url

from .cluster_url import is_cluster_url, parse_cluster_url
from .errors import JobsError
from .limits import RateLimit, parse_rate
from .redaction import redact_url
from .sentinel_url import is_sentinel_url, parse_sentinel_url

LogFormat = Literal["json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_SECRETS = {"redis_url", "database_url", "jobs_dashboard_password", "jobs_sentinel_password"}


class SettingsError(JobsError, ValueError):
    """A setting has a bad value; the message names the variable."""


class Settings(BaseSettings):
    """Every setting the library and its worker read; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"
    database_url: str | None = None
    log_format: LogFormat = "console"
    log_level: LogLevel = "INFO"
    jobs_modules: Annotated[tuple[str, ...], NoDecode] = ()
    jobs_queue: str = "default"
    jobs_concurrency: int = Field(default=1, ge=1)
    jobs_queue_concurrency: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    jobs_queue_rate_limit: Annotated[dict[str, RateLimit], NoDecode] = Field(default_factory=dict)
    jobs_shutdown_timeout: float = Field(default=10.0, ge=0)
    jobs_keep_completed: int = Field(default=1000, ge=0)
    jobs_keep_failed: int = Field(default=1000, ge=0)
    jobs_keep_cancelled: int = Field(default=1000, ge=0)
    jobs_connect_timeout: float = Field(default=10.0, ge=0)
    jobs_poll_interval: float = Field(default=1.0, gt=0)
    jobs_lock_timeout: float = Field(default=30.0, gt=0)
    jobs_max_payload_bytes: int = Field(default=64 * 1024, ge=1)
    jobs_max_result_bytes: int = Field(default=1024 * 1024, ge=1)
    jobs_loop_blocked_ms: int = Field(default=500, ge=0)
    jobs_dashboard_user: str | None = None  # with the password: HTTP basic auth for the dashboard
    jobs_dashboard_password: SecretStr | None = None
    jobs_metrics_port: int | None = Field(default=None, ge=1, le=65535)  # set: the worker serves /metrics
    jobs_metrics_host: str = "127.0.0.1"
    jobs_sentinel_password: SecretStr | None = None  # unset: the sentinels take REDIS_URL's credentials
    jobs_wait_replicas: int = Field(default=0, ge=0)
    jobs_wait_replicas_timeout_ms: int = Field(default=1000, ge=1, le=20_000)  # below a command's 30 s timeout

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if not parts.scheme or not (parts.netloc or parts.path):
            raise ValueError("expected a URL such as postgresql://user:password@host:5432/dbname")
        return value

    @field_validator("jobs_metrics_port", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jobs_metrics_host")
    @classmethod
    def _metrics_host(cls, value: str) -> str:
        host = value.strip()
        if _is_ipv6(host):
            return host.strip("[]")  # as the server binds it: ::1, not [::1]
        if not host or any(c in host for c in "/ :@"):
            raise ValueError("expected a host name or address to listen on, such as 127.0.0.1, 0.0.0.0 or ::")
        return host

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _case_insensitive(cls, value: Any) -> Any:
        """`JSON` or `debug` are accepted; anything else is left as written, so the error shows it."""
        if not isinstance(value, str):
            return value
        if value.lower() in ("json", "console"):
            return value.lower()
        return value.upper() if value.upper() in typing.get_args(LogLevel) else value

    @field_validator("jobs_modules", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("jobs_queue_concurrency", mode="before")
    @classmethod
    def _queue_concurrency(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        result: dict[str, int] = {}
        for queue, number, item in _queue_pairs(value):
            if not queue or not number.isdigit() or int(number) < 1:
                raise ValueError(f"expected queue=number pairs such as 'emails=4,reports=1', got {item!r}")
            result[queue] = int(number)
        return result

    @field_validator("jobs_queue_rate_limit", mode="before")
    @classmethod
    def _queue_rate_limit(cls, value: Any) -> Any:
        """`emails=10/s,sms=100/m`: each queue's starts per second, minute or hour, across every worker."""
        if not isinstance(value, str):
            return value
        result: dict[str, RateLimit] = {}
        for queue, rate, item in _queue_pairs(value):
            if not queue:
                raise ValueError(f"expected queue=rate pairs such as 'emails=10/s,sms=100/m', got {item!r}")
            result[queue] = parse_rate(rate)
        return result

    def concurrency_for(self, queue: str) -> int:
        return self.jobs_queue_concurrency.get(queue, self.jobs_concurrency)


def _queue_pairs(value: str) -> Iterator[tuple[str, str, str]]:
    """`emails=4,reports=1` as (queue, value, item) per non-empty item, stripped; queue and value
    are '' where the item lacks them (no `=`), for the caller to refuse with its own example."""
    for item in filter(None, (part.strip() for part in value.split(","))):
        queue, sep, rest = item.partition("=")
        yield (queue.strip(), rest.strip(), item) if sep else ("", "", item)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings now; raises `SettingsError` naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read on first use (clear with `get_settings.cache_clear()`)."""
    return load_settings()


def check_redis_url(value: str) -> str:
    """`value` if it is a Redis URL this library can use; ValueError saying what is wrong otherwise."""
    if is_cluster_url(value):
        parse_cluster_url(value)
        return value
    if is_sentinel_url(value):
        parse_sentinel_url(value)
        return value
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
        raise ValueError(
            "expected redis://[user:password@]host[:port][/db], rediss://..., unix://path, "
            "redis+cluster://host:port[,host:port...] or redis+sentinel://host:port[,host:port...]/service_name"
        )
    try:
        port_ok = parts.port != 0  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        port_ok = False
    if not port_ok:
        raise ValueError(f"the port must be a number from 1 to 65535, got {_port_text(parts.netloc)!r}")
    database = parts.path.strip("/") if parts.scheme != "unix" else ""
    if database and not database.isdigit():  # redis-py would silently use database 0
        raise ValueError(f"the database after the host must be a number such as /0, got {database!r}")
    try:
        parse_url(value)  # type: ignore[no-untyped-call]
    except ValueError as exc:  # e.g. ?db=x
        raise ValueError(str(exc)) from None
    return value


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


def _port_text(netloc: str) -> str:
    """What follows the host in `netloc`: the port as written (no password, which comes before the @)."""
    return netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[2]


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field_name = str(error["loc"][0]) if error["loc"] else "?"
        shown = error.get("input")
        if field_name in _SECRETS and isinstance(shown, str):
            shown = redact_url(shown)
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{field_name.upper()}={shown!r}: {message}")
    return "invalid setting " + "; ".join(lines)

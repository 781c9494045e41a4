"""`redis+sentinel://` URLs: the sentinels to ask, the service whose master holds the jobs, and
how to talk to that master.

Read once by the settings' validation (a malformed URL is one line naming REDIS_URL) and by
`store.connection.connect`, which asks the sentinels for the service's master on every new
connection, so a connection broken by a failover reopens to the new master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .cluster_url import query_options, split_nodes

SCHEMES = ("redis+sentinel", "rediss+sentinel")
FORM = "redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db] (rediss+sentinel:// for TLS)"


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """What a sentinel URL says; `options` are the master connection's keyword arguments for
    redis-py (credentials, TLS and any query-string option, parsed as for `redis://` URLs)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    tls: bool
    options: dict[str, Any]


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0] in SCHEMES


def parse_sentinel_url(url: str) -> SentinelURL:
    """Raises ValueError with a message fit for `REDIS_URL=...: <message>` (never the password)."""
    parts, sentinels, credentials = split_nodes(url, SCHEMES, FORM, "sentinel")
    service, _, database = unquote(parts.path).strip("/").partition("/")
    if not service:
        raise ValueError(f"expected the service name after the sentinels: {FORM}")
    if database and not database.isdigit():
        raise ValueError(f"the database after the service name must be a number such as /0, got {database!r}")
    options = query_options(parts.query, credentials)
    db = int(database) if database else int(options.get("db", 0))
    options.pop("db", None)
    return SentinelURL(sentinels, service, db, parts.scheme == "rediss+sentinel", options)

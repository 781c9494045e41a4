"""`redis+cluster://` URLs: the nodes to start from and how to talk to every node of the cluster.

Read once by the settings' validation (a malformed URL is one line naming REDIS_URL) and by
`store.connection.connect`, which asks the first node that answers for the cluster's layout and
follows it from then on (a node named here may later leave; any one that answers is enough).
`node_addresses` and `query_options` read the parts a `redis+sentinel://` URL shares (`sentinel_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from redis.connection import parse_url

Nodes = tuple[tuple[str, int], ...]  # (host, port) of each server a URL names

SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_PORT = 6379
FORM = "redis+cluster://[user:password@]host:port[,host:port...] (rediss+cluster:// for TLS)"
_ADDRESS = re.compile(r"^(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[^:]*))?$")
_NOT_FROM_A_QUERY = ("host", "port", "path", "connection_class")


@dataclass(frozen=True, slots=True)
class ClusterURL:
    """What a cluster URL says; `options` are each node connection's keyword arguments for redis-py
    (credentials, TLS and any query-string option, parsed as redis-py parses `redis://` URLs)."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool
    options: dict[str, Any]


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in SCHEMES


def parse_cluster_url(url: str) -> ClusterURL:
    """Raises ValueError with a message fit for `REDIS_URL=...: <message>` (never the password)."""
    parts, nodes, credentials = split_nodes(url, SCHEMES, FORM, "node")
    path = parts.path.strip("/")
    if path not in ("", "0"):
        raise ValueError(f"a cluster has only database 0, so the URL names none (got /{path}): {FORM}")
    options = query_options(parts.query, credentials)
    if "db" in options and options["db"] != 0:
        raise ValueError(f"a cluster has only database 0 (got ?db={options['db']})")
    options.pop("db", None)
    return ClusterURL(nodes, parts.scheme == "rediss+cluster", options)


def split_nodes(url: str, schemes: tuple[str, ...], form: str, what: str) -> tuple[SplitResult, Nodes, str]:
    """The parts of a URL naming several servers (`scheme://[credentials@]host:port,...`): its
    split form, the (host, port) pairs and the credentials ('' for none), checked against `form`."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ValueError(f"expected {form}")
    credentials, at, hosts = parts.netloc.rpartition("@")
    if not hosts:
        raise ValueError(f"expected at least one {what}: {form}")
    return parts, node_addresses(hosts), credentials if at else ""


def node_addresses(hosts: str) -> Nodes:
    """`host:port,host:port...` as (host, port) pairs (6379 where no port is given)."""
    return tuple(_address(item) for item in hosts.split(","))


def query_options(query: str, credentials: str) -> dict[str, Any]:
    """Each connection's keyword arguments for redis-py: what a `redis://` URL with this query
    string would give, and the `user:password` before the @ (none of host, port or path)."""
    try:  # the options a `redis://` URL with the same query would give
        options: dict[str, Any] = parse_url(f"redis://localhost{'?' + query if query else ''}")  # type: ignore[no-untyped-call]
    except ValueError as exc:  # e.g. ?socket_timeout=x
        raise ValueError(str(exc)) from None
    for name in _NOT_FROM_A_QUERY:
        options.pop(name, None)
    user, _, password = credentials.partition(":")
    if user:
        options["username"] = unquote(user)
    if password:
        options["password"] = unquote(password)
    return options


def _address(item: str) -> tuple[str, int]:
    found = _ADDRESS.match(item.strip())
    if found is None:
        raise ValueError(f"expected host:port pairs separated by commas, got {item!r}")
    port = found["port"]
    if port is None:
        return found["ipv6"] or found["host"], DEFAULT_PORT
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"a node's port must be a number from 1 to 65535, got {port!r}")
    return found["ipv6"] or found["host"], int(port)

"""Keep secrets out of logs and error messages."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    credentials, at, host = parts.netloc.rpartition("@")  # read as written: a bad port must not hide the host
    user, _, password = credentials.partition(":")
    if not at or not password:
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

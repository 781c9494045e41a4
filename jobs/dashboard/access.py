"""Who may act on the dashboard, and refusing cross-site requests.

Three modes: an `auth` callable the app passes (it gets the request and says whether it may act:
the app's own session check), HTTP basic credentials from JOBS_DASHBOARD_USER and
JOBS_DASHBOARD_PASSWORD (every page asks for them: the standalone server's way), or neither, and
then the dashboard is read-only. Every action also needs a CSRF token (double submit: a cookie and
the same value in the form or the `X-CSRF-Token` header) and a same-origin request (Sec-Fetch-Site,
Origin or Referer, whichever the browser sent).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

Auth = Callable[[Request], bool | Awaitable[bool]]

CSRF_COOKIE = "jobs_dashboard_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
REALM = "jobs dashboard"


class LoginRequired(Exception):
    """Basic credentials are configured and the request has none, or wrong ones."""


@dataclass(frozen=True, slots=True)
class Access:
    auth: Auth | None = None
    user: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        if self.auth is None and bool(self.user) != bool(self.password):
            raise ValueError("set both JOBS_DASHBOARD_USER and JOBS_DASHBOARD_PASSWORD, or neither (read-only)")

    @property
    def basic(self) -> bool:
        return self.auth is None and bool(self.user and self.password)

    @property
    def mode(self) -> str:
        return "callable" if self.auth is not None else "basic" if self.basic else "read-only"

    async def may_act(self, request: Request) -> bool:
        """Whether this request may act; raises `LoginRequired` under basic auth without valid credentials."""
        if self.auth is not None:
            answer = self.auth(request)
            if inspect.isawaitable(answer):
                answer = await answer
            return bool(answer)
        if self.basic:
            if not self._credentials_match(request.headers.get("authorization", "")):
                raise LoginRequired
            return True
        return False

    def _credentials_match(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        assert self.user is not None and self.password is not None
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and user_ok and password_ok


def csrf_token(request: Request) -> tuple[str, bool]:
    """This browser's token, and whether it is new (then the response sets the cookie)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) == 43 and token.replace("-", "").replace("_", "").isalnum():
        return token, False
    return secrets.token_urlsafe(32), True


def cross_site_reason(request: Request, submitted: str) -> str | None:
    """Why a POST is refused as possibly cross-site, or None if it is same-origin with the right token."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the browser says this request came from another site (Sec-Fetch-Site: {fetch_site})"
    source = request.headers.get("origin") or request.headers.get("referer")
    if source and source != "null" and urlsplit(source).netloc != request.headers.get("host", ""):
        return "the request came from another origin"
    if source == "null":
        return "the request came from an opaque origin"
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        return "the form's security token is missing or stale: reload the page and try again"
    return None

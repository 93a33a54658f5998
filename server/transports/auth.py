"""Where a request or a Socket.IO connection carries its credentials."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any

SESSION_COOKIE = "conv_session"


def token_from_headers(cookie_header: str | None, authorization: str | None) -> str | None:
    """The bearer token if one is given, else the session cookie."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if cookie_header:
        try:
            jar = SimpleCookie(cookie_header)
        except CookieError:
            return None
        morsel = jar.get(SESSION_COOKIE)
        if morsel is not None and morsel.value:
            return morsel.value
    return None


def token_from_environ(environ: dict[str, Any], auth: Any) -> str | None:
    """Socket.IO connect: `auth.token`, else the cookie of the upgrade request."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        return str(auth["token"])
    return token_from_headers(environ.get("HTTP_COOKIE"), environ.get("HTTP_AUTHORIZATION"))

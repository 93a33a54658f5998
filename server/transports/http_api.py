"""The HTTP JSON API (docs/api.md, "HTTP routes" and "API channel"): `register` wires it in.

Routes live in `http_records` (managed records), `http_conversations` (inbox, messages,
uploads) and `http_channels` (the API channel's door); this module has the sessions, the
profile and the bootstrap. Every handler goes through the Workspace or `server.records`, and
every refusal leaves as `{"error": {"code", "message"}}` via `http_common.error_middleware`.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from server.blobs import BlobStore
from server.config import Settings
from server.domain.errors import Invalid
from server.records import Records
from server.transports import (
    http_channels,
    http_conversations,
    http_metrics,
    http_records,
    openapi,
)
from server.transports.auth import SESSION_COOKIE
from server.transports.http_common import (
    CONTEXT,
    Context,
    context,
    current_user,
    error_middleware,
    json_body,
    json_response,
    request_token,
)
from server.workspace import SESSION_TTL, Workspace

log = structlog.get_logger("server.http")

__all__ = ["current_user", "register"]


def register(
    app: web.Application, workspace: Workspace, blobs: BlobStore, settings: Settings
) -> None:
    """Add the API's routes and its error middleware to `app`."""
    app[CONTEXT] = Context(workspace, blobs, settings, Records(workspace))
    app.middlewares.append(error_middleware)
    router = app.router
    router.add_post("/api/login", login)
    router.add_post("/api/logout", logout)
    router.add_post("/api/tokens", create_token)
    router.add_get("/api/bootstrap", bootstrap)
    router.add_get("/api/me", get_me)
    router.add_patch("/api/me", patch_me)
    http_records.add_routes(router)
    http_conversations.add_routes(router)
    http_channels.add_routes(router)
    http_metrics.add_routes(router)
    router.add_get("/openapi.json", openapi.openapi_json)


async def _credentials(request: web.Request) -> tuple[str, str]:
    data = await json_body(request)
    email, password = data.get("email"), data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        raise Invalid("Enter your email and password")
    if len(email) > 254 or len(password) > 1024:
        raise Invalid("Wrong email or password")
    return email, password


async def login(request: web.Request) -> web.Response:
    """Log in: sets the session cookie."""
    email, password = await _credentials(request)
    user, token = await context(request).workspace.login(email, password, kind="cookie")
    response = json_response({"user": user.public()})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.secure,
    )
    return response


async def create_token(request: web.Request) -> web.Response:
    """Log in a script: returns a bearer token."""
    email, password = await _credentials(request)
    user, token = await context(request).workspace.login(email, password, kind="bearer")
    return json_response({"token": token, "user": user.public()})


async def logout(request: web.Request) -> web.Response:
    """End this session (cookie or bearer token) and clear the cookie; with
    `?everywhere=true`, end every session of the user on every device."""
    token = request_token(request)
    workspace = context(request).workspace
    if request.query.get("everywhere") in ("1", "true"):
        user = await current_user(request)
        await workspace.revoke_sessions(user.id)
    elif token:
        await workspace.logout(token)
    response = json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def bootstrap(request: web.Request) -> web.Response:
    """Everything the web client needs at start."""
    user = await current_user(request)
    return json_response(await context(request).workspace.bootstrap(user))


async def get_me(request: web.Request) -> web.Response:
    """Own profile and settings."""
    user = await current_user(request)
    return json_response({"user": user.public()})


async def patch_me(request: web.Request) -> web.Response:
    """Change own name, time zone, send key or password (needs current_password)."""
    user = await current_user(request)
    data = await json_body(request)
    updated = await context(request).records.update_me(user, data, request_token(request))
    return json_response({"user": updated.public()})

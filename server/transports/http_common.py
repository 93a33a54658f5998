"""Shared plumbing of the HTTP API: request context, JSON in and out, the error middleware."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import web

from server.blobs import BlobStore
from server.config import Settings
from server.domain.errors import DomainError, Invalid, TooLarge
from server.domain.models import User
from server.records import Records
from server.transports.auth import token_from_headers
from server.workspace import Workspace

log = structlog.get_logger("server.http")

API_PREFIXES = ("/api/", "/channels/", "/openapi.json")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Context:
    workspace: Workspace
    blobs: BlobStore
    settings: Settings
    records: Records


CONTEXT = web.AppKey("conversations_http_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


# ---------------------------------------------------------------------------- JSON out
def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, default=_default),
        status=status,
        content_type="application/json",
    )


RETRY_AFTER_SECONDS = "1"  # busy or draining: a short, honest hint for well-behaved callers


def error_response(status: int, code: str, message: str) -> web.Response:
    response = json_response({"error": {"code": code, "message": message}}, status=status)
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


# ---------------------------------------------------------------------------- JSON in
async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refused with TooLarge as soon as it passes `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"The body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65_536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object. `optional`: an empty body reads as `{}`."""
    raw = await read_body(request, context(request).settings.max_body)
    if optional and not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("The body must be a JSON object") from None
    if not isinstance(data, dict):
        raise Invalid("The body must be a JSON object")
    return data


# ---------------------------------------------------------------------------- query
def query_int(
    request: web.Request, name: str, default: int | None, *, low: int, high: int
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}")
    return value


def query_list(request: web.Request, name: str) -> list[str]:
    """A repeatable, comma-separable parameter: `?tag=a&tag=b,c` -> ["a", "b", "c"]."""
    out: list[str] = []
    for raw in request.query.getall(name, []):
        out.extend(part.strip() for part in raw.split(",") if part.strip())
    return list(dict.fromkeys(out))


def encode_after(after: tuple[float, str] | None) -> str | None:
    if after is None:
        return None
    return f"{after[0]!r}|{after[1]}"


def decode_after(raw: str | None) -> tuple[float, str] | None:
    if not raw:
        return None
    ts, sep, conversation_id = raw.partition("|")
    try:
        value = float(ts)
    except ValueError:
        value = math.nan
    valid_id = 0 < len(conversation_id) <= 128 and all(
        ch.isascii() and (ch.isalnum() or ch in "_-") for ch in conversation_id
    )
    if not sep or not math.isfinite(value) or not valid_id:
        raise Invalid("after is not a cursor this server handed out")
    return value, conversation_id


# ---------------------------------------------------------------------------- auth
def request_token(request: web.Request) -> str | None:
    return token_from_headers(request.headers.get("Cookie"), request.headers.get("Authorization"))


async def current_user(request: web.Request) -> User:
    """The authenticated user, or Unauthenticated."""
    return await context(request).workspace.authenticate(request_token(request))


def string_or_none(data: dict[str, Any], name: str, max_len: int = 256) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise Invalid(f"{name} must be a string of at most {max_len} characters")
    return value or None


# ---------------------------------------------------------------------------- middleware
def _route_name(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None) if route is not None else None
    canonical = getattr(resource, "canonical", None)
    return str(canonical) if canonical else request.path[:200]


def _owned(request: web.Request) -> bool:
    return request.path.startswith(API_PREFIXES)


_HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "invalid",
    409: "conflict",
    413: "too_large",
    415: "invalid",
    503: "unavailable",
}
_HTTP_MESSAGES = {
    404: "No such route",
    405: "This route does not accept that method",
    413: "The body is too large",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as error:
        _log_refusal(request, error.status, error.code)
        return error_response(error.status, error.code, error.message)
    except web.HTTPException as exc:
        if exc.status < 400 or not _owned(request):
            raise
        code = _HTTP_CODES.get(exc.status, "invalid" if exc.status < 500 else "internal")
        message = _HTTP_MESSAGES.get(exc.status) or exc.reason
        _log_refusal(request, exc.status, code)
        response = error_response(exc.status, code, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ConnectionResetError as exc:
        # The client went away mid-request (e.g. gave up during a websocket upgrade): nothing
        # failed on our side. 499 (nginx's "client closed request"), for the access log only.
        log.info(
            "http.client_gone", method=request.method, route=_route_name(request), why=str(exc)
        )
        return web.Response(status=499)
    except Exception:
        log.exception("http.internal_error", method=request.method, route=_route_name(request))
        return error_response(500, "internal", "Internal error")


def _log_refusal(request: web.Request, status: int, code: str) -> None:
    emit = log.warning if status in (403, 413) or status >= 500 else log.info
    emit(
        "http.refused", method=request.method, route=_route_name(request), status=status, code=code
    )

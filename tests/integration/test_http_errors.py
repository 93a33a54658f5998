"""The HTTP error middleware tells a client that went away from a failure of ours."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from server.transports.http_common import error_middleware


async def _gone(request: web.Request) -> web.Response:
    raise ConnectionResetError("Cannot write to closing transport")


async def _broken(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def test_a_client_gone_mid_request_is_not_logged_as_an_internal_error() -> None:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/api/gone", _gone)
    app.router.add_get("/api/broken", _broken)
    async with TestClient(TestServer(app)) as client:
        with capture_logs() as logs:
            async with client.get("/api/gone") as response:
                assert response.status == 499  # nobody is left to read it but the access log
            async with client.get("/api/broken") as response:
                assert response.status == 500
                assert (await response.json())["error"]["code"] == "internal"
    events = [(e["event"], e.get("route")) for e in logs]
    assert ("http.client_gone", "/api/gone") in events
    assert ("http.internal_error", "/api/broken") in events
    assert ("http.internal_error", "/api/gone") not in events

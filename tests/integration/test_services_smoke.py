"""Smoke tests proving each real-service fixture works end to end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from tests.fixtures.services import (
    CHROMIUM_ARGS,
    RedisServer,
    free_port,
    nginx_config,
    start_nginx,
)
from tests.fixtures.services import FerretDB as FerretDBServer

pytestmark = pytest.mark.services


async def _serve(app: web.Application) -> AsyncIterator[int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield port
    finally:
        await runner.cleanup()


@pytest.fixture
async def backend_port() -> AsyncIterator[int]:
    """A tiny aiohttp app on loopback that echoes what the proxy passed on."""

    async def hello(request: web.Request) -> web.Response:
        return web.json_response(
            {"path": request.path, "forwarded_for": request.headers.get("X-Forwarded-For")}
        )

    async def page(request: web.Request) -> web.Response:
        html = "<!doctype html><html><head><title>smoke page</title></head><body>ok</body></html>"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/page", page)
    async for port in _serve(app):
        yield port


async def test_redis_set_get_and_restart(redis_server: RedisServer) -> None:
    client = aioredis.from_url(redis_server.url)
    try:
        key = f"smoke:{uuid.uuid4().hex}"
        assert await client.set(key, "v1")
        assert await client.get(key) == b"v1"

        port = redis_server.port
        await asyncio.to_thread(redis_server.stop)
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
        await asyncio.to_thread(redis_server.start)
        assert redis_server.port == port

        # Same client, same URL: serving again (no persistence, so the key is gone).
        assert await client.ping()
        assert await client.get(key) is None
        assert await client.set(key, "v2")
        assert await client.get(key) == b"v2"
    finally:
        await client.aclose()


async def test_ferretdb_insert_find_unique_index(ferretdb: FerretDBServer) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        ferretdb.url, serverSelectionTimeoutMS=5000
    )
    try:
        coll = client[f"smoke_{uuid.uuid4().hex[:8]}"]["contacts"]
        await coll.insert_one({"email": "a@example.com", "name": "A"})
        found = await coll.find_one({"email": "a@example.com"})
        assert found is not None
        assert found["name"] == "A"

        await coll.create_index("email", unique=True)
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"email": "a@example.com", "name": "again"})
        assert await coll.count_documents({}) == 1
    finally:
        await client.close()


async def test_nginx_proxies_to_aiohttp(
    nginx_binary: Path, backend_port: int, tmp_path: Path
) -> None:
    port = free_port()
    conf = nginx_config(
        f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{backend_port};
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
"""
    )
    handle = await asyncio.to_thread(start_nginx, conf, tmp_path / "nginx", binary=nginx_binary)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/hello") as resp,
        ):
            assert resp.status == 200, await resp.text()
            assert resp.headers.get("Server", "").startswith("nginx")
            body = await resp.json()
        assert body == {"path": "/hello", "forwarded_for": "127.0.0.1"}
    finally:
        await asyncio.to_thread(handle.stop)
    assert not handle.running()


@pytest.mark.browser
async def test_chromium_loads_local_page(chromium_path: str, backend_port: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{backend_port}/page")
            assert await page.title() == "smoke page"
            assert await page.text_content("body") == "ok"
        finally:
            await browser.close()

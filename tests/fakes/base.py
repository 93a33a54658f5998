"""What both fakes share: an aiohttp app on a free loopback port and scripted failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fixtures.services import free_port


@dataclass
class Failure:
    """One scripted answer instead of success: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeService:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.failures: list[Failure] = []
        self.app = web.Application()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, status: int, body: dict[str, Any], **headers: str) -> None:
        self.failures.append(Failure(status, body, headers))

    def _scripted(self) -> web.Response | None:
        if not self.failures:
            return None
        failure = self.failures.pop(0)
        return web.json_response(failure.body, status=failure.status, headers=failure.headers)

"""Single activation: each conversation's actor runs on exactly one node.

`ask(key, command)` runs the command where the conversation lives: here when this node holds
(or can take) its lease, else forwarded over HTTP to the lease holder. When the holder is gone
(killed), its lease expires within LEASE_MS and the next command takes it over here. When Redis
is unreachable the node degrades to running the command locally: the store's version check
(fencing) still keeps two writers from overwriting each other, so safety holds and only the
"one node at a time" efficiency is lost until Redis returns.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import aiohttp
import orjson
import redis.exceptions
import structlog

from server.actors.runtime import ActorError, ActorSystem, AskTimeout
from server.cluster.codec import decode_reply, encode_command
from server.cluster.coordination import Coordinator
from server.domain import commands as c
from server.domain.errors import DomainError

log = structlog.get_logger(__name__)

AUTH_HEADER = "X-Cluster-Auth"
FORWARD_PATH = "/internal/conversations/ask"


class NotOwner(Exception):
    """The node asked to run a command does not hold the conversation's lease."""


class ForwardFailed(ActorError):
    """The owner node could not be reached or failed; the command may be retried."""


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ConversationRouter:
    def __init__(
        self,
        system: ActorSystem,
        coordinator: Coordinator,
        secret: str,
    ) -> None:
        self.system = system
        self.coordinator = coordinator
        self.secret = secret
        self.owned: set[str] = set()
        self._http: aiohttp.ClientSession | None = None
        self.forwarded = 0
        self._redis_down_logged = False

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def ask(self, key: str, message: c.Command, timeout: float = 5.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, self.coordinator.lease_ms / 1000 + 2)
        pause = 0.05
        while True:
            try:
                if await self._take(key):
                    return await self.system.ask(key, message, timeout=timeout)
                owner = await self.coordinator.owner(key)
                url = await self.coordinator.node_url_of(owner) if owner else None
            except redis.exceptions.ConnectionError:
                self._redis_down()
                return await self.system.ask(key, message, timeout=timeout)
            if url is not None:
                try:
                    return await self._forward(url, key, message, timeout)
                except NotOwner:
                    pass
                except ForwardFailed as failure:
                    log.warning("router.forward_failed", key=key, owner=owner, error=str(failure))
            if loop.time() >= deadline:
                raise AskTimeout(f"no node could take conversation {key}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _take(self, key: str) -> bool:
        if key in self.owned:
            return True
        if await self.coordinator.acquire(key):
            self.owned.add(key)
            self._redis_down_logged = False
            return True
        return False

    def _redis_down(self) -> None:
        if not self._redis_down_logged:
            log.warning("router.redis_unreachable", mode="local, fenced by the store")
            self._redis_down_logged = True

    async def handle_forwarded(self, key: str, message: c.Command, timeout: float) -> Any:
        """Run a command another node forwarded here; NotOwner when the lease moved on."""
        try:
            if not await self._take(key):
                raise NotOwner(key)
        except redis.exceptions.ConnectionError:
            self._redis_down()
        return await self.system.ask(key, message, timeout=timeout)

    async def _forward(self, url: str, key: str, message: c.Command, timeout: float) -> Any:
        body = orjson.dumps({"key": key, "command": encode_command(message), "timeout": timeout})
        headers = {AUTH_HEADER: sign(self.secret, body), "Content-Type": "application/json"}
        self.forwarded += 1
        try:
            async with self._session().post(
                url + FORWARD_PATH, data=body, headers=headers
            ) as response:
                payload = await response.json(loads=orjson.loads)
                if response.status == 409:
                    raise NotOwner(key)
                if response.status != 200:
                    raise ForwardFailed(f"owner answered {response.status}: {payload}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ForwardFailed(f"{type(exc).__name__}: {exc}") from exc
        reply = decode_reply(payload["reply"])
        if isinstance(reply, DomainError):
            return reply
        return reply

    async def on_stopped(self, key: str) -> None:
        """The local actor passivated: let another node take the conversation."""
        self.owned.discard(key)
        try:
            await self.coordinator.release(key)
        except redis.exceptions.ConnectionError:
            self._redis_down()

    async def renew(self) -> None:
        """Extend our leases; stop the actors whose lease we lost (e.g. after a long stall)."""
        lost = await self.coordinator.renew(sorted(self.owned))
        for key in lost:
            self.owned.discard(key)
            log.warning("router.lease_lost", key=key)
            try:
                async with asyncio.timeout(5):
                    await self.system.passivate(key)
            except TimeoutError:
                log.warning("router.passivate_timeout", key=key)

"""Presence across nodes, in Redis.

`presence:<user>` is a hash of the user's live connections (`<node>|<sid>`); `viewing:<conv>` a
hash of who has the thread open. Entries of a node that stopped heartbeating (crashed) are
ignored, so a killed node's agents drop out without anyone cleaning up after it. When Redis is
unreachable, presence degrades to this node's own view (logged) and recovers by itself.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions
import structlog

from server.realtime.presence import LocalPresence, Viewer

log = structlog.get_logger(__name__)

USERS = "presence:users"
_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisPresence:
    def __init__(self, redis: aioredis.Redis, node_id: str) -> None:
        self.redis = redis
        self.node_id = node_id
        self.local = LocalPresence()  # this node's truth, and the fallback
        self._viewed: dict[str, set[str]] = defaultdict(set)
        self._degraded = False

    def _field(self, sid: str) -> str:
        return f"{self.node_id}|{sid}"

    async def _alive_nodes(self) -> set[str]:
        alive = set()
        async for key in self.redis.scan_iter(match="node:*", count=100):
            name = key.decode() if isinstance(key, bytes) else str(key)
            alive.add(name.removeprefix("node:"))
        alive.add(self.node_id)
        return alive

    def _fallback(self, action: str) -> None:
        if not self._degraded:
            log.warning("presence.degraded", action=action, mode="this node only")
            self._degraded = True

    def _ok(self) -> None:
        if self._degraded:
            log.info("presence.recovered")
            self._degraded = False

    async def _live_connections(self, user_id: str, alive: set[str]) -> int:
        fields: Any = await self.redis.hkeys(f"presence:{user_id}")
        return sum(1 for f in fields if _text(f).split("|", 1)[0] in alive)

    async def connect(self, user_id: str, sid: str) -> bool:
        local_first = await self.local.connect(user_id, sid)
        try:
            await self.redis.hset(f"presence:{user_id}", self._field(sid), "1")
            await self.redis.sadd(USERS, user_id)
            count = await self._live_connections(user_id, await self._alive_nodes())
            self._ok()
            return count == 1
        except _ERRORS:
            self._fallback("connect")
            return local_first

    async def disconnect(self, user_id: str, sid: str) -> tuple[bool, list[str]]:
        local_offline, viewed = await self.local.disconnect(user_id, sid)
        viewed = sorted(set(viewed) | self._viewed.pop(sid, set()))
        try:
            await self.redis.hdel(f"presence:{user_id}", self._field(sid))
            for conversation_id in viewed:
                await self.redis.hdel(f"viewing:{conversation_id}", self._field(sid))
            count = await self._live_connections(user_id, await self._alive_nodes())
            if count == 0:
                await self.redis.srem(USERS, user_id)
            self._ok()
            return count == 0, viewed
        except _ERRORS:
            self._fallback("disconnect")
            return local_offline, viewed

    async def online(self) -> list[str]:
        try:
            alive = await self._alive_nodes()
            users: Any = await self.redis.smembers(USERS)
            online = [_text(u) for u in users if await self._live_connections(_text(u), alive) > 0]
            self._ok()
            return sorted(online)
        except _ERRORS:
            self._fallback("online")
            return await self.local.online()

    async def view(self, conversation_id: str, viewer: Viewer, sid: str) -> list[Viewer]:
        await self.local.view(conversation_id, viewer, sid)
        self._viewed[sid].add(conversation_id)
        try:
            body = orjson.dumps({"user_id": viewer.user_id, "name": viewer.name})
            await self.redis.hset(f"viewing:{conversation_id}", self._field(sid), body)
        except _ERRORS:
            self._fallback("view")
        return await self.viewers(conversation_id)

    async def unview(self, conversation_id: str, sid: str) -> list[Viewer]:
        await self.local.unview(conversation_id, sid)
        self._viewed.get(sid, set()).discard(conversation_id)
        try:
            await self.redis.hdel(f"viewing:{conversation_id}", self._field(sid))
        except _ERRORS:
            self._fallback("unview")
        return await self.viewers(conversation_id)

    async def viewers(self, conversation_id: str) -> list[Viewer]:
        try:
            alive = await self._alive_nodes()
            raw: Any = await self.redis.hgetall(f"viewing:{conversation_id}")
            unique: dict[str, Viewer] = {}
            for field, body in raw.items():
                if _text(field).split("|", 1)[0] in alive:
                    data = orjson.loads(body)
                    unique[data["user_id"]] = Viewer(data["user_id"], data["name"])
            self._ok()
            return sorted(unique.values(), key=lambda v: v.name)
        except _ERRORS:
            self._fallback("viewers")
            return await self.local.viewers(conversation_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

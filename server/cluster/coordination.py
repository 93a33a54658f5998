"""Redis coordination between nodes: membership, leases, locks.

- Membership: each node keeps `node:<id>` (its internal URL) alive with a TTL heartbeat.
- Leases: `lease:<name>` = owner node id, `SET NX PX`; renewed in bulk by the owner; released
  and renewed with Lua compare-and-set so a node never extends or deletes another's lease. A
  lease can outlive its holder's view of it (a stalled process), which is why every
  conversation write is also fenced by the store's version check.
- Locks: token + Lua compare-and-delete, for short critical sections (assignment rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any, cast

import redis.asyncio as aioredis
import redis.exceptions
import structlog

log = structlog.get_logger(__name__)

LEASE_MS = 10_000  # how long a dead node's conversations stay unreachable, at most
NODE_TTL_MS = 6_000

_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  else
    table.insert(lost, key)
  end
end
return lost
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if owner then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class Coordinator:
    def __init__(
        self, redis: aioredis.Redis, node_id: str, node_url: str, lease_ms: int = LEASE_MS
    ) -> None:
        self.redis = redis
        self.node_id = node_id
        self.node_url = node_url
        self.lease_ms = lease_ms
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._acquire = redis.register_script(_ACQUIRE)

    # ------------------------------------------------------------------ membership
    async def heartbeat(self) -> None:
        await self.redis.set(f"node:{self.node_id}", self.node_url, px=NODE_TTL_MS)

    async def leave(self) -> None:
        await self.redis.delete(f"node:{self.node_id}")

    async def node_url_of(self, node_id: str) -> str | None:
        value = await self.redis.get(f"node:{node_id}")
        return _text(value)

    async def nodes(self) -> dict[str, str]:
        found: dict[str, str] = {}
        async for key in self.redis.scan_iter(match="node:*", count=100):
            url = await self.redis.get(key)
            name, value = _text(key), _text(url)
            if name is not None and value is not None:
                found[name.removeprefix("node:")] = value
        return found

    # ------------------------------------------------------------------ leases
    async def acquire(self, name: str) -> bool:
        """Take (or keep) the lease; False when another node holds it."""
        won = await self._acquire(keys=[f"lease:{name}"], args=[self.node_id, self.lease_ms])
        return bool(won)

    async def owner(self, name: str) -> str | None:
        return _text(await self.redis.get(f"lease:{name}"))

    async def release(self, name: str) -> None:
        await self._release(keys=[f"lease:{name}"], args=[self.node_id])

    async def renew(self, names: list[str]) -> list[str]:
        """Extend every lease we still hold; return the names we lost."""
        if not names:
            return []
        lost = await self._renew(
            keys=[f"lease:{n}" for n in names], args=[self.node_id, self.lease_ms]
        )
        return [_text(key)[6:] for key in cast(list[Any], lost)]  # type: ignore[index]

    # ------------------------------------------------------------------ locks
    async def lock(self, name: str, ttl_ms: int = 5_000, wait: float = 2.0) -> str | None:
        """Take a short lock; returns its token, or None when not obtained within `wait`."""
        token = secrets.token_hex(12)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if await self.redis.set(f"lock:{name}", token, nx=True, px=ttl_ms):
                return token
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.02)

    async def unlock(self, name: str, token: str) -> bool:
        return bool(await self._release(keys=[f"lock:{name}"], args=[token]))

    @contextlib.asynccontextmanager
    async def locked(self, name: str) -> AsyncIterator[None]:
        """Hold lock `name` for a short section across nodes. Best effort: when it cannot be had
        (busy past the wait, Redis down) the section runs anyway, so callers must stay correct
        without it and use it only to avoid wasted or unbalanced work."""
        try:
            token = await self.lock(name)
        except (redis.exceptions.RedisError, OSError):
            token = None
        if token is None:
            log.warning("coordination.lock_unavailable", lock=name)
        try:
            yield
        finally:
            if token is not None:
                with contextlib.suppress(redis.exceptions.RedisError, OSError):
                    await self.unlock(name, token)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)

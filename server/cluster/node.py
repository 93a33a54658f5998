"""Cluster mode wiring: what a node adds when MONGODB_URL and REDIS_URL are set."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import redis.exceptions
import structlog
from pymongo import AsyncMongoClient
from pymongo.uri_parser import parse_uri
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from server.actors.runtime import ActorSystem
from server.actors.timers import Timers
from server.cluster.coordination import Coordinator
from server.cluster.redis_presence import RedisPresence
from server.cluster.router import ConversationRouter
from server.cluster.stream_bus import StreamBus
from server.config import Settings
from server.store.mongo import MongoStore

log = structlog.get_logger(__name__)

HEARTBEAT_EVERY = 2.0  # seconds; node keys live NODE_TTL_MS (6 s)


class ClusterConfigError(Exception):
    """Cluster mode is half-configured or a service is unreachable: the message says which."""


def check_settings(settings: Settings) -> None:
    missing = [
        name
        for name, value in (
            ("MONGODB_URL", settings.mongodb_url),
            ("REDIS_URL", settings.redis_url),
            ("CONV_CLUSTER_SECRET", settings.cluster_secret),
        )
        if not value
    ]
    if missing:
        raise ClusterConfigError(
            "Cluster mode needs MONGODB_URL, REDIS_URL and CONV_CLUSTER_SECRET; missing: "
            + ", ".join(missing)
            + ". Unset MONGODB_URL and REDIS_URL to run the embedded single node."
        )
    if len(settings.cluster_secret) < 16:
        raise ClusterConfigError("CONV_CLUSTER_SECRET must be at least 16 characters")


async def check_reachable(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, with a message an operator can act on, before the node starts serving."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongodb_url, serverSelectionTimeoutMS=int(timeout * 1000)
    )
    try:
        await client.admin.command("ping")
    except Exception as exc:
        raise ClusterConfigError(
            f"MongoDB at MONGODB_URL is unreachable: {type(exc).__name__}"
        ) from exc
    finally:
        await client.close()
    probe = aioredis.from_url(settings.redis_url, socket_connect_timeout=timeout)
    try:
        await probe.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        raise ClusterConfigError(
            f"Redis at REDIS_URL is unreachable: {type(exc).__name__}"
        ) from exc
    finally:
        await probe.aclose()


def database_name(url: str) -> str:
    return str(parse_uri(url).get("database") or "conversations")


@dataclass
class ClusterNode:
    settings: Settings
    node_id: str
    redis: aioredis.Redis
    store: MongoStore
    bus: StreamBus
    presence: RedisPresence
    coordinator: Coordinator
    router: ConversationRouter | None = None
    started_at: float = field(default_factory=time.time)

    def attach(self, conversations: ActorSystem) -> ConversationRouter:
        self.router = ConversationRouter(
            conversations, self.coordinator, self.settings.cluster_secret
        )
        return self.router

    async def may_deliver_outbox(self, account_id: str) -> bool:
        try:
            return await self.coordinator.acquire(f"outbox:{account_id}")
        except redis.exceptions.ConnectionError:
            return False  # without Redis nobody can be sure to be alone: wait

    async def start(self, timers: Timers) -> None:
        await self._beat(timers)
        await self._renew(timers)
        log.info("cluster.joined", node_id=self.node_id, url=self.coordinator.node_url)

    async def _beat(self, timers: Timers) -> None:
        async def beat() -> None:
            await self._beat(timers)

        try:
            await self.coordinator.heartbeat()
        except (redis.exceptions.RedisError, OSError):
            log.warning("cluster.heartbeat_failed", node_id=self.node_id)
        finally:
            timers.schedule("cluster-heartbeat", time.time() + HEARTBEAT_EVERY, beat)

    async def _renew(self, timers: Timers) -> None:
        async def renew() -> None:
            await self._renew(timers)

        try:
            if self.router is not None:
                await self.router.renew()
        except (redis.exceptions.RedisError, OSError):
            log.warning("cluster.lease_renew_failed", node_id=self.node_id)
        finally:
            every = self.coordinator.lease_ms / 3000
            timers.schedule("cluster-renew", time.time() + every, renew)

    async def stop(self) -> None:
        try:
            await self.coordinator.leave()
            if self.router is not None:
                for key in sorted(self.router.owned):
                    await self.coordinator.release(key)
        except (redis.exceptions.RedisError, OSError):
            pass
        if self.router is not None:
            await self.router.aclose()
        await self.redis.aclose()


def redis_client(url: str) -> aioredis.Redis:
    """Fail fast when Redis is gone (one quick retry, 1 s to connect) so callers degrade at
    once instead of stalling requests behind redis-py's default retry schedule."""
    return aioredis.from_url(
        url,
        socket_connect_timeout=1.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        health_check_interval=10,
    )


def make_cluster_node(settings: Settings) -> ClusterNode:
    check_settings(settings)
    node_id = settings.node_id or f"{socket.gethostname()}:{settings.port}"
    url = settings.internal_url or f"http://{settings.host}:{settings.port}"
    client = redis_client(settings.redis_url)
    return ClusterNode(
        settings=settings,
        node_id=node_id,
        redis=client,
        store=MongoStore(settings.mongodb_url, database_name(settings.mongodb_url)),
        bus=StreamBus(settings.redis_url, maxlen=settings.event_retention),
        presence=RedisPresence(client, node_id),
        coordinator=Coordinator(client, node_id, url),
    )

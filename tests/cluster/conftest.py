"""A real cluster per test: 3 `python -m server` nodes on FerretDB + redis-server, behind nginx
configured from deploy/nginx.conf.

Seeded (straight into the store, before any node starts): an admin, agents Alice
(`can_reassign`) and Bob on the API-channel account "Shop". Tests talk to the cluster only the
way clients do: HTTP, Socket.IO (websocket only) and the API channel, through nginx or straight
to one node.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from server.domain.models import AuthorizedUser, ChannelAccount, ChannelKind, Role, User
from server.domain.passwords import hash_password
from server.store.mongo import MongoStore
from tests.fixtures.services import (
    REPO_ROOT,
    FerretDB,
    ManagedProcess,
    NginxHandle,
    RedisServer,
    free_port,
    nginx_config,
    start_nginx,
)

PASSWORD = "correct horse battery"
CLUSTER_SECRET = "cluster-secret-for-tests-0123456789"
SHOP_TOKEN = "shop-token-0123456789"
NODES = 3
READY_TIMEOUT = 30.0
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"

USERS = {
    "admin": User(id="usr_admin", email="admin@test.example", name="Ada", role=Role.ADMIN),
    "alice": User(id="usr_alice", email="alice@test.example", name="Alice"),
    "bob": User(id="usr_bob", email="bob@test.example", name="Bob"),
}


def _shop() -> ChannelAccount:
    return ChannelAccount(
        id="acc_shop",
        kind=ChannelKind.API,
        name="Shop",
        authorized=[
            AuthorizedUser("usr_alice", can_reassign=True),
            AuthorizedUser("usr_bob", can_reassign=True),
        ],
        secrets={"token": SHOP_TOKEN},
    )


# --------------------------------------------------------------------------- nginx config


def cluster_nginx_config(upstreams: list[int], listen: int) -> str:
    """deploy/nginx.conf with the test's upstream ports, listen port and log paths."""
    text = NGINX_CONF.read_text()
    lines = text.splitlines()
    marked = [i for i, line in enumerate(lines) if line.rstrip().endswith("# test: upstream")]
    assert marked, "deploy/nginx.conf lost its '# test: upstream' server lines"
    template = lines[marked[0]]
    servers = [re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", template) for port in upstreams]
    lines[marked[0] : marked[-1] + 1] = servers
    text = "\n".join(lines) + "\n"
    replacements = [
        (r"listen 80;\s*# test: listen", f"listen 127.0.0.1:{listen};"),
        (r"access_log \S+;\s*# test: access_log", "access_log logs/conversations.access.log;"),
        (
            r"error_log \S+ (\w+);\s*# test: error_log",
            r"error_log logs/conversations.error.log \1;",
        ),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"deploy/nginx.conf: no line matching {pattern!r}"
    return nginx_config(text)


# --------------------------------------------------------------------------- agents


@dataclass
class Agent:
    """A user's Socket.IO connection (websocket only) that records every event it receives.

    `reconnect(url)` opens a new connection and keeps recording into the same list, like the
    web client after a network change; `cursor` is the highest cursor applied so far.
    """

    user: str
    token: str
    url: str
    client: socketio.AsyncClient
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, url: str) -> None:
        client = socketio.AsyncClient(reconnection=False)

        async def record(event: str, data: Any) -> None:
            self.events.append((event, data))
            self.arrived.set()

        async def gone() -> None:
            self.disconnected.set()
            self.arrived.set()

        client.on("*", record)
        client.on("disconnect", gone)
        self.url, self.client = url, client
        self.disconnected.clear()
        await client.connect(url, auth={"token": self.token}, transports=["websocket"])

    async def reconnect(self, url: str) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        await self.open(url)

    @property
    def cursor(self) -> int:
        return max((d["cursor"] for _, d in self.events if "cursor" in d), default=0)

    def logged(self) -> list[dict[str, Any]]:
        """The logged events received (those with a cursor), in arrival order."""
        return [d for _, d in self.events if isinstance(d, dict) and "cursor" in d]

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name in types]

    def apply(self, events: list[dict[str, Any]]) -> None:
        """Record the events of a `resume` ack as if they had arrived live."""
        for event in events:
            self.events.append((event["type"], event))

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                matched = [data for name, data in self.events if predicate(name, data)]
                if matched:
                    return matched
                self.arrived.clear()
                await self.arrived.wait()

    async def call(self, command: str, payload: dict[str, Any], timeout: float = 15) -> Any:
        return await self.client.call(command, payload, timeout=timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()


# --------------------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    database: str
    mongodb_url: str
    redis: RedisServer
    nodes: list[ManagedProcess]
    ports: list[int]
    nginx: NginxHandle
    nginx_port: int
    http: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)
    agents: list[Agent] = field(default_factory=list)

    # ------------------------------------------------------------------ where
    def node_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    @property
    def node_urls(self) -> list[str]:
        return [self.node_url(i) for i in range(len(self.ports))]

    @property
    def url(self) -> str:
        """nginx, the cluster's public address."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def alive(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.running()]

    def kill_node(self, i: int) -> None:
        """SIGKILL, like a crash: no drain, no lease release, no goodbye to Redis."""
        node = self.nodes[i]
        assert node.process is not None and node.running()
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(10)

    # ------------------------------------------------------------------ HTTP
    async def readyz(self, i: int) -> tuple[int, dict[str, Any]]:
        async with self.http.get(f"{self.node_url(i)}/readyz") as response:
            return response.status, await response.json()

    async def token(self, user: str, url: str | None = None) -> str:
        if user not in self.tokens:
            async with self.http.post(
                f"{url or self.url}/api/tokens",
                json={"email": USERS[user].email, "password": PASSWORD},
            ) as response:
                assert response.status == 200, await response.text()
                self.tokens[user] = str((await response.json())["token"])
        return self.tokens[user]

    async def api(
        self, method: str, path: str, user: str = "admin", body: Any = None, url: str | None = None
    ) -> tuple[int, Any]:
        token = await self.token(user)
        async with self.http.request(
            method,
            f"{url or self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            return response.status, await response.json()

    async def inbound(
        self, sender: str, text: str, message_id: str, url: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One API-channel webhook; (status, body). Network errors come back as status 0."""
        body = {
            "message_id": message_id,
            "from": {"id": sender, "name": sender.split("@")[0].title()},
            "text": text,
        }
        try:
            async with self.http.post(
                f"{url or self.url}/channels/api/acc_shop/messages",
                json=body,
                headers={"Authorization": f"Bearer {SHOP_TOKEN}"},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                try:
                    answer = await response.json()
                except (aiohttp.ContentTypeError, ValueError):
                    answer = {"raw": await response.text()}
                return response.status, answer
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, {"error": repr(exc)}

    async def conversation(self, conversation_id: str, url: str | None = None) -> dict[str, Any]:
        status, body = await self.api("GET", f"/api/conversations/{conversation_id}", url=url)
        assert status == 200, body
        return dict(body["conversation"])

    async def messages(self, conversation_id: str, url: str | None = None) -> list[dict[str, Any]]:
        """Every message of the conversation, oldest first (pages through the history)."""
        found: list[dict[str, Any]] = []
        before = ""
        while True:
            status, body = await self.api(
                "GET", f"/api/conversations/{conversation_id}/messages?limit=100{before}", url=url
            )
            assert status == 200, body
            page = body["messages"]
            found += page
            if len(page) < 100:
                return sorted(found, key=lambda m: m["seq"])
            before = f"&before_seq={min(m['seq'] for m in page)}"

    # ------------------------------------------------------------------ Socket.IO
    async def connect(self, user: str, url: str | None = None) -> Agent:
        agent = Agent(user, await self.token(user), "", socketio.AsyncClient())
        await agent.open(url or self.url)
        self.agents.append(agent)
        return agent

    # ------------------------------------------------------------------ diagnostics
    def log_tails(self, lines: int = 60) -> str:
        parts = []
        for i, node in enumerate(self.nodes):
            state = (
                "running" if node.running() else f"exited ({node.process and node.process.poll()})"
            )
            parts.append(f"--- node-{i} {self.node_url(i)} [{state}] ---\n{node.log_tail(lines)}")
        parts.append(f"--- nginx ---\n{self.nginx.log_tail(20)}")
        error_log = self.nginx.workdir / "logs" / "conversations.error.log"
        if error_log.exists():
            tail = error_log.read_text(errors="replace").splitlines()[-20:]
            parts.append("--- nginx error log ---\n" + "\n".join(tail))
        parts.append(f"--- redis ---\n{self.redis.log_tail(10)}")
        parts.append(f"--- store ---\n{self.store_summary()}")
        return "\n".join(parts)

    def store_summary(self) -> str:
        """Conversation versions and unfinished commits (claims whose apply never finished)."""
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(
            self.mongodb_url, serverSelectionTimeoutMS=3000
        )
        try:
            db = client[self.database]
            lines = [
                f"conversation {c['_id']} version={c.get('version')} seq={c.get('seq')}"
                for c in db["conversations"].find({}, {"version": 1, "seq": 1})
            ]
            lines += [
                f"OPEN commit {c['_id']} (token {c.get('t')})"
                for c in db["commits"].find({"open": {"$exists": True}}, {"t": 1})
            ]
            return "\n".join(lines) or "<empty>"
        except Exception as exc:  # diagnostics only
            return f"<cannot read the store: {exc!r}>"
        finally:
            client.close()


def _start_node(
    i: int, port: int, mongodb_url: str, redis_url: str, workdir: Path
) -> ManagedProcess:
    env = {
        **os.environ,
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "CONV_CLUSTER_SECRET": CLUSTER_SECRET,
        "CONV_NODE_ID": f"node-{i}",
        "CONV_INTERNAL_URL": f"http://127.0.0.1:{port}",
        "CONV_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    data_dir = workdir / f"node-{i}"
    argv = [
        sys.executable, "-m", "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(data_dir),
    ]  # fmt: skip
    node = ManagedProcess(
        f"node-{i}", argv, log_path=workdir / f"node-{i}.log", cwd=REPO_ROOT, env=env
    )
    node.start()
    return node


async def _wait_ready(http: aiohttp.ClientSession, node: ManagedProcess, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if not node.running():
            raise node.fail("exited before it was ready")
        try:
            async with http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status == 200:
                    return
                last = await r.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = exc
        await asyncio.sleep(0.1)
    raise node.fail(f"/readyz never answered 200 in {READY_TIMEOUT:.0f}s (last: {last!r})")


async def _seed(mongodb_url: str, database: str) -> None:
    store = MongoStore(mongodb_url, database)
    await store.open()
    try:
        hashed = hash_password(PASSWORD)
        for user in USERS.values():
            await store.put(User(**{**user.to_dict(), "password_hash": hashed}))
        await store.put(_shop())
    finally:
        await store.close()


async def _drop_database(url: str, name: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=5000
    )
    try:
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    cluster: Cluster | None = getattr(item, "_cluster", None)
    if cluster is not None and report.failed and report.when in ("setup", "call"):
        report.sections.append(("cluster logs (tails)", cluster.log_tails()))


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest,
    ferretdb: FerretDB,
    redis_server: RedisServer,
    tmp_path: Path,
) -> AsyncIterator[Cluster]:
    redis_server.start()  # no-op when running; a previous test may have stopped it
    flusher = aioredis.from_url(redis_server.url)
    try:
        await flusher.flushall()
    finally:
        await flusher.aclose()

    database = f"cluster_{uuid.uuid4().hex[:12]}"
    mongodb_url = f"{ferretdb.url.rstrip('/')}/{database}"
    await _seed(ferretdb.url, database)

    ports = [free_port() for _ in range(NODES)]
    nodes = [
        _start_node(i, port, mongodb_url, redis_server.url, tmp_path)
        for i, port in enumerate(ports)
    ]
    http = aiohttp.ClientSession()
    nginx: NginxHandle | None = None
    cluster: Cluster | None = None
    try:
        await asyncio.gather(
            *(
                _wait_ready(http, node, f"http://127.0.0.1:{port}")
                for node, port in zip(nodes, ports, strict=True)
            )
        )
        nginx_port = free_port()
        config = cluster_nginx_config(ports, nginx_port)
        nginx = await asyncio.to_thread(
            start_nginx, config, tmp_path / "nginx", wait_ports=[nginx_port]
        )
        cluster = Cluster(
            database=database,
            mongodb_url=mongodb_url,
            redis=redis_server,
            nodes=nodes,
            ports=ports,
            nginx=nginx,
            nginx_port=nginx_port,
            http=http,
        )
        request.node._cluster = cluster
        status, _ = await cluster.api("GET", "/readyz")
        assert status == 200
        yield cluster
    finally:
        if cluster is not None:
            for agent in cluster.agents:
                await agent.close()
        await http.close()
        for node in nodes:
            node.stop(signal.SIGKILL, timeout=5)
        if nginx is not None:
            nginx.stop()
        with contextlib.suppress(Exception):
            await _drop_database(ferretdb.url, database)

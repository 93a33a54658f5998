"""Wiring: builds the store, the actor systems, the hub and both doors into one aiohttp app.

Start-up order: store -> workspace caches -> actor systems -> hub -> timers (snooze sweep,
outbox recovery). Shutdown is the reverse, after the listener stops accepting: Socket.IO clients
are told to go, actors drain their mailboxes (in-flight commands finish), the hub hands out what
was committed, then the store flushes and closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import redis.exceptions as redis_errors
import structlog
from aiohttp import web

from server.actors.account import AccountActor, SaveSyncState, SetAccountStatus
from server.actors.conversation import ConversationActor, ConversationDeps
from server.actors.outbox import Kick, OutboxActor, OutboxDeps
from server.actors.runtime import ActorSpec, ActorSystem
from server.actors.timers import Timers
from server.assistant import Assistant
from server.blobs import FileBlobStore
from server.config import Settings
from server.domain import commands as c
from server.domain.analysis import RuleBasedAnalyzer
from server.domain.conversation import Notification
from server.domain.models import ChannelAccount, Conversation
from server.realtime.hub import Bus, EventHub, account_room, user_room
from server.realtime.presence import LocalPresence, Presence
from server.store.base import Store
from server.store.sqlite import SqliteStore
from server.transports import http_api, http_groups
from server.transports.api_channel import ApiChannel
from server.transports.base import Channel
from server.transports.email import routes as email_routes
from server.transports.email.imap_intake import EmailIntakes, IntakeDeps
from server.transports.email.smtp_delivery import EmailChannel
from server.transports.socketio_gateway import SocketGateway, create_server
from server.transports.whatsapp import webhooks as whatsapp_webhooks
from server.transports.whatsapp.channel import WhatsAppChannel
from server.workspace import Asker, Workspace

if TYPE_CHECKING:
    from server.cluster.node import ClusterNode

log = structlog.get_logger(__name__)

SNOOZE_SWEEP_EVERY = 30.0  # seconds; precise timers do the work, the sweep catches the rest
OUTBOX_SWEEP_EVERY = 30.0
# In a cluster a reply may be queued on a node that does not hold the account's outbox lease;
# the holder's sweep picks it up, so it runs often there.
CLUSTER_OUTBOX_SWEEP_EVERY = 1.0
# Users and accounts are cached per node; in a cluster another node may change them.
CLUSTER_RECORDS_REFRESH_EVERY = 3.0
EVENT_TRIM_EVERY = 600.0
MEMORY_TRIM_EVERY = 30.0

SERVER_KEY = web.AppKey("server", object)

CONVERSATION_SPEC = ActorSpec(
    mailbox_size=1000,
    max_restarts=5,
    restart_window=10.0,
    idle_timeout=120.0,  # an idle conversation costs nothing once passivated; state reloads cheaply
)
ACCOUNT_SPEC = ActorSpec(mailbox_size=5000, idle_timeout=None)
OUTBOX_SPEC = ActorSpec(mailbox_size=100, idle_timeout=600.0)


@dataclass
class Server:
    settings: Settings
    store: Store
    hub: Bus
    timers: Timers
    conversations: ActorSystem
    accounts: ActorSystem
    outboxes: ActorSystem
    workspace: Workspace
    gateway: SocketGateway
    channels: dict[str, Channel]
    blobs: FileBlobStore
    cluster: ClusterNode | None = None
    assistant: Assistant | None = None  # None when switched off server-wide (CONV_ASSISTANT)
    email_intakes: EmailIntakes | None = None  # IMAP sessions of the email accounts
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    draining: bool = False
    extras: list[Any] = field(default_factory=list)
    _active_at_last_trim: int = 0  # things with aclose() (demo simulator)

    # ------------------------------------------------------------------ timers
    def schedule_wake(self, conversation_id: str, when: float) -> None:
        async def wake() -> None:
            await self.workspace.wake(conversation_id)

        self.timers.schedule(f"wake:{conversation_id}", when, wake)

    def outbox_ready(self, account_id: str, when: float | None = None) -> None:
        async def kick() -> None:
            await self.outboxes.tell(account_id, Kick())

        name = f"outbox:{account_id}" if when is None else f"outbox-retry:{account_id}"
        self.timers.schedule(name, when or 0.0, kick)

    def notify(self, note: Notification, conversation: Conversation) -> None:
        self.hub.signal(
            "notification",
            {"kind": note.kind, "conversation_id": conversation.id, "text": note.text},
            user_room(note.user_id),
        )

    def account_changed(self, account: ChannelAccount) -> None:
        self.workspace.remember_account(account)
        self.hub.signal("account.updated", {"account": account.public()}, account_room(account.id))
        if self.email_intakes is not None:
            self.email_intakes.sync(account)  # paused / resumed

    async def _sweep_snoozes(self) -> None:
        try:
            for conversation in await self.store.due_snoozes(time.time(), limit=500):
                await self.workspace.wake(conversation.id)
        finally:
            self.timers.schedule(
                "snooze-sweep", time.time() + SNOOZE_SWEEP_EVERY, self._sweep_snoozes
            )

    async def _sweep_outboxes(self) -> None:
        try:
            for account in self.workspace.all_accounts():
                await self.outboxes.tell(account.id, Kick())
        finally:
            self.timers.schedule(
                "outbox-sweep",
                time.time() + (CLUSTER_OUTBOX_SWEEP_EVERY if self.cluster else OUTBOX_SWEEP_EVERY),
                self._sweep_outboxes,
            )

    async def _refresh_records(self) -> None:
        try:
            await self.workspace.refresh_records()
        finally:
            self.timers.schedule(
                "records-refresh",
                time.time() + CLUSTER_RECORDS_REFRESH_EVERY,
                self._refresh_records,
            )

    async def _trim_events(self) -> None:
        try:
            dropped = await self.store.trim_events(self.settings.event_retention)
            if dropped:
                log.info("events.trimmed", dropped=dropped)
        finally:
            self.timers.schedule("event-trim", time.time() + EVENT_TRIM_EVERY, self._trim_events)

    async def _trim_memory(self) -> None:
        """After a wave of conversations passivates, hand the freed heap back to the OS
        (glibc keeps it otherwise: RSS stayed at its peak in the 10,000-conversation run)."""
        try:
            active = self.conversations.active_count()
            if active < self._active_at_last_trim * 0.75:
                gc.collect()
                await self.store.release_memory()
                _malloc_trim()
            self._active_at_last_trim = active
        finally:
            self.timers.schedule("memory-trim", time.time() + MEMORY_TRIM_EVERY, self._trim_memory)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.store.open()
        await self.workspace.load()
        self.hub.start()
        if self.assistant is not None:
            self.assistant.start()
        if self.cluster is not None:
            await self.cluster.start(self.timers)
            self.timers.schedule(
                "records-refresh",
                time.time() + CLUSTER_RECORDS_REFRESH_EVERY,
                self._refresh_records,
            )
        now = time.time()
        self.timers.schedule("snooze-sweep", now, self._sweep_snoozes)
        self.timers.schedule("outbox-sweep", now, self._sweep_outboxes)
        self.timers.schedule("event-trim", now + 5.0, self._trim_events)
        self.timers.schedule("memory-trim", now + MEMORY_TRIM_EVERY, self._trim_memory)
        if self.email_intakes is not None:
            self.email_intakes.start(self.workspace.all_accounts())
        self.ready = True
        log.info(
            "server.started",
            store=type(self.store).__name__,
            accounts=len(self.workspace.all_accounts()),
        )

    async def stop(self) -> None:
        self.ready = False
        self.draining = True
        for extra in self.extras:
            await extra.aclose()
        await self.timers.aclose()
        if self.email_intakes is not None:
            await self.email_intakes.aclose()
        if self.assistant is not None:
            await self.assistant.aclose()
        timeout = self.settings.drain_timeout / 2
        await self.accounts.shutdown(timeout=timeout)
        await self.conversations.shutdown(timeout=timeout)
        await self.outboxes.shutdown(timeout=timeout)
        await self.hub.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.store.close()
        log.info("server.stopped")


def make_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(str(settings.database_path))


def build_server(settings: Settings, sio: Any) -> Server:
    cluster: ClusterNode | None = None
    store: Store
    hub: Bus
    presence: Presence
    if settings.cluster:
        from server.cluster.node import make_cluster_node

        cluster = make_cluster_node(settings)
        store, hub, presence = cluster.store, cluster.bus, cluster.presence
    else:
        store, hub, presence = make_store(settings), EventHub(), LocalPresence()
    timers = Timers()
    channels: dict[str, Channel] = {"api": ApiChannel()}
    holder: dict[str, Server] = {}

    def on_escalate(system: str) -> Any:
        def report(key: str, error: BaseException) -> None:
            log.error("actor.crash_loop", system=system, key=key, error=repr(error))

        return report

    conversation_deps = ConversationDeps(
        store=store,
        publish=hub.publish,
        notify=lambda note, conv: holder["server"].notify(note, conv),
        outbox_ready=lambda account_id: holder["server"].outbox_ready(account_id),
        schedule_wake=lambda conv_id, when: holder["server"].schedule_wake(conv_id, when),
    )
    conversations = ActorSystem(
        "conversations",
        lambda key: ConversationActor(key, conversation_deps),
        CONVERSATION_SPEC,
        on_escalate=on_escalate("conversations"),
    )
    asker: Asker = conversations
    if cluster is not None:
        router = cluster.attach(conversations)
        conversation_deps.on_stopped = router.on_stopped
        bus = cluster.bus

        async def confirm() -> bool:
            return await bus.confirmed(bus.mark())

        conversation_deps.confirm = confirm

        async def repair(conversation: Conversation) -> None:
            try:
                published = await bus.published_seq(conversation.id)
            except (redis_errors.RedisError, OSError):
                return  # Redis down: nothing to compare with; the next activation repairs
            if published is None or published >= conversation.seq:
                return
            missing = await store.conversation_events(conversation.id, published)
            if missing:
                log.warning(
                    "cluster.republish", conversation_id=conversation.id, events=len(missing)
                )
                bus.publish(missing)
                await bus.confirmed(bus.mark())

        conversation_deps.repair = repair
        asker = router
    accounts = ActorSystem(
        "accounts",
        lambda key: AccountActor(key, store, lambda a: holder["server"].account_changed(a)),
        ACCOUNT_SPEC,
        on_escalate=on_escalate("accounts"),
    )

    async def report(conversation_id: str, command: c.ReportDelivery) -> Any:
        return await asker.ask(conversation_id, command, timeout=10.0)

    outbox_deps = OutboxDeps(
        store=store,
        channels=channels,
        report=report,
        retry_at=lambda account_id, when: holder["server"].outbox_ready(account_id, when),
        may_deliver=cluster.may_deliver_outbox if cluster is not None else None,
    )
    outboxes = ActorSystem(
        "outboxes",
        lambda key: OutboxActor(key, outbox_deps),
        OUTBOX_SPEC,
        on_escalate=on_escalate("outboxes"),
    )
    blobs = FileBlobStore(settings.data_dir / "blobs")
    whatsapp = WhatsAppChannel(blobs)
    channels["whatsapp"] = whatsapp
    workspace = Workspace(
        store,
        asker,
        accounts,
        hub,
        presence,
        attachments=blobs,
        log=cluster.bus if cluster is not None else None,
    )
    workspace.template_review = whatsapp.submit_template
    channels["email"] = EmailChannel(store, blobs)

    async def save_sync_state(account_id: str, state: dict[str, Any]) -> None:
        account = await accounts.ask(account_id, SaveSyncState("imap", state), timeout=10.0)
        workspace.remember_account(account)  # no signal: agents need not hear of each UID

    async def set_account_status(account_id: str, status: Any, reason: str) -> None:
        await accounts.ask(account_id, SetAccountStatus(status, reason), timeout=10.0)

    email_intakes = EmailIntakes(
        IntakeDeps(
            store=store,
            blobs=blobs,
            deliver=workspace.intake,
            save_state=save_sync_state,
            set_status=set_account_status,
            may_run=cluster.may_deliver_outbox if cluster is not None else None,
        )
    )
    workspace.account_listeners.append(email_intakes.account_saved)
    gateway = SocketGateway(sio, workspace, hub)
    server = Server(
        settings=settings,
        store=store,
        hub=hub,
        timers=timers,
        conversations=conversations,
        accounts=accounts,
        outboxes=outboxes,
        workspace=workspace,
        gateway=gateway,
        channels=channels,
        blobs=blobs,
        cluster=cluster,
        email_intakes=email_intakes,
    )
    if settings.assistant:
        # The built-in analyzer is rule-based; a model-backed one implements the same
        # `Analyzer` protocol (server/domain/analysis.py) and plugs in here.
        server.assistant = Assistant(workspace, RuleBasedAnalyzer())
        workspace.inbound_listeners.append(server.assistant.on_inbound)
    if cluster is not None:
        coordinator = cluster.coordinator
        workspace.assignment_lock = lambda account_id: coordinator.locked(f"assign:{account_id}")
    holder["server"] = server
    return server


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def build_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_upload + 65_536)
    sio = create_server()
    sio.attach(app)
    server = build_server(settings, sio)
    app[SERVER_KEY] = server
    http_api.register(app, server.workspace, server.blobs, settings)
    whatsapp = server.channels["whatsapp"]
    assert isinstance(whatsapp, WhatsAppChannel)
    whatsapp_webhooks.register(app, server.workspace, whatsapp)
    http_groups.register(app, server.workspace, whatsapp)
    email_routes.add_routes(app.router)

    async def healthz(request: web.Request) -> web.Response:
        return _json({"status": "alive", "uptime": round(time.time() - server.started_at, 1)})

    async def readyz(request: web.Request) -> web.Response:
        store_ok = server.ready and await server.store.ping()
        body = {
            "status": "ready" if store_ok else ("draining" if server.draining else "not_ready"),
            "store": store_ok,
            "actors": server.ready,
            "connections": server.gateway.connections(),
            "active_conversations": server.conversations.active_count(),
        }
        return _json(body, 200 if store_ok else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if server.cluster is not None and server.cluster.router is not None:
        from server.cluster import internal_api

        internal_api.register(app, server.cluster.router, settings.cluster_secret)
    _serve_web_client(app, settings.web_root)
    if settings.demo:
        from server.demo import register_routes

        register_routes(app, server)

    async def on_startup(_: web.Application) -> None:
        await server.start()
        if settings.demo:
            from server.demo import start_demo

            await start_demo(server, app)

    async def on_shutdown(_: web.Application) -> None:
        server.ready = False
        server.draining = True
        await sio.shutdown()

    async def on_cleanup(_: web.Application) -> None:
        await server.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def _serve_web_client(app: web.Application, root: Path) -> None:
    index = root / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        if not index.exists():
            return web.Response(
                text="The web client is not built: run scripts/install.sh (it builds web-client/).",
                status=503,
            )
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", page)
    if (root / "assets").is_dir():
        app.router.add_static("/assets/", root / "assets", append_version=False)
    for extra in ("favicon.svg", "favicon.ico"):
        if (root / extra).exists():
            app.router.add_get(f"/{extra}", _file_handler(root / extra))


def _file_handler(path: Path) -> Any:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path)

    return serve


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)

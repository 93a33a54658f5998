"""Socket.IO: the live door for agents. Authenticates at connect, puts each connection in its
rooms (its user, every account it may see, conversations it opens), relays events from the hub
and turns commands (with acks) into workspace calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
import structlog

from server.domain.errors import DomainError, Invalid
from server.domain.models import ChannelAccount, User
from server.domain.permissions import can_view
from server.realtime.hub import WORKSPACE_ROOM, Bus, account_room, conversation_room, user_room
from server.realtime.presence import Viewer
from server.transports.auth import token_from_environ
from server.transports.eio_queue import LeanAsyncServer
from server.transports.fanout import DirectManager
from server.workspace import Workspace, expected_assignee

log = structlog.get_logger(__name__)

Ack = dict[str, Any]
Handler = Callable[[User, str, dict[str, Any]], Awaitable[Ack]]

# What `token_from_environ` reads; a connect to another namespace on the same Engine.IO
# connection authenticates again from the same environ.
_AUTH_ENVIRON_KEYS = ("HTTP_COOKIE", "HTTP_AUTHORIZATION")


class _OrjsonCodec:
    """python-socketio takes a module-like object with stdlib `dumps`/`loads`."""

    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return orjson.loads(data)


def create_server(**kwargs: Any) -> socketio.AsyncServer:
    return LeanAsyncServer(
        async_mode="aiohttp",
        client_manager=DirectManager(),
        json=_OrjsonCodec,
        cors_allowed_origins=[],
        max_http_buffer_size=1_000_000,
        **kwargs,
    )


class SocketGateway:
    def __init__(self, sio: socketio.AsyncServer, workspace: Workspace, hub: Bus) -> None:
        self.sio = sio
        self.workspace = workspace
        self.hub = hub
        self._users: dict[str, User] = {}
        self._session_started: dict[str, float] = {}  # sid -> its login's creation time
        self._closing: set[asyncio.Future[None]] = set()
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        commands: dict[str, Handler] = {
            "resume": self._resume,
            "conversation.join": self._join,
            "conversation.leave": self._leave,
            "typing": self._typing,
            "message.send": self._send,
            "conversation.assign": self._assign,
            "conversation.status": self._status,
            "conversation.snooze": self._snooze,
            "conversation.tag": self._tag,
            "conversation.untag": self._untag,
        }
        for name, handler in commands.items():
            sio.on(name, self._command(name, handler))
        hub.attach(self)
        workspace.account_listeners.append(self.refresh_rooms_for_account)
        workspace.revocation_listeners.append(self._sessions_revoked)

    async def emit(self, event: str, data: Any, room: str, skip_sid: str | None = None) -> None:
        await self.sio.emit(event, data, room=room, skip_sid=skip_sid)

    def connections(self) -> int:
        return len(self._users)

    async def refresh_rooms_for_account(self, account: ChannelAccount) -> None:
        """Authorizations changed: fix every connection's membership of that account's room,
        so a user taken off an account stops receiving its events at once."""
        account_id = account.id
        for sid, user in self._users.items():
            fresh = self.workspace.known_user(user)
            if can_view(fresh, account):
                await self.sio.enter_room(sid, account_room(account_id))
            else:
                await self.sio.leave_room(sid, account_room(account_id))

    # ------------------------------------------------------------------ lifecycle
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = token_from_environ(environ, auth)
        _slim_environ(environ)
        try:
            user, started = await self.workspace.authenticate_session(token)
        except DomainError as refusal:
            log.info("socket.refused", code=refusal.code)
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": refusal.code, "message": refusal.message}
            ) from None
        self._users[sid] = user
        self._session_started[sid] = started
        await self.sio.enter_room(sid, user_room(user.id))
        await self.sio.enter_room(sid, WORKSPACE_ROOM)
        for account_id in self.workspace.visible_account_ids(user):
            await self.sio.enter_room(sid, account_room(account_id))
        if await self.workspace.presence.connect(user.id, sid):
            self._presence(user.id, "online")
        log.info("socket.connected", user_id=user.id, sid=sid)

    def _sessions_revoked(self, user: User) -> None:
        """A user's sessions were revoked: close the sockets opened with those sessions."""
        for sid, connected in list(self._users.items()):
            if connected.id == user.id and not self._session_current(sid, user.id):
                log.info("socket.session_revoked", user_id=user.id, sid=sid)
                task = asyncio.ensure_future(self.sio.disconnect(sid))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def _session_current(self, sid: str, user_id: str) -> bool:
        return self.workspace.session_valid(user_id, self._session_started.get(sid, 0.0))

    async def _disconnect(self, sid: str, *args: Any) -> None:
        self._session_started.pop(sid, None)
        user = self._users.pop(sid, None)
        if user is None:
            return
        offline, viewed = await self.workspace.presence.disconnect(user.id, sid)
        for conversation_id in viewed:
            await self._viewing(conversation_id)
        if offline:
            self._presence(user.id, "offline")

    def _presence(self, user_id: str, status: str) -> None:
        payload = {"user_id": user_id, "status": status}
        for account in self.workspace.all_accounts():
            self.hub.signal("presence.updated", payload, account_room(account.id))

    async def _viewing(self, conversation_id: str) -> list[dict[str, str]]:
        viewers = [
            {"user_id": v.user_id, "name": v.name}
            for v in await self.workspace.presence.viewers(conversation_id)
        ]
        self.hub.signal(
            "viewing",
            {"conversation_id": conversation_id, "viewers": viewers},
            conversation_room(conversation_id),
        )
        return viewers

    # ------------------------------------------------------------------ commands
    def _command(self, name: str, handler: Handler) -> Callable[..., Awaitable[Ack]]:
        async def run(sid: str, data: Any = None) -> Ack:
            user = self._users.get(sid)
            if user is None or not self._session_current(sid, user.id):
                return _error("unauthenticated", "Connect again")
            user = self.workspace.known_user(user)
            if data is None:
                data = {}
            if not isinstance(data, dict):
                return _error("invalid", "The payload must be an object")
            try:
                result = await handler(user, sid, data)
            except DomainError as refusal:
                log.info("socket.command_refused", command=name, code=refusal.code, user_id=user.id)
                return _error(refusal.code, refusal.message)
            except Exception:
                log.exception("socket.command_failed", command=name, user_id=user.id)
                return _error("internal", "Internal error")
            return {"ok": True, **result}

        return run

    async def _resume(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        cursor = data.get("cursor", 0)
        if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
            raise Invalid("cursor must be a non-negative integer")
        resume = await self.workspace.resume(user, cursor)
        if resume.resync:
            return {"resync": True, "cursor": resume.cursor}
        return {"events": [e.wire() for e in resume.events], "cursor": resume.cursor}

    async def _join(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation_id = _str(data, "conversation_id")
        await self.workspace.conversation_for(user, conversation_id)
        await self.sio.enter_room(sid, conversation_room(conversation_id))
        await self.workspace.presence.view(conversation_id, Viewer(user.id, user.name), sid)
        return {"viewers": await self._viewing(conversation_id)}

    async def _leave(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation_id = _str(data, "conversation_id")
        await self.sio.leave_room(sid, conversation_room(conversation_id))
        await self.workspace.presence.unview(conversation_id, sid)
        return {"viewers": await self._viewing(conversation_id)}

    async def _typing(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation_id = _str(data, "conversation_id")
        _, account = await self.workspace.conversation_for(user, conversation_id)
        payload = {
            "conversation_id": conversation_id,
            "user_id": user.id,
            "name": user.name,
            "typing": bool(data.get("typing", True)),
        }
        # To the whole account: agents with only the list open still see who is replying.
        self.hub.signal("typing", payload, account_room(account.id), skip_sid=sid)
        return {}

    async def _send(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        return await self.workspace.post_message(
            user,
            _str(data, "conversation_id"),
            text=data.get("text") or "",
            html=data.get("html") or "",
            note=bool(data.get("note", False)),
            attachment_ids=_list(data, "attachments"),
            then=data.get("then"),
            idempotency_key=data.get("idempotency_key"),
        )

    async def _assign(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation = await self.workspace.assign(
            user,
            _str(data, "conversation_id"),
            user_id=data.get("user_id"),
            team_id=data.get("team_id"),
            idempotency_key=data.get("idempotency_key"),
            expected=expected_assignee(data.get("expected")),
        )
        return {"conversation": conversation.to_dict()}

    async def _status(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation = await self.workspace.set_status(
            user, _str(data, "conversation_id"), _str(data, "status")
        )
        return {"conversation": conversation.to_dict()}

    async def _snooze(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        until = data.get("until")
        if until is not None and not isinstance(until, int | float):
            raise Invalid("until must be a number of seconds since the epoch")
        conversation = await self.workspace.snooze(
            user, _str(data, "conversation_id"), preset=data.get("preset"), until=until
        )
        return {"conversation": conversation.to_dict()}

    async def _tag(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation = await self.workspace.tag(
            user, _str(data, "conversation_id"), tag_id=data.get("tag_id"), name=data.get("name")
        )
        return {"conversation": conversation.to_dict()}

    async def _untag(self, user: User, sid: str, data: dict[str, Any]) -> Ack:
        conversation = await self.workspace.untag(
            user, _str(data, "conversation_id"), _str(data, "tag_id")
        )
        return {"conversation": conversation.to_dict()}


def _slim_environ(environ: dict[str, Any]) -> None:
    """python-socketio keeps each connection's environ until it disconnects: the request's
    headers copied into ~25 keys and the aiohttp request itself (~1.5 KB per connection). Only
    the credentials are read again; rebuilt rather than deleted from, as dicts never shrink."""
    kept = {key: environ[key] for key in _AUTH_ENVIRON_KEYS if key in environ}
    environ.clear()
    environ.update(kept)


def _error(code: str, message: str) -> Ack:
    return {"ok": False, "error": {"code": code, "message": message}}


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise Invalid(f"{name} is required")
    return value


def _list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{name} must be a list of ids")
    return list(value)

"""Node-to-node HTTP: a forwarded conversation command, signed with the cluster secret."""

from __future__ import annotations

import hmac

import orjson
import structlog
from aiohttp import web

from server.actors.runtime import ActorError
from server.cluster.codec import decode_command, encode_reply
from server.cluster.router import AUTH_HEADER, FORWARD_PATH, ConversationRouter, NotOwner, sign
from server.domain.errors import DomainError

log = structlog.get_logger(__name__)


def register(app: web.Application, router: ConversationRouter, secret: str) -> None:
    async def ask(request: web.Request) -> web.Response:
        body = await request.read()
        presented = request.headers.get(AUTH_HEADER, "")
        if not hmac.compare_digest(sign(secret, body), presented):
            log.warning("internal.bad_signature", peer=request.remote)
            return _json({"error": "bad signature"}, 401)
        try:
            data = orjson.loads(body)
            command = decode_command(data["command"])
            key, timeout = str(data["key"]), float(data["timeout"])
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"error": f"malformed: {exc}"}, 400)
        try:
            reply = await router.handle_forwarded(key, command, timeout)
        except NotOwner:
            return _json({"not_owner": True}, 409)
        except ActorError as exc:
            return _json({"error": str(exc)}, 503)
        if not isinstance(reply, DomainError):
            from server.domain.commands import Reply

            assert isinstance(reply, Reply)
        return _json({"reply": encode_reply(reply)}, 200)

    app.router.add_post(FORWARD_PATH, ask)


def _json(data: object, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")

"""The API channel's door: an external system posts its customers' messages and delivery
statuses here, authenticated by the account's channel token (docs/api.md, "API channel")."""

from __future__ import annotations

import structlog
from aiohttp import web

from server.domain.errors import Invalid, NotFound, Unauthenticated
from server.domain.models import ChannelAccount, ChannelKind
from server.transports.api_channel import InboundError, parse_inbound, token_matches
from server.transports.http_common import context, json_body, json_response

log = structlog.get_logger("server.http.channels")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/channels/api/{account_id}/messages", inbound_message)
    router.add_post("/channels/api/{account_id}/statuses", delivery_status)


def _authorized_account(request: web.Request) -> ChannelAccount:
    account_id = request.match_info["account_id"]
    try:
        account = context(request).workspace.account(account_id)
    except NotFound:
        raise NotFound(f"No API account {account_id}") from None
    if account.kind != ChannelKind.API:
        raise NotFound(f"No API account {account_id}")
    authorization = request.headers.get("Authorization", "")
    scheme, _, presented = authorization.partition(" ")
    presented = presented.strip()
    if (
        scheme.lower() != "bearer"
        or not presented
        or not token_matches(account.secrets.get("token", ""), presented)
    ):
        log.warning("channel.bad_token", account_id=account.id, given=bool(presented))
        raise Unauthenticated("The channel token is missing or wrong")
    return account


async def inbound_message(request: web.Request) -> web.Response:
    """Hand in a customer's message. 201 once stored; 200 for a redelivered `message_id`."""
    account = _authorized_account(request)
    data = await json_body(request)
    try:
        inbound = parse_inbound(data)
    except InboundError as exc:
        raise Invalid(str(exc)) from None
    reply = await context(request).workspace.intake(account.id, inbound)
    message_id = reply.message_ids[0] if reply.message_ids else None
    return json_response(
        {"message_id": message_id, "conversation_id": reply.conversation.id},
        status=200 if reply.duplicate else 201,
    )


async def delivery_status(request: web.Request) -> web.Response:
    """Report that a reply was delivered, read or failed."""
    account = _authorized_account(request)
    data = await json_body(request)
    message_id, status, reason = data.get("message_id"), data.get("status"), data.get("reason", "")
    if not isinstance(message_id, str) or not message_id or len(message_id) > 256:
        raise Invalid("message_id must be a non-empty string of at most 256 characters")
    if status not in ("delivered", "read", "failed"):
        raise Invalid("status must be delivered, read or failed")
    if not isinstance(reason, str):
        raise Invalid("reason must be a string")
    await context(request).workspace.report_delivery(account.id, message_id, status, reason)
    return json_response({"ok": True})

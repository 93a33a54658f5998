"""HTTP routes for WhatsApp groups (docs/api.md, "WhatsApp groups"). Thin adapters over
`server.transports.whatsapp.groups.GroupService`; every change to a group is a conversation
change, so agents see it through the usual `conversation.updated` / `message.created` events.
"""

from __future__ import annotations

from aiohttp import web

from server.domain.errors import Invalid
from server.transports.http_common import current_user, json_body, json_response
from server.transports.whatsapp.channel import WhatsAppChannel
from server.transports.whatsapp.groups import GraphGroups, GroupService
from server.workspace import Workspace

SERVICE = web.AppKey("whatsapp_groups", GroupService)


def register(app: web.Application, workspace: Workspace, channel: WhatsAppChannel) -> None:
    app[SERVICE] = GroupService(workspace, GraphGroups(channel.client))
    router = app.router
    router.add_get("/api/groups/senders", senders)
    router.add_get("/api/groups/recipients", recipients)
    router.add_post("/api/groups", create_group)
    router.add_post("/api/accounts/{id}/whatsapp/groups/eligibility", refresh_eligibility)
    base = "/api/conversations/{id}/group"
    router.add_patch(base, update_group)
    router.add_delete(base, delete_group)
    router.add_get(base + "/invite-link", get_invite_link)
    router.add_post(base + "/invite-link", reset_invite_link)
    router.add_delete(base + "/participants/{wa_id}", remove_participant)
    router.add_get(base + "/join-requests", list_join_requests)
    router.add_post(base + "/join-requests/{request_id}/approve", approve_join_request)
    router.add_post(base + "/join-requests/{request_id}/reject", reject_join_request)
    router.add_post(base + "/invites", invite)
    router.add_get(base + "/invite-candidates", invite_candidates)


def _service(request: web.Request) -> GroupService:
    return request.app[SERVICE]


def _id(request: web.Request) -> str:
    return request.match_info["id"]


async def senders(request: web.Request) -> web.Response:
    """The numbers the user may create groups on (eligible, with the permission)."""
    user = await current_user(request)
    rows = [
        {
            "account_id": account.id,
            "name": account.name,
            "phone": account.settings.get("display_phone_number", ""),
        }
        for account in _service(request).senders(user)
    ]
    return json_response({"senders": rows})


async def recipients(request: web.Request) -> web.Response:
    """Autocomplete for invite numbers: contacts, customers and branches by name or number."""
    user = await current_user(request)
    rows = await _service(request).recipients(user, request.query.get("q", ""))
    return json_response({"recipients": rows})


async def create_group(request: web.Request) -> web.Response:
    """Ask WhatsApp to create a group; its conversation starts at once (state `creating`)."""
    user = await current_user(request)
    data = await json_body(request)
    account_id = data.get("account_id")
    if not isinstance(account_id, str) or not account_id:
        raise Invalid("Pick the WhatsApp number that hosts the group (account_id)")
    conversation = await _service(request).create(
        user,
        account_id=account_id,
        subject=data.get("subject"),
        description=data.get("description", ""),
        join_approval=data.get("join_approval", False),
    )
    return json_response({"conversation": conversation.to_dict()}, status=201)


async def refresh_eligibility(request: web.Request) -> web.Response:
    """Admin: ask Meta whether the number is an Official Business Account."""
    user = await current_user(request)
    account = await _service(request).refresh_eligibility(user, _id(request))
    return json_response({"account": account.public()})


async def update_group(request: web.Request) -> web.Response:
    """Change the subject and/or description."""
    user = await current_user(request)
    data = await json_body(request)
    conversation = await _service(request).update_settings(
        user, _id(request), subject=data.get("subject"), description=data.get("description")
    )
    return json_response({"conversation": conversation.to_dict()})


async def delete_group(request: web.Request) -> web.Response:
    """Dissolve the group in WhatsApp; the conversation stays as a read-only archive."""
    user = await current_user(request)
    conversation = await _service(request).delete(user, _id(request))
    return json_response({"conversation": conversation.to_dict()})


async def get_invite_link(request: web.Request) -> web.Response:
    user = await current_user(request)
    conversation = await _service(request).invite_link(user, _id(request), reset=False)
    assert conversation.group is not None
    return json_response(
        {"invite_link": conversation.group.invite_link, "conversation": conversation.to_dict()}
    )


async def reset_invite_link(request: web.Request) -> web.Response:
    """A new invite link; the old one stops working."""
    user = await current_user(request)
    conversation = await _service(request).invite_link(user, _id(request), reset=True)
    assert conversation.group is not None
    return json_response(
        {"invite_link": conversation.group.invite_link, "conversation": conversation.to_dict()}
    )


async def remove_participant(request: web.Request) -> web.Response:
    user = await current_user(request)
    conversation = await _service(request).remove_participant(
        user, _id(request), request.match_info["wa_id"]
    )
    return json_response({"conversation": conversation.to_dict()})


async def list_join_requests(request: web.Request) -> web.Response:
    """The pending join requests, refreshed from WhatsApp."""
    user = await current_user(request)
    conversation = await _service(request).join_requests(user, _id(request))
    assert conversation.group is not None
    return json_response(
        {
            "join_requests": [r.to_dict() for r in conversation.group.join_requests],
            "conversation": conversation.to_dict(),
        }
    )


async def _answer(request: web.Request, approve: bool) -> web.Response:
    user = await current_user(request)
    conversation = await _service(request).answer_join_request(
        user, _id(request), request.match_info["request_id"], approve=approve
    )
    return json_response({"conversation": conversation.to_dict()})


async def approve_join_request(request: web.Request) -> web.Response:
    return await _answer(request, True)


async def reject_join_request(request: web.Request) -> web.Response:
    return await _answer(request, False)


async def invite(request: web.Request) -> web.Response:
    """Send the invite template (with the group's link) to numbers and/or 1:1 conversations;
    one result per recipient."""
    user = await current_user(request)
    data = await json_body(request)
    results = await _service(request).invite(
        user,
        _id(request),
        template_id=data.get("template_id"),
        phones=data.get("phones") or [],
        conversation_ids=data.get("conversation_ids") or [],
        template_params=data.get("template_params"),
    )
    return json_response({"results": results})


async def invite_candidates(request: web.Request) -> web.Response:
    """1:1 conversations on the group's number to invite from, by name or number, paginated."""
    user = await current_user(request)
    rows, cursor = await _service(request).invite_candidates(
        user, _id(request), query=request.query.get("q", ""), cursor=request.query.get("cursor")
    )
    return json_response({"candidates": rows, "cursor": cursor})

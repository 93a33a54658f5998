"""A fake of Meta's Graph API for WhatsApp (Cloud API), and Meta's side of its webhooks.

Checks as the real API does: bearer token (401, OAuthException code 190), the phone number id
and WABA id, `messaging_product`, the `to` number, the type's object (400, code 100). Answers
`{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.fakes.base import FakeService

_TO = re.compile(r"^\+?[1-9][0-9]{6,14}$")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
TYPES = ("text", "template", "image", "video", "audio", "document", "sticker")


def graph_error(
    code: int, message: str, details: str = "", kind: str = "OAuthException"
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(8),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


@dataclass
class Received:
    method: str
    path: str
    authorization: str
    body: Any = None
    files: dict[str, bytes] = field(default_factory=dict)


class FakeGraph(FakeService):
    def __init__(
        self,
        *,
        phone_number_id: str = "106540352242922",
        waba_id: str = "102290129340398",
        access_token: str = "EAAG-fake-access-token",
        app_secret: str = "fake-app-secret-123",
        business_number: str = "15550001111",
    ) -> None:
        super().__init__()
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.access_token = access_token
        self.app_secret = app_secret
        self.business_number = business_number
        self.received: list[Received] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        # Groups: the number's Official Business Account status, the groups by id, and where
        # the group webhooks go (set by the test once the account exists).
        self.official_business_account = True
        self.groups: dict[str, FakeGroup] = {}
        self.webhook_url = ""
        self.webhooks_sent: list[tuple[int, dict[str, Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        router = self.app.router
        router.add_post("/{version}/{node}/groups", self._create_group)
        router.add_get("/{version}/{node}/invite_link", self._invite_link)
        router.add_post("/{version}/{node}/invite_link", self._invite_link)
        router.add_delete("/{version}/{node}/participants", self._remove_participants)
        router.add_get("/{version}/{node}/join_requests", self._join_requests)
        router.add_post("/{version}/{node}/join_requests", self._answer_join_requests)
        router.add_delete("/{version}/{node}/join_requests", self._answer_join_requests)
        router.add_delete("/{version}/{node}", self._delete_group)
        router.add_post("/{version}/{node}/messages", self._messages)
        router.add_post("/{version}/{node}/media", self._upload)
        router.add_post("/{version}/{node}/message_templates", self._create_template)
        router.add_get("/{version}/{node}/message_templates", self._list_templates)
        router.add_get("/download/{media_id}", self._download)
        router.add_get("/{version}/{node}", self._media_info)
        router.add_post("/{version}/{node}", self._edit_template)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Bodies of the messages our server sent."""
        return [r.body for r in self.received if r.path.endswith("/messages")]

    # ------------------------------------------------------------------ API
    def _authorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response(
                graph_error(190, "Invalid OAuth access token - Cannot parse access token"),
                status=401,
            )
        return None

    def _node(self, request: web.Request, expected: str) -> web.Response | None:
        if request.match_info["node"] != expected:
            return web.json_response(
                graph_error(
                    100,
                    f"Unsupported post request. Object with ID '{request.match_info['node']}'"
                    " does not exist",
                    kind="GraphMethodException",
                ),
                status=400,
            )
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        refused = self._authorized(request) or self._node(request, self.phone_number_id)
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.received.append(
            Received("POST", request.path, request.headers.get("Authorization", ""), body)
        )
        if refused is not None:
            return refused
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        problem = _check_message(body)
        if problem:
            return web.json_response(
                graph_error(100, "(#100) Invalid parameter", problem), status=400
            )
        assert isinstance(body, dict)
        if body.get("recipient_type") == "group":
            group = self.groups.get(body["to"])
            if group is None or group.deleted or group.suspended:
                return web.json_response(
                    graph_error(131009, "(#131009) Parameter value is not valid", "group"),
                    status=400,
                )
            return web.json_response(
                {
                    "messaging_product": "whatsapp",
                    "messages": [{"id": "wamid." + secrets.token_urlsafe(24)}],
                }
            )
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"].lstrip("+")}],
                "messages": [{"id": "wamid." + secrets.token_urlsafe(24)}],
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        refused = self._authorized(request) or self._node(request, self.phone_number_id)
        form = await request.post()
        files = {k: v.file.read() for k, v in form.items() if isinstance(v, web.FileField)}
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        self.received.append(
            Received("POST", request.path, request.headers.get("Authorization", ""), fields, files)
        )
        if refused is not None:
            return refused
        if fields.get("messaging_product") != "whatsapp" or "file" not in files:
            return web.json_response(
                graph_error(100, "(#100) Param file and messaging_product are required"),
                status=400,
            )
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self.media[media_id] = (files["file"], fields.get("type", "application/octet-stream"))
        return web.json_response({"id": media_id})

    async def _media_info(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        media_id = request.match_info["node"]
        if media_id == self.phone_number_id:
            self.received.append(Received("GET", request.path, "", dict(request.query)))
            return web.json_response(
                {
                    "id": self.phone_number_id,
                    "display_phone_number": self.business_number,
                    "is_official_business_account": self.official_business_account,
                }
            )
        if media_id not in self.media:
            return web.json_response(
                graph_error(100, f"Unsupported get request. Object with ID '{media_id}'"),
                status=400,
            )
        data, mime = self.media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/download/{media_id}",
                "mime_type": mime,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        data, mime = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime)

    async def _create_template(self, request: web.Request) -> web.Response:
        refused = self._authorized(request) or self._node(request, self.waba_id)
        body = await request.json()
        self.received.append(
            Received("POST", request.path, request.headers.get("Authorization", ""), body)
        )
        if refused is not None:
            return refused
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        name = body.get("name", "")
        if not _TEMPLATE_NAME.match(name) or body.get("category") not in (
            "UTILITY",
            "MARKETING",
            "AUTHENTICATION",
        ):
            return web.json_response(
                graph_error(100, "Invalid parameter", "name or category is invalid"), status=400
            )
        if not body.get("language") or not isinstance(body.get("components"), list):
            return web.json_response(
                graph_error(100, "Invalid parameter", "language and components are required"),
                status=400,
            )
        template_id = str(secrets.randbelow(10**15) + 10**15)
        self.templates[template_id] = {**body, "id": template_id, "status": "PENDING"}
        return web.json_response(
            {"id": template_id, "status": "PENDING", "category": body["category"]}
        )

    async def _edit_template(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        body = await request.json()
        self.received.append(
            Received("POST", request.path, request.headers.get("Authorization", ""), body)
        )
        if refused is not None:
            return refused
        if request.match_info["node"] in self.groups:
            return self._update_group(request.match_info["node"], body)
        template = self.templates.get(request.match_info["node"])
        if template is None:
            return web.json_response(graph_error(100, "Invalid parameter"), status=400)
        template.update(components=body["components"], status="PENDING")
        return web.json_response({"success": True})

    async def _list_templates(self, request: web.Request) -> web.Response:
        refused = self._authorized(request) or self._node(request, self.waba_id)
        if refused is not None:
            return refused
        data = [
            {"id": t["id"], "name": t["name"], "status": t["status"], "language": t["language"]}
            for t in self.templates.values()
        ]
        return web.json_response({"data": data, "paging": {"cursors": {}}})

    # ------------------------------------------------------------------ groups
    async def _group_request(
        self, request: web.Request
    ) -> tuple[FakeGroup | None, Any, web.Response | None]:
        """The group a request names, its JSON body, or the refusal to answer."""
        try:
            body = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        self.received.append(
            Received(request.method, request.path, request.headers.get("Authorization", ""), body)
        )
        refused = self._authorized(request) or self._scripted()
        if refused is not None:
            return None, body, refused
        group = self.groups.get(request.match_info["node"])
        if group is None or group.deleted:
            return None, body, _unknown_node(request.match_info["node"])
        if body is not None and body.get("messaging_product") != "whatsapp":
            return None, body, _invalid("messaging_product must be whatsapp")
        return group, body, None

    async def _create_group(self, request: web.Request) -> web.Response:
        refused = self._authorized(request) or self._node(request, self.phone_number_id)
        body = await request.json()
        self.received.append(
            Received("POST", request.path, request.headers.get("Authorization", ""), body)
        )
        if refused is not None:
            return refused
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        if not self.official_business_account:
            return web.json_response(
                graph_error(131215, "Groups are only available to Official Business Accounts"),
                status=400,
            )
        subject = body.get("subject")
        if body.get("messaging_product") != "whatsapp" or not isinstance(subject, str):
            return _invalid("messaging_product and subject are required")
        if not subject.strip() or len(subject) > 128 or len(body.get("description", "")) > 2048:
            return _invalid("subject must be 1-128 and description at most 2048 characters")
        mode = body.get("join_approval_mode", "auto_approve")
        if mode not in ("auto_approve", "approval_required"):
            return _invalid("join_approval_mode must be auto_approve or approval_required")
        request_id = secrets.token_hex(12)
        group = FakeGroup(
            id=secrets.token_hex(16),
            subject=subject.strip(),
            description=body.get("description", ""),
            approval=mode == "approval_required",
            invite_link=_new_link(),
        )
        self.groups[group.id] = group
        self._emit(
            "group_lifecycle_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group.id,
                "type": "group_create",
                "request_id": request_id,
                "subject": group.subject,
                "invite_link": group.invite_link,
                "join_approval_mode": mode,
            },
        )
        return web.json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _invite_link(self, request: web.Request) -> web.Response:
        group, _, refused = await self._group_request(request)
        if refused is not None:
            return refused
        assert group is not None
        if request.method == "POST":
            group.invite_link = _new_link()
        return web.json_response(
            {"messaging_product": "whatsapp", "invite_link": group.invite_link}
        )

    def _update_group(self, group_id: str, body: dict[str, Any]) -> web.Response:
        group = self.groups[group_id]
        if group.deleted:
            return _unknown_node(group_id)
        item: dict[str, Any] = {
            "timestamp": str(int(time.time())),
            "group_id": group_id,
            "type": "group_settings_update",
            "request_id": secrets.token_hex(8),
        }
        if "subject" in body:
            if not str(body["subject"]).strip() or len(str(body["subject"])) > 128:
                return _invalid("subject must be 1-128 characters")
            group.subject = str(body["subject"])
            item["group_subject"] = {"text": group.subject, "update_successful": True}
        if "description" in body:
            group.description = str(body["description"])
            item["group_description"] = {"text": group.description, "update_successful": True}
        self._emit("group_settings_update", item)
        return web.json_response({"success": True})

    async def _remove_participants(self, request: web.Request) -> web.Response:
        group, body, refused = await self._group_request(request)
        if refused is not None:
            return refused
        assert group is not None
        users = [
            str(p.get("user")) for p in (body or {}).get("participants", []) if isinstance(p, dict)
        ]
        if not users or any(u not in group.members for u in users):
            return _invalid("participants must be members of the group")
        for user in users:
            del group.members[user]
        self._emit(
            "group_participants_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group.id,
                "type": "group_participants_remove",
                "request_id": secrets.token_hex(8),
                "initiated_by": "business",
                "removed_participants": [{"wa_id": u} for u in users],
            },
        )
        return web.json_response({"success": True})

    async def _join_requests(self, request: web.Request) -> web.Response:
        group, _, refused = await self._group_request(request)
        if refused is not None:
            return refused
        assert group is not None
        data = [
            {"join_request_id": rid, "wa_id": wa_id, "creation_timestamp": str(at)}
            for rid, (wa_id, _, at) in group.requests.items()
        ]
        return web.json_response({"data": data, "paging": {"cursors": {}}})

    async def _answer_join_requests(self, request: web.Request) -> web.Response:
        group, body, refused = await self._group_request(request)
        if refused is not None:
            return refused
        assert group is not None
        ids = (body or {}).get("join_requests") or []
        if not ids or any(rid not in group.requests for rid in ids):
            return _invalid("join_requests must name pending requests")
        if request.method == "POST" and len(group.members) + 1 + len(ids) > MAX_GROUP:
            return web.json_response(
                graph_error(131216, "The group is full", "at most 8 participants"), status=400
            )
        for rid in ids:
            wa_id, name, _ = group.requests.pop(rid)
            if request.method == "POST":
                self._add_member(group, wa_id, name, reason="join_request")
        return web.json_response({"success": True})

    async def _delete_group(self, request: web.Request) -> web.Response:
        group, _, refused = await self._group_request(request)
        if refused is not None:
            return refused
        assert group is not None
        group.deleted = True
        self._emit(
            "group_lifecycle_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group.id,
                "type": "group_delete",
                "request_id": secrets.token_hex(8),
            },
        )
        return web.json_response({"success": True})

    def _add_member(self, group: FakeGroup, wa_id: str, name: str, *, reason: str) -> None:
        group.members[wa_id] = name
        self._emit(
            "group_participants_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group.id,
                "type": "group_participants_add",
                "reason": reason,
                "added_participants": [{"wa_id": wa_id, "profile": {"name": name}}],
            },
        )

    def _emit(self, field_name: str, item: dict[str, Any]) -> None:
        """Send a group webhook to `webhook_url` shortly after answering (as Meta does)."""
        if not self.webhook_url:
            return
        payload = self.group_webhook(field_name, item)

        async def later() -> None:
            await asyncio.sleep(0.05)
            status, _ = await self.deliver(self.webhook_url, payload)
            self.webhooks_sent.append((status, payload))

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until every scheduled webhook was delivered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    # What WhatsApp users do (the test plays them): each returns the webhook Meta would send,
    # or None when WhatsApp would not let it happen.
    def join(self, group_id: str, wa_id: str, name: str) -> dict[str, Any] | None:
        """Someone opens the invite link: joins, or asks to (approval mode); None when full."""
        group = self.groups[group_id]
        if group.deleted or len(group.members) + 1 >= MAX_GROUP:
            return None
        if group.approval:
            request_id = secrets.token_hex(8)
            group.requests[request_id] = (wa_id, name, int(time.time()))
            return self.group_webhook(
                "group_participants_update",
                {
                    "timestamp": str(int(time.time())),
                    "group_id": group_id,
                    "type": "group_join_request_created",
                    "join_request_id": request_id,
                    "wa_id": wa_id,
                    "profile": {"name": name},
                },
            )
        group.members[wa_id] = name
        return self.group_webhook(
            "group_participants_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group_id,
                "type": "group_participants_add",
                "reason": "invite_link",
                "added_participants": [{"wa_id": wa_id, "profile": {"name": name}}],
            },
        )

    def leave(self, group_id: str, wa_id: str) -> dict[str, Any]:
        self.groups[group_id].members.pop(wa_id, None)
        return self.group_webhook(
            "group_participants_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group_id,
                "type": "group_participants_remove",
                "initiated_by": "participant",
                "removed_participants": [{"wa_id": wa_id}],
            },
        )

    def suspend(self, group_id: str, *, lifted: bool = False) -> dict[str, Any]:
        self.groups[group_id].suspended = not lifted
        return self.group_webhook(
            "group_status_update",
            {
                "timestamp": str(int(time.time())),
                "group_id": group_id,
                "type": "group_suspend_cleared" if lifted else "group_suspend",
            },
        )

    def group_text(self, group_id: str, sender: str, text: str, name: str) -> dict[str, Any]:
        """A participant's text in the group: a `messages` webhook whose message names it."""
        payload = self.text(sender, text, name=name)
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"] = group_id
        return payload

    def group_webhook(self, field_name: str, item: dict[str, Any]) -> dict[str, Any]:
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(), "groups": [item]}
        return self._envelope(field_name, value)

    # ------------------------------------------------------------------ Meta's webhooks
    def _envelope(self, field_name: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": field_name}]}],
        }

    def _metadata(self) -> dict[str, str]:
        return {
            "display_phone_number": self.business_number,
            "phone_number_id": self.phone_number_id,
        }

    def message(
        self,
        sender: str,
        kind: str,
        body: dict[str, Any] | list[Any],
        *,
        name: str = "",
        wamid: str = "",
    ) -> dict[str, Any]:
        """A `messages` webhook with one customer message of `kind`."""
        message = {
            "from": sender,
            "id": wamid or "wamid." + secrets.token_urlsafe(24),
            "timestamp": str(int(time.time())),
            "type": kind,
            kind: body,
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": self._metadata(),
            "contacts": [{"profile": {"name": name or sender}, "wa_id": sender}],
            "messages": [message],
        }
        return self._envelope("messages", value)

    def text(self, sender: str, text: str, **kwargs: Any) -> dict[str, Any]:
        return self.message(sender, "text", {"body": text}, **kwargs)

    def image(self, sender: str, data: bytes, caption: str = "", **kwargs: Any) -> dict[str, Any]:
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self.media[media_id] = (data, "image/jpeg")
        body = {
            "mime_type": "image/jpeg",
            "sha256": hashlib.sha256(data).hexdigest(),
            "id": media_id,
        }
        if caption:
            body["caption"] = caption
        return self.message(sender, "image", body, **kwargs)

    def status(
        self, wamid: str, status: str, recipient: str, errors: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": recipient,
        }
        if errors:
            item["errors"] = errors
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(), "statuses": [item]}
        return self._envelope("messages", value)

    def template_review(self, template_id: str, event: str, reason: str = "NONE") -> dict[str, Any]:
        template = self.templates[template_id]
        template["status"] = event
        value = {
            "event": event,
            "message_template_id": int(template_id),
            "message_template_name": template["name"],
            "message_template_language": template["language"],
            "reason": reason,
        }
        return self._envelope("message_template_status_update", value)

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()

    async def deliver(
        self, url: str, payload: dict[str, Any], *, signature: str | None = None
    ) -> tuple[int, str]:
        """POST a webhook as Meta does: raw JSON body, X-Hub-Signature-256 over its bytes."""
        body = orjson.dumps(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature if signature is not None else self.sign(body),
        }
        async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
            return r.status, await r.text()


MAX_GROUP = 8  # participants, the host number included


@dataclass
class FakeGroup:
    id: str
    subject: str
    description: str
    approval: bool
    invite_link: str
    members: dict[str, str] = field(default_factory=dict)  # wa_id -> name (host not included)
    requests: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # id -> wa_id, name
    suspended: bool = False
    deleted: bool = False


def _new_link() -> str:
    return "https://chat.whatsapp.com/" + secrets.token_urlsafe(16)


def _invalid(details: str) -> web.Response:
    return web.json_response(graph_error(100, "(#100) Invalid parameter", details), status=400)


def _unknown_node(node: str) -> web.Response:
    return web.json_response(
        graph_error(
            100,
            f"Unsupported request. Object with ID '{node}' does not exist",
            kind="GraphMethodException",
        ),
        status=400,
    )


def _check_message(body: Any) -> str:
    """What the real API would refuse in a send body ('' when fine)."""
    if not isinstance(body, dict):
        return "The request body must be JSON"
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if body.get("recipient_type") == "group":
        if not isinstance(body.get("to"), str) or not body["to"]:
            return "to must be the group id"
    elif not isinstance(body.get("to"), str) or not _TO.match(body["to"]):
        return "to must be a phone number in international format"
    kind = body.get("type", "text")
    if kind not in TYPES or not isinstance(body.get(kind), dict):
        return f"Param {kind} is required"
    obj = body[kind]
    if kind == "text" and not (isinstance(obj.get("body"), str) and 0 < len(obj["body"]) <= 4096):
        return "text.body must be 1-4096 characters"
    if kind == "template":
        if not obj.get("name") or not isinstance(obj.get("language"), dict):
            return "template.name and template.language.code are required"
        if not obj["language"].get("code"):
            return "template.language.code is required"
    if kind not in ("text", "template") and not (obj.get("id") or obj.get("link")):
        return f"{kind}.id or {kind}.link is required"
    return ""

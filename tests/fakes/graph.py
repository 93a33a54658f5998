"""A fake of Meta's Graph API for WhatsApp (Cloud API), and Meta's side of its webhooks.

Checks as the real API does: bearer token (401, OAuthException code 190), the phone number id
and WABA id, `messaging_product`, the `to` number, the type's object (400, code 100). Answers
`{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`.
"""

from __future__ import annotations

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
        router = self.app.router
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


def _check_message(body: Any) -> str:
    """What the real API would refuse in a send body ('' when fine)."""
    if not isinstance(body, dict):
        return "The request body must be JSON"
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if not isinstance(body.get("to"), str) or not _TO.match(body["to"]):
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

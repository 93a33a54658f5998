"""Meta's WhatsApp Cloud API (Graph API): send messages, upload and download media, submit
templates. Every call carries the account's access token as a bearer token.

- Send: `POST {base}/{version}/{phone_number_id}/messages` with `messaging_product=whatsapp`,
  `to`, `type` and the type's object; answers `{"messages": [{"id": "wamid..."}]}`.
- Media out: `POST {base}/{version}/{phone_number_id}/media` (multipart `file`, `type`,
  `messaging_product`) -> `{"id"}`, then a message that names that id.
- Media in: `GET {base}/{version}/{media_id}` -> `{"url", "mime_type", "file_size"}`, then GET
  the url with the same bearer token.
- Errors: `{"error": {"message", "code", "error_data": {"details"}}}`.
"""

from __future__ import annotations

from typing import Any

import httpx

from server.blobs import BlobStore
from server.domain.models import Attachment, ChannelAccount, Message
from server.transports.base import DeliveryError
from server.transports.whatsapp.http import (
    MAX_MEDIA_BYTES,
    MediaError,
    delivery_error,
    fetch_bounded,
)

CAPTIONED = ("image", "video", "document")


def api_url(account: ChannelAccount, path: str) -> str:
    settings = account.settings
    return f"{settings['graph_base_url']}/{settings['api_version']}/{path.lstrip('/')}"


def _auth(account: ChannelAccount) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.secrets.get('access_token', '')}"}


def error_reason(response: httpx.Response) -> str:
    """The Graph API's own words: `WhatsApp error 131047: Re-engagement message (details)`."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict) or not error:
        return f"WhatsApp answered {response.status_code}"
    details = (
        (error.get("error_data") or {}).get("details")
        if isinstance(error.get("error_data"), dict)
        else None
    )
    reason = f"WhatsApp error {error.get('code', response.status_code)}: {error.get('message', '')}"
    if details and details != error.get("message"):
        reason += f" ({details})"
    return reason


def media_kind(content_type: str) -> str:
    if content_type in ("image/jpeg", "image/png"):
        return "image"
    if content_type.startswith("video/"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "document"


class CloudApi:
    def __init__(self, client: httpx.AsyncClient, blobs: BlobStore | None) -> None:
        self.client = client
        self.blobs = blobs

    async def _post(self, account: ChannelAccount, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.post(
                api_url(account, path), headers=_auth(account), **kwargs
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"WhatsApp unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code >= 300:
            raise delivery_error(response, error_reason(response))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError("WhatsApp answered without a JSON object", retryable=True)
        return answer

    async def send(
        self, account: ChannelAccount, phone: str, message: Message, *, group_id: str = ""
    ) -> str:
        """Send one stored outbound message (to a group when `group_id` is given); the first
        wamid WhatsApp gave it."""
        to = group_id or phone.lstrip("+")
        recipient_type = "group" if group_id else "individual"
        base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": recipient_type}
        bodies: list[dict[str, Any]] = []
        template = message.data.get("template")
        if isinstance(template, dict):
            bodies.append({**base, "to": to, "type": "template", "template": _template(template)})
        else:
            caption_left = message.text.strip()
            for attachment in message.attachments:
                kind = media_kind(attachment.content_type)
                media: dict[str, Any] = {"id": await self._upload(account, attachment)}
                if kind == "document":
                    media["filename"] = attachment.filename
                if caption_left and kind in CAPTIONED:
                    media["caption"], caption_left = caption_left, ""
                bodies.append({**base, "to": to, "type": kind, kind: media})
            if caption_left:
                text = {"preview_url": False, "body": caption_left}
                bodies.insert(0, {**base, "to": to, "type": "text", "text": text})
        ids = []
        for body in bodies:
            answer = await self._post(
                account, f"{account.settings['phone_number_id']}/messages", json=body
            )
            messages = answer.get("messages")
            if not isinstance(messages, list) or not messages or "id" not in messages[0]:
                raise DeliveryError("WhatsApp answered without a message id", retryable=False)
            ids.append(str(messages[0]["id"]))
        if not ids:
            raise DeliveryError("The message has nothing WhatsApp can send", retryable=False)
        return ids[0]

    async def _upload(self, account: ChannelAccount, attachment: Attachment) -> str:
        opened = await self.blobs.open(attachment.id) if self.blobs is not None else None
        if opened is None:
            raise DeliveryError(f"The attachment {attachment.filename} is gone", retryable=False)
        _, data = opened
        files = {"file": (attachment.filename, data, attachment.content_type)}
        form = {"messaging_product": "whatsapp", "type": attachment.content_type}
        answer = await self._post(
            account, f"{account.settings['phone_number_id']}/media", data=form, files=files
        )
        if not isinstance(answer.get("id"), str):
            raise DeliveryError("WhatsApp answered the upload without a media id", retryable=False)
        return str(answer["id"])

    async def download(self, account: ChannelAccount, media_id: str) -> tuple[bytes, str]:
        """The bytes of an inbound media id and its content type (`MediaError` when not)."""
        try:
            response = await self.client.get(api_url(account, media_id), headers=_auth(account))
        except httpx.HTTPError as exc:
            raise MediaError(f"media unreachable: {type(exc).__name__}", retryable=True) from exc
        if response.status_code >= 300:
            raise MediaError(
                error_reason(response),
                retryable=response.status_code == 429 or response.status_code >= 500,
            )
        info = response.json()
        url, size = info.get("url"), info.get("file_size")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaError("WhatsApp gave no media url", retryable=False)
        if isinstance(size, int) and size > MAX_MEDIA_BYTES:
            raise MediaError(
                f"media is larger than {MAX_MEDIA_BYTES // 1_048_576} MB", retryable=False
            )
        data, content_type = await fetch_bounded(
            self.client, url, limit=MAX_MEDIA_BYTES, headers=_auth(account)
        )
        return data, str(info.get("mime_type") or content_type)

    async def submit_template(self, account: ChannelAccount, body: dict[str, Any]) -> str:
        """Create a template for review: `POST /{waba_id}/message_templates` -> its id."""
        answer = await self._post(
            account, f"{account.settings['waba_id']}/message_templates", json=body
        )
        if answer.get("id") is None:
            raise DeliveryError("WhatsApp answered without a template id", retryable=False)
        return str(answer["id"])

    async def edit_template(
        self, account: ChannelAccount, template_id: str, body: dict[str, Any]
    ) -> None:
        """Resubmit an edited template: `POST /{template_id}` with its new components."""
        await self._post(account, template_id, json={"components": body["components"]})

    async def list_templates(self, account: ChannelAccount) -> list[dict[str, Any]]:
        """`GET /{waba_id}/message_templates`: every template with its review status."""
        try:
            response = await self.client.get(
                api_url(account, f"{account.settings['waba_id']}/message_templates"),
                headers=_auth(account),
                params={"fields": "id,name,status,rejected_reason", "limit": "200"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"WhatsApp unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code >= 300:
            raise delivery_error(response, error_reason(response))
        data = response.json().get("data")
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _template(template: dict[str, Any]) -> dict[str, Any]:
    params = [{"type": "text", "text": value} for value in template.get("params", [])]
    body: dict[str, Any] = {
        "name": template["name"],
        "language": {"code": template.get("language") or "en"},
    }
    if params:
        body["components"] = [{"type": "body", "parameters": params}]
    return body

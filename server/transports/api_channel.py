"""The API channel: an external system posts customers' messages in and receives replies on its
webhook, each request signed with HMAC-SHA256 (as the leading helpdesks' API inboxes do).

Outbound signature header: `X-Conversations-Signature: t=<unix ts>,v1=<hex>` where `<hex>` is
HMAC-SHA256 over `"<ts>." + raw body`, keyed by the account's `webhook_secret`. The timestamp lets
receivers refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson

from server.domain.models import Attachment, ChannelKind, new_id
from server.transports.base import DeliveryError, Inbound, Outgoing, SendResult

SIGNATURE_HEADER = "X-Conversations-Signature"
MAX_TEXT = 65_536


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance: float = 300.0) -> bool:
    """Check a signature header as a webhook receiver would."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp)
    return hmac.compare_digest(expected, header)


def token_matches(expected: str, presented: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), presented.encode())


class InboundError(ValueError):
    """The posted payload is not a valid inbound message."""


def parse_inbound(payload: Any) -> Inbound:
    if not isinstance(payload, dict):
        raise InboundError("The body must be a JSON object")
    message_id = payload.get("message_id")
    sender = payload.get("from")
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 256:
        raise InboundError("message_id must be a non-empty string of at most 256 characters")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), str) or not sender["id"]:
        raise InboundError("from.id must be a non-empty string")
    text = payload.get("text", "")
    html = payload.get("html", "")
    if not isinstance(text, str) or not isinstance(html, str):
        raise InboundError("text and html must be strings")
    if len(text) > MAX_TEXT or len(html) > 4 * MAX_TEXT:
        raise InboundError("The message is too long")
    attachments = []
    for item in payload.get("attachments") or []:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise InboundError("Each attachment needs a url")
        url = item["url"]
        if not url.startswith(("https://", "http://")):
            raise InboundError("Attachment urls must be http(s)")
        attachments.append(
            Attachment(
                id=new_id("att"),
                filename=str(item.get("filename") or "attachment")[:255],
                content_type=str(item.get("content_type") or "application/octet-stream")[:128],
                size=int(item.get("size") or 0),
                url=url,
            )
        )
    if not text.strip() and not html.strip() and not attachments:
        raise InboundError("A message needs text, html or an attachment")

    def field(name: str) -> str:
        value = sender.get(name, "")
        return value[:256] if isinstance(value, str) else ""

    return Inbound(
        provider_message_id=message_id,
        handle=sender["id"][:256],
        name=field("name"),
        email=field("email"),
        phone=field("phone"),
        text=text,
        html=html,
        subject=str(payload.get("subject") or "")[:512],
        attachments=tuple(attachments),
    )


class ApiChannel:
    """Delivers outbound messages to the account's webhook URL."""

    kind = ChannelKind.API

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def send(self, outgoing: Outgoing) -> SendResult:
        url = outgoing.account.settings.get("webhook_url")
        if not url:
            # Nobody to hand it to: the external system reads replies through the agent API.
            return SendResult(provider_message_id=None)
        body = orjson.dumps(
            {
                "event": "message.created",
                "conversation_id": outgoing.conversation.id,
                "to": {"id": _handle(outgoing), "name": outgoing.contact.name},
                "message": outgoing.message.to_dict(),
            }
        )
        secret = outgoing.account.secrets.get("webhook_secret", "")
        headers = {"Content-Type": "application/json", "Idempotency-Key": outgoing.message.id}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"webhook unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise DeliveryError(
                f"webhook answered {response.status_code}", retryable=True, retry_after=retry_after
            )
        if response.status_code >= 300:
            raise DeliveryError(f"webhook refused with {response.status_code}", retryable=False)
        provider_id = None
        try:
            answer = response.json()
            if isinstance(answer, dict) and isinstance(answer.get("provider_message_id"), str):
                provider_id = answer["provider_message_id"]
        except ValueError:
            pass
        return SendResult(provider_message_id=provider_id)

    async def aclose(self) -> None:
        await self._client.aclose()


def _handle(outgoing: Outgoing) -> str:
    return outgoing.contact.handles.get(f"api:{outgoing.account.id}", outgoing.contact.id)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None

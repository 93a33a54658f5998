"""Twilio's Messages API for WhatsApp: basic auth with the account SID and auth token.

- Send: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form fields `From`
  (`whatsapp:+...`), `To`, and `Body` or, for an approved template, `ContentSid` +
  `ContentVariables` (JSON); `StatusCallback` names our webhook. Answers `201 {"sid": "SM..."}`.
- Errors: `{"code", "message", "more_info", "status"}`.
- Media in: the webhook's `MediaUrlN`, fetched with the same basic auth.
"""

from __future__ import annotations

import httpx
import orjson

from server.domain.models import ChannelAccount, Message
from server.transports.base import DeliveryError
from server.transports.whatsapp.http import MAX_MEDIA_BYTES, delivery_error, fetch_bounded


def _auth(account: ChannelAccount) -> tuple[str, str]:
    return account.settings["account_sid"], account.secrets.get("auth_token", "")


def error_reason(response: httpx.Response) -> str:
    try:
        error = response.json()
    except ValueError:
        error = None
    if not isinstance(error, dict) or "message" not in error:
        return f"Twilio answered {response.status_code}"
    return f"Twilio error {error.get('code', response.status_code)}: {error['message']}"


class TwilioApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, account: ChannelAccount, phone: str, message: Message) -> str:
        settings = account.settings
        if message.attachments:
            raise DeliveryError(
                "Attachments cannot be sent through Twilio yet (Twilio needs a public media"
                " URL): send the text alone",
                retryable=False,
            )
        form = {"From": settings["sender"], "To": f"whatsapp:{phone}"}
        template = message.data.get("template")
        if isinstance(template, dict):
            form["ContentSid"] = str(template.get("content_sid", ""))
            variables = {str(i + 1): v for i, v in enumerate(template.get("params", []))}
            form["ContentVariables"] = orjson.dumps(variables).decode()
        else:
            form["Body"] = message.text
        if settings.get("webhook_url"):
            form["StatusCallback"] = settings["webhook_url"]
        url = f"{settings['base_url']}/2010-04-01/Accounts/{settings['account_sid']}/Messages.json"
        try:
            response = await self.client.post(url, data=form, auth=_auth(account))
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Twilio unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code >= 300:
            raise delivery_error(response, error_reason(response))
        try:
            sid = response.json().get("sid")
        except (ValueError, AttributeError):
            sid = None
        if not isinstance(sid, str) or not sid:
            raise DeliveryError("Twilio answered without a message SID", retryable=False)
        return sid

    async def download(self, account: ChannelAccount, url: str) -> tuple[bytes, str]:
        return await fetch_bounded(self.client, url, limit=MAX_MEDIA_BYTES, auth=_auth(account))

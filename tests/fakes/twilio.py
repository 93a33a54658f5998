"""A fake of Twilio's Messages API for WhatsApp, and Twilio's side of its webhooks.

Checks as the real API does: HTTP basic auth with the account SID and auth token (401, code
20003), the account in the path, `From` a registered `whatsapp:` sender (21910 / 63007), `To`
a `whatsapp:+E.164` number (21211), a `Body` or `ContentSid` (21619). Answers `201` with the
message resource (`sid` "SM..."), errors as `{"code", "message", "more_info", "status"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.base import FakeService

_TO = re.compile(r"^whatsapp:\+[1-9][0-9]{6,14}$")


def twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class Sent:
    form: dict[str, str]
    authorization: str


class FakeTwilio(FakeService):
    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0123456789abcdef" * 2,
        auth_token: str = "fake-twilio-auth-token",
        sender: str = "whatsapp:+15550002222",
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.received: list[Sent] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        self.app.router.add_get("/2010-04-01/Accounts/{sid}/Messages/{msg}/Media/{id}", self._media)

    @property
    def sent(self) -> list[dict[str, str]]:
        return [r.form for r in self.received]

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.received.append(Sent(form, request.headers.get("Authorization", "")))
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return web.json_response(twilio_error(20003, "Authenticate", 401), status=401)
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        if form.get("From") != self.sender:
            return web.json_response(
                twilio_error(
                    63007, "Twilio could not find a Channel with the specified From address", 400
                ),
                status=400,
            )
        if not _TO.match(form.get("To", "")):
            return web.json_response(
                twilio_error(
                    21211, f"The 'To' number {form.get('To')} is not a valid phone number.", 400
                ),
                status=400,
            )
        if not form.get("Body") and not form.get("ContentSid") and not form.get("MediaUrl"):
            return web.json_response(
                twilio_error(21619, "A text message body or media url must be specified.", 400),
                status=400,
            )
        sid = "SM" + secrets.token_hex(16)
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "from": form["From"],
                "to": form["To"],
                "body": form.get("Body", ""),
                "status": "queued",
                "num_media": "0",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )

    async def _media(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(twilio_error(20003, "Authenticate", 401), status=401)
        data, mime = self.media[request.match_info["id"]]
        return web.Response(body=data, content_type=mime)

    # ------------------------------------------------------------------ Twilio's webhooks
    def inbound(
        self,
        sender: str,
        body: str = "",
        *,
        name: str = "",
        media: list[tuple[bytes, str]] | None = None,
        sid: str = "",
    ) -> dict[str, str]:
        """The form Twilio posts for a customer's WhatsApp message."""
        sid = sid or "SM" + secrets.token_hex(16)
        params = {
            "SmsMessageSid": sid,
            "NumMedia": str(len(media or [])),
            "ProfileName": name or sender,
            "MessageType": "image" if media else "text",
            "SmsSid": sid,
            "WaId": sender.lstrip("+"),
            "SmsStatus": "received",
            "Body": body,
            "To": self.sender,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{sender}",
            "ApiVersion": "2010-04-01",
        }
        for index, (data, mime) in enumerate(media or []):
            media_id = "ME" + secrets.token_hex(16)
            self.media[media_id] = (data, mime)
            params[f"MediaUrl{index}"] = (
                f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media/{media_id}"
            )
            params[f"MediaContentType{index}"] = mime
        return params

    def status(self, sid: str, status: str, to: str, error_code: str = "") -> dict[str, str]:
        """A status callback for a message we sent."""
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "ChannelToAddress": to,
            "To": f"whatsapp:{to}",
            "From": self.sender,
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        return params

    def sign(self, url: str, params: dict[str, str]) -> str:
        data = url + "".join(k + params[k] for k in sorted(params))
        digest = hmac.new(self.auth_token.encode(), data.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    async def deliver(
        self, url: str, params: dict[str, str], *, signature: str | None = None
    ) -> tuple[int, str]:
        """POST a webhook as Twilio does: form-encoded, X-Twilio-Signature over URL + params."""
        headers = {
            "X-Twilio-Signature": signature if signature is not None else self.sign(url, params)
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=params, headers=headers) as r,
        ):
            return r.status, await r.text()

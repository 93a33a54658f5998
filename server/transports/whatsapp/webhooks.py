"""The doors Meta and Twilio knock on, and the template status sync.

- `GET  /channels/whatsapp/{account_id}/webhook`: Meta's verification handshake.
- `POST /channels/whatsapp/{account_id}/webhook`: Cloud API messages, statuses and template
  reviews, signed with `X-Hub-Signature-256`.
- `POST /channels/twilio/{account_id}/webhook`: Twilio inbound messages and status callbacks,
  signed with `X-Twilio-Signature`.
- `POST /api/accounts/{account_id}/whatsapp/templates/sync` (admin): ask Meta for the review
  status of every template (a missed webhook heals here).

A webhook is answered 200 only once everything it carried is stored; a forged signature is
refused with 401 and stores nothing; a malformed body is refused with 400. Both are logged.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from aiohttp import web

from server.domain.errors import Forbidden, Invalid, NotFound, Unauthenticated, Unavailable
from server.domain.models import ChannelAccount, ChannelKind, Role, Template
from server.transports.api_channel import token_matches
from server.transports.base import DeliveryError
from server.transports.http_common import current_user, json_response, read_body
from server.transports.whatsapp import config, signatures, templates_sync
from server.transports.whatsapp.channel import WhatsAppChannel
from server.transports.whatsapp.groups import GraphGroups, GroupService
from server.transports.whatsapp.http import MediaError
from server.transports.whatsapp.parse import (
    REVIEW_STATES,
    ParsedMessage,
    PayloadError,
    StatusUpdate,
    TemplateReview,
    parse_cloud,
    parse_twilio,
)
from server.workspace import Workspace

log = structlog.get_logger("server.whatsapp")

MAX_WEBHOOK_BODY = 1_048_576
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class WhatsAppWebhooks:
    def __init__(self, workspace: Workspace, channel: WhatsAppChannel) -> None:
        self.workspace = workspace
        self.channel = channel
        self.groups = GroupService(workspace, GraphGroups(channel.client))

    def _account(self, request: web.Request, provider: str) -> ChannelAccount:
        account_id = request.match_info["account_id"]
        try:
            account = self.workspace.account(account_id)
        except NotFound:
            account = None
        if (
            account is None
            or account.kind != ChannelKind.WHATSAPP
            or account.settings.get("provider") != provider
        ):
            raise NotFound(f"No WhatsApp ({provider}) account {account_id}")
        return account

    # ------------------------------------------------------------------ Meta Cloud API
    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription check: echo `hub.challenge` when the verify token matches."""
        account = self._account(request, config.CLOUD)
        query = request.query
        if query.get("hub.mode") == "subscribe" and token_matches(
            account.secrets.get("verify_token", ""), query.get("hub.verify_token", "")
        ):
            log.info("whatsapp.webhook_verified", account_id=account.id)
            return web.Response(text=query.get("hub.challenge", ""))
        log.warning("whatsapp.verify_refused", account_id=account.id, mode=query.get("hub.mode"))
        raise Forbidden("The verify token does not match")

    async def cloud(self, request: web.Request) -> web.Response:
        account = self._account(request, config.CLOUD)
        raw = await read_body(request, MAX_WEBHOOK_BODY)
        header = request.headers.get(signatures.META_HEADER, "")
        if not signatures.meta_valid(account.secrets.get("app_secret", ""), raw, header):
            log.warning("whatsapp.bad_signature", account_id=account.id, given=bool(header))
            raise Unauthenticated("The X-Hub-Signature-256 signature does not match")
        try:
            parsed = parse_cloud(orjson.loads(raw), str(account.settings["phone_number_id"]))
        except (orjson.JSONDecodeError, PayloadError) as exc:
            log.warning("whatsapp.bad_payload", account_id=account.id, reason=str(exc))
            raise Invalid(f"Not a WhatsApp webhook: {exc}") from None
        for message in parsed.messages:
            await self._intake(account, message)
        for status in parsed.statuses:
            await self._status(account, status)
        for review in parsed.reviews:
            await self._review(account, review)
        for update in parsed.groups:
            await self.groups.on_update(account, update)
        return json_response({"ok": True})

    # ------------------------------------------------------------------ Twilio
    async def twilio(self, request: web.Request) -> web.Response:
        account = self._account(request, config.TWILIO)
        raw = await read_body(request, MAX_WEBHOOK_BODY)
        try:
            params = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            params = None
        header = request.headers.get(signatures.TWILIO_HEADER, "")
        if params is None or not signatures.twilio_valid(
            account.secrets.get("auth_token", ""), account.settings["webhook_url"], params, header
        ):
            log.warning("whatsapp.bad_signature", account_id=account.id, given=bool(header))
            raise Unauthenticated("The X-Twilio-Signature signature does not match")
        try:
            parsed = parse_twilio(dict(params))
        except PayloadError as exc:
            log.warning("whatsapp.bad_payload", account_id=account.id, reason=str(exc))
            raise Invalid(f"Not a Twilio WhatsApp webhook: {exc}") from None
        if isinstance(parsed, ParsedMessage):
            await self._intake(account, parsed)
        elif isinstance(parsed, StatusUpdate):
            await self._status(account, parsed)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    # ------------------------------------------------------------------ shared
    async def _intake(self, account: ChannelAccount, parsed: ParsedMessage) -> None:
        inbound = parsed.inbound
        store = self.workspace.store
        if await store.message_by_provider_id(account.id, inbound.provider_message_id):
            # Redelivered: already stored (the store's unique index would refuse it too);
            # checked first so its media is not downloaded again.
            log.info("whatsapp.redelivered", account_id=account.id)
            return
        attachments = []
        lines = [inbound.text] if inbound.text else []
        for media in parsed.media:
            try:
                attachments.append(await self.channel.download(account, media))
            except MediaError as error:
                log.warning(
                    "whatsapp.media_failed",
                    account_id=account.id,
                    retryable=error.retryable,
                    reason=error.reason,
                )
                if error.retryable:
                    # Not stored: the provider redelivers on a non-2xx answer.
                    raise Unavailable(
                        f"A media file could not be fetched: {error.reason}"
                    ) from None
                lines.append(f"[{media.filename} could not be downloaded: {error.reason}]")
        inbound = dataclasses.replace(
            inbound, text="\n".join(lines), attachments=tuple(attachments)
        )
        if parsed.group_id:
            await self.groups.intake(account, parsed.group_id, inbound)
            return
        await self.workspace.intake(account.id, inbound)

    async def _status(self, account: ChannelAccount, status: StatusUpdate) -> None:
        try:
            await self.workspace.report_delivery(
                account.id, status.provider_message_id, status.status, status.reason
            )
        except NotFound:
            # Sent by something else on this number, or reported before our send returned.
            log.info("whatsapp.status_for_unknown_message", account_id=account.id)

    async def _review(self, account: ChannelAccount, review: TemplateReview) -> None:
        for template in await self._templates(account):
            if template.provider_template_id != review.provider_template_id:
                continue
            if templates_sync.apply_review(template, review.approval, review.reason):
                await self.workspace.store.put(template)
                self.workspace.records_changed("templates")
                log.info(
                    "whatsapp.template_reviewed",
                    account_id=account.id,
                    template_id=template.id,
                    approval=str(template.approval),
                )
            return
        log.info("whatsapp.review_for_unknown_template", account_id=account.id)

    async def _templates(self, account: ChannelAccount) -> list[Template]:
        return [t for t in await self.workspace.store.all(Template) if t.account_id == account.id]

    async def sync_templates(self, request: web.Request) -> web.Response:
        """Admin: refresh every template's review status from Meta."""
        user = await current_user(request)
        if user.role != Role.ADMIN:
            raise Forbidden("Only admins can sync templates")
        account = self._account(request, config.CLOUD)
        try:
            remote = await self.channel.cloud.list_templates(account)
        except DeliveryError as error:
            raise Unavailable(f"WhatsApp could not list the templates: {error.reason}") from None
        verdicts: dict[str, Any] = {str(item.get("id")): item for item in remote}
        changed = []
        for template in await self._templates(account):
            item = verdicts.get(template.provider_template_id)
            approval = REVIEW_STATES.get(str(item.get("status"))) if item else None
            if item is None or approval is None:
                continue
            reason = str(item.get("rejected_reason") or "")
            if templates_sync.apply_review(template, approval, "" if reason == "NONE" else reason):
                await self.workspace.store.put(template)
                changed.append(template)
        if changed:
            self.workspace.records_changed("templates")
        return json_response(
            {
                "templates": [t.to_dict() for t in await self._templates(account)],
                "changed": [t.id for t in changed],
            }
        )


def register(app: web.Application, workspace: Workspace, channel: WhatsAppChannel) -> None:
    hooks = WhatsAppWebhooks(workspace, channel)
    app.router.add_get("/channels/whatsapp/{account_id}/webhook", hooks.verify)
    app.router.add_post("/channels/whatsapp/{account_id}/webhook", hooks.cloud)
    app.router.add_post("/channels/twilio/{account_id}/webhook", hooks.twilio)
    app.router.add_post("/api/accounts/{account_id}/whatsapp/templates/sync", hooks.sync_templates)

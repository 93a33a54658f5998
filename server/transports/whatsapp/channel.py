"""The WhatsApp `Channel`: one instance serves every WhatsApp account, each through the
provider its settings name (Meta's Cloud API or Twilio)."""

from __future__ import annotations

import httpx
import structlog

from server.blobs import BlobStore
from server.domain.errors import Invalid, Unavailable
from server.domain.models import (
    Attachment,
    ChannelAccount,
    ChannelKind,
    Template,
    TemplateApproval,
)
from server.transports.base import DeliveryError, Outgoing, SendResult
from server.transports.whatsapp import config, templates_sync
from server.transports.whatsapp.cloud_api import CloudApi
from server.transports.whatsapp.parse import MediaRef
from server.transports.whatsapp.twilio_api import TwilioApi

log = structlog.get_logger(__name__)


class WhatsAppChannel:
    kind = ChannelKind.WHATSAPP

    def __init__(
        self,
        blobs: BlobStore | None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self.blobs = blobs
        self.cloud = CloudApi(self.client, blobs)
        self.twilio = TwilioApi(self.client)

    async def send(self, outgoing: Outgoing) -> SendResult:
        account, contact = outgoing.account, outgoing.contact
        group = outgoing.conversation.group
        if group is not None:
            if account.settings.get("provider") != config.CLOUD or not group.group_id:
                raise DeliveryError("This WhatsApp group cannot receive messages", retryable=False)
            sent_id = await self.cloud.send(account, "", outgoing.message, group_id=group.group_id)
            return SendResult(provider_message_id=sent_id)
        phone = contact.handles.get("whatsapp") or contact.phone
        if not phone:
            raise DeliveryError("The contact has no WhatsApp number", retryable=False)
        provider = account.settings.get("provider")
        if provider == config.CLOUD:
            sent_id = await self.cloud.send(account, phone, outgoing.message)
        elif provider == config.TWILIO:
            sent_id = await self.twilio.send(account, phone, outgoing.message)
        else:
            raise DeliveryError("The WhatsApp account has no provider configured", retryable=False)
        return SendResult(provider_message_id=sent_id)

    async def download(self, account: ChannelAccount, media: MediaRef) -> Attachment:
        """Fetch an inbound media file into the blob store (`MediaError` when it cannot)."""
        if account.settings.get("provider") == config.TWILIO:
            data, content_type = await self.twilio.download(account, media.ref)
        else:
            data, content_type = await self.cloud.download(account, media.ref)
        assert self.blobs is not None
        return await self.blobs.put(data, media.filename, media.content_type or content_type)

    async def submit_template(self, account: ChannelAccount, template: Template) -> None:
        """Send a new or edited template for review (Cloud API): it becomes pending until
        Meta's verdict arrives (`message_template_status_update`). Twilio templates are
        reviewed in Twilio's Content Template Builder; ours names the approved ContentSid."""
        provider = account.settings.get("provider")
        if provider == config.TWILIO:
            template.approval, template.approval_reason = TemplateApproval.APPROVED, ""
            return
        body = templates_sync.review_body(template)
        try:
            if template.provider_template_id and template.approval is not None:
                await self.cloud.edit_template(account, template.provider_template_id, body)
            else:
                template.provider_template_id = await self.cloud.submit_template(account, body)
        except DeliveryError as error:
            log.warning("whatsapp.template_refused", account_id=account.id, reason=error.reason)
            if error.retryable:
                raise Unavailable(
                    f"WhatsApp could not take the template now: {error.reason}"
                ) from None
            raise Invalid(f"WhatsApp refused the template: {error.reason}") from None
        template.approval, template.approval_reason = TemplateApproval.PENDING, ""
        log.info("whatsapp.template_submitted", account_id=account.id, template_id=template.id)

    async def aclose(self) -> None:
        await self.client.aclose()

"""Email delivery: one stored outbound message -> one SMTP submission (aiosmtplib).

The Message-ID is derived from our message id, so a retry after a lost answer repeats it and
the customer's client shows the reply once. Errors are classified for the outbox: no answer,
a dropped connection or a 4xx reply -> retry later; a 5xx reply -> failed, with the server's
words (password scrubbed) shown to the agent.
"""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage

import aiosmtplib
import structlog

from server.blobs import BlobStore
from server.domain.models import ChannelKind, Message, MessageKind
from server.store.base import Store
from server.transports.base import DeliveryError, Outgoing, SendResult
from server.transports.email.config import EmailConfig, scrub
from server.transports.email.mime_build import (
    OutgoingFile,
    build_email,
    message_id_for,
    reply_subject,
)

log = structlog.get_logger(__name__)

SMTP_TIMEOUT = 30.0
MAX_REFERENCES = 20
HISTORY = 100  # messages looked at for In-Reply-To / References


def real_message_id(provider_id: str | None) -> bool:
    """A provider id that is a Message-ID (not our hash for mail that had none)."""
    return (
        bool(provider_id) and "@" in str(provider_id) and not str(provider_id).startswith("sha256-")
    )


def _smtp(config: EmailConfig, timeout: float) -> aiosmtplib.SMTP:
    context = ssl.create_default_context() if config.smtp_security != "none" else None
    return aiosmtplib.SMTP(
        hostname=config.smtp_host,
        port=config.smtp_port,
        use_tls=config.smtp_security == "tls",
        start_tls=config.smtp_security == "starttls",
        tls_context=context,
        timeout=timeout,
    )


async def _login(client: aiosmtplib.SMTP, config: EmailConfig) -> None:
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()  # learn the extensions (connect() says EHLO only for STARTTLS)
    # A local relay may offer no AUTH at all: then there is nothing to log in to.
    if config.password and client.supports_extension("auth"):
        await client.login(config.username, config.password)


async def check_smtp(config: EmailConfig, timeout: float = 15.0) -> str | None:
    """Connect and log in; None when it works, else the reason (password scrubbed)."""
    client = _smtp(config, timeout)
    try:
        await client.connect()
        await _login(client, config)
        return None
    except aiosmtplib.SMTPAuthenticationError as exc:
        return scrub(f"login refused: {exc.code} {exc.message}", config.password)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return scrub(_describe(exc), config.password)
    finally:
        await _close(client)


async def _close(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        try:
            await asyncio.wait_for(client.quit(), 5.0)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP server answered {exc.code} {exc.message}"
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return "SMTP server did not answer in time"
    return f"SMTP server unreachable: {type(exc).__name__}: {exc}"


def classify(exc: BaseException, password: str) -> DeliveryError:
    """The outbox's view of an SMTP failure."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        retryable = bool(codes) and all(400 <= code < 500 for code in codes)
        return DeliveryError(scrub(f"recipient refused: {reasons}", password), retryable=retryable)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(
            scrub(f"SMTP login refused: {exc.code} {exc.message}", password), retryable=False
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
        return DeliveryError(scrub(_describe(exc), password), retryable=False)
    return DeliveryError(scrub(_describe(exc), password), retryable=True)


class EmailChannel:
    """Delivers replies of email accounts through the account's SMTP server."""

    kind = ChannelKind.EMAIL

    def __init__(self, store: Store, blobs: BlobStore, timeout: float = SMTP_TIMEOUT) -> None:
        self.store = store
        self.blobs = blobs
        self.timeout = timeout

    async def send(self, outgoing: Outgoing) -> SendResult:
        config = EmailConfig.from_account(outgoing.account)
        contact, message = outgoing.contact, outgoing.message
        to_address = contact.handles.get("email") or contact.email
        if not to_address:
            raise DeliveryError("The contact has no email address", retryable=False)
        our_id = message_id_for(message.id, config.domain)
        history = await self.store.messages(outgoing.conversation.id, limit=HISTORY)
        earlier = [
            m
            for m in reversed(history)  # oldest first
            if m.seq < message.seq and m.kind in (MessageKind.INBOUND, MessageKind.OUTBOUND)
        ]
        parent = _last_inbound(earlier)
        references = [
            m.provider_message_id for m in earlier if real_message_id(m.provider_message_id)
        ]
        email = build_email(
            config,
            to_address=to_address,
            to_name=contact.name if contact.name != to_address else "",
            subject=reply_subject(
                outgoing.conversation.subject,
                is_reply=any(m.kind == MessageKind.INBOUND for m in earlier),
            ),
            message_id=our_id,
            text=message.text,
            html=message.html,
            in_reply_to=parent.provider_message_id if parent is not None else None,
            references=[str(r) for r in references][-MAX_REFERENCES:],
            files=await self._files(message),
            auto_reply=message.sender.id == "auto-reply",
        )
        await self.submit(config, email, to_address)
        log.info("email.sent", account_id=outgoing.account.id, message_id=message.id)
        return SendResult(provider_message_id=our_id)

    async def submit(self, config: EmailConfig, email: EmailMessage, to_address: str) -> None:
        client = _smtp(config, self.timeout)
        try:
            await client.connect()
            await _login(client, config)
            await client.send_message(email, sender=config.address, recipients=[to_address])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify(exc, config.password) from None
        finally:
            await _close(client)

    async def _files(self, message: Message) -> list[OutgoingFile]:
        files = []
        for attachment in message.attachments:
            found = await self.blobs.open(attachment.id)
            if found is None:
                raise DeliveryError(
                    f"The attachment {attachment.filename} is no longer stored", retryable=False
                )
            meta, data = found
            files.append(OutgoingFile(meta.filename, meta.content_type, data))
        return files

    async def aclose(self) -> None:
        return None


def _last_inbound(messages: list[Message]) -> Message | None:
    for message in reversed(messages):
        if message.kind == MessageKind.INBOUND and real_message_id(message.provider_message_id):
            return message
    return None

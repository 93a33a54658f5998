"""The narrow contract every channel kind (API, email, WhatsApp...) implements for delivery.

Intake differs too much between kinds (HTTP webhooks, IMAP IDLE pushes) to share one shape; each
kind parses its own wire format into `Inbound` and hands it to the workspace. Delivery is the
same everywhere: take one stored outbound message, send it, say what the provider answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from server.domain.models import (
    Attachment,
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    Message,
)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A customer's message as a channel parsed it, before it belongs to a conversation."""

    provider_message_id: str
    handle: str  # the sender's id on this channel (source id, email address, phone)
    name: str = ""
    email: str = ""
    phone: str = ""
    text: str = ""
    html: str = ""
    subject: str = ""
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    # Provider ids of the messages this one answers, nearest first (email: In-Reply-To, then
    # References): a stored one names the conversation the message belongs to.
    thread_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outgoing:
    account: ChannelAccount
    conversation: Conversation
    contact: Contact
    message: Message


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str | None = None


class DeliveryError(Exception):
    """The provider refused or could not be reached. `retryable` says whether to try again."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    kind: ChannelKind

    async def send(self, outgoing: Outgoing) -> SendResult: ...

    async def aclose(self) -> None: ...

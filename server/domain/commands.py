"""Commands a conversation accepts. Plain data: who asks, on which account, for what.

`by` is the acting user, or None when the system acts (intake, timers, delivery reports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.domain.groups import GroupChange
from server.domain.models import (
    Attachment,
    ChannelAccount,
    Contact,
    Conversation,
    DeliveryStatus,
    GroupInfo,
    Tag,
    Team,
    Template,
    User,
)


@dataclass(frozen=True, slots=True)
class AppendInbound:
    """A customer's message, already verified and parsed by the channel."""

    account: ChannelAccount
    contact: Contact
    provider_message_id: str
    text: str = ""
    html: str = ""
    attachments: tuple[Attachment, ...] = ()
    subject: str = ""
    received_at: float | None = None
    # Stored as `Message.data` (a group message: the participant who wrote it).
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostMessage:
    """An agent's reply (sent to the customer) or private note (kept inside the team)."""

    by: User
    account: ChannelAccount
    text: str
    html: str = ""
    note: bool = False
    attachments: tuple[Attachment, ...] = ()
    client_key: str | None = None
    then: str | None = None  # "resolve" | "pending" | "reopen"
    # Set when an agent starts a conversation with a new recipient.
    start_with: Contact | None = None
    subject: str = ""
    # A WhatsApp template message: the template (its type and approval are checked against
    # the 24-hour window) and what the channel needs to send it (stored as `Message.data`).
    template: Template | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assign:
    """Set the assignee. With `expected` (user id, team id) set, the command only applies if
    the conversation is still assigned as the agent saw it: two agents assigning at once get
    one winner and one conflict, instead of a silent last-write-wins."""

    by: User
    account: ChannelAccount
    to_user: User | None
    to_team: Team | None
    expected: tuple[str | None, str | None] | None = None


@dataclass(frozen=True, slots=True)
class SetStatus:
    by: User
    account: ChannelAccount
    status: str  # "open" | "pending" | "resolved"


@dataclass(frozen=True, slots=True)
class Snooze:
    by: User
    account: ChannelAccount
    until: float


@dataclass(frozen=True, slots=True)
class Wake:
    """The snooze timer fired (system)."""


@dataclass(frozen=True, slots=True)
class AddTag:
    by: User
    account: ChannelAccount
    tag: Tag


@dataclass(frozen=True, slots=True)
class RemoveTag:
    by: User
    account: ChannelAccount
    tag_id: str


@dataclass(frozen=True, slots=True)
class LinkCustomer:
    by: User
    account: ChannelAccount
    customer_id: str | None
    branch_id: str | None = None
    customer_name: str = ""


@dataclass(frozen=True, slots=True)
class ReportDelivery:
    """A channel's word on an outbound message (system)."""

    message_id: str
    status: DeliveryStatus
    reason: str = ""
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class AddAssistantNote:
    """The assistant's analysis of an inbound message, as a private note (system). The
    client key is derived from the inbound message id: one note per message, ever."""

    account: ChannelAccount
    inbound_message_id: str
    text: str
    data: dict[str, Any]
    client_key: str


@dataclass(frozen=True, slots=True)
class StartGroup:
    """A WhatsApp group the provider accepted to create: starts its conversation. `contact`
    stands for the group (its handles carry the request id, later the group id)."""

    by: User
    account: ChannelAccount
    contact: Contact
    group: GroupInfo


@dataclass(frozen=True, slots=True)
class ChangeGroup:
    """Something happened to the group: `by` is the agent whose action WhatsApp accepted, or
    None when WhatsApp's webhook says so (system)."""

    account: ChannelAccount
    change: GroupChange
    by: User | None = None


@dataclass(frozen=True, slots=True)
class Get:
    """Read the current state (no change)."""


@dataclass(slots=True)
class Reply:
    """What a command returns to its caller."""

    conversation: Conversation
    message_ids: list[str] = field(default_factory=list)
    duplicate: bool = False


Command = (
    AppendInbound
    | PostMessage
    | Assign
    | SetStatus
    | Snooze
    | Wake
    | AddTag
    | RemoveTag
    | LinkCustomer
    | ReportDelivery
    | AddAssistantNote
    | StartGroup
    | ChangeGroup
    | Get
)

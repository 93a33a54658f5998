"""The domain's records: plain dataclasses, no I/O.

Every record converts to and from a JSON-ready dict (`to_dict` / `from_dict`) so that both store
implementations and the wire share one shape. When a field is added, give it a default so older
stored documents still load.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


def new_id(prefix: str) -> str:
    """A sortable-enough, unguessable id such as `cnv_01h2...`."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def now() -> float:
    """Wall-clock time in seconds since the epoch; every timestamp in the domain uses it."""
    return time.time()


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class SendKey(StrEnum):
    ENTER = "enter"
    CTRL_ENTER = "ctrl_enter"
    NONE = "none"


class ChannelKind(StrEnum):
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    API = "api"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    ERROR = "error"
    PAUSED = "paused"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class MessageKind(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"
    SYSTEM = "system"


class DeliveryStatus(StrEnum):
    """Outbound delivery state. Only moves forward; `failed` is terminal."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class TemplateType(StrEnum):
    START = "start"
    REPLY = "reply"
    WINDOW = "window"


class TemplateApproval(StrEnum):
    """A WhatsApp template's review state at the provider (Meta); empty for other channels."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAUSED = "paused"
    DISABLED = "disabled"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class Record:
    """Mixin: dict conversion for the dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict. Nested records convert too; other lists and dicts are copied
        one level deep (not deep-copied like `dataclasses.asdict`, which dominated the hot
        path's profile): treat what it returns as read-only below its first level."""
        cls = type(self)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]
            _FIELD_NAMES[cls] = names
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, Record):
                value = value.to_dict()
            elif isinstance(value, list | tuple):
                value = [v.to_dict() if isinstance(v, Record) else v for v in value]
            elif isinstance(value, dict):
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {k: v for k, v in data.items() if k in names}
        return _build(cls, kwargs)


def _build(cls: type[T], kwargs: dict[str, Any]) -> T:
    nested = getattr(cls, "_nested", {})
    for name, sub in nested.items():
        if name in kwargs and kwargs[name] is not None:
            value = kwargs[name]
            if isinstance(value, list):
                kwargs[name] = [sub.from_dict(v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                kwargs[name] = sub.from_dict(value)
    return cls(**kwargs)


@dataclass(slots=True)
class User(Record):
    id: str
    email: str
    name: str
    role: Role = Role.AGENT
    password_hash: str = ""
    time_zone: str = "UTC"
    send_key: SendKey = SendKey.ENTER
    can_manage_groups: bool = False
    created_at: float = field(default_factory=now)
    # Sessions created before this instant are revoked (password change, "log out everywhere").
    sessions_valid_from: float = 0.0

    def public(self) -> dict[str, Any]:
        """What other users and the web client may see: never the password hash."""
        data = self.to_dict()
        del data["password_hash"]
        del data["sessions_valid_from"]
        return data


@dataclass(slots=True)
class Team(Record):
    id: str
    name: str
    member_ids: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=now)


@dataclass(slots=True)
class AuthorizedUser(Record):
    """A user's permission flags on one channel account (the guide's "Authorized Users")."""

    user_id: str
    handles_conversations: bool = True
    can_reassign: bool = False
    can_clear_assignment: bool = False
    can_resolve_all: bool = False
    auto_assign: bool = False


@dataclass(slots=True)
class ChannelAccount(Record):
    id: str
    kind: ChannelKind
    name: str
    status: AccountStatus = AccountStatus.ACTIVE
    status_reason: str = ""
    authorized: list[AuthorizedUser] = field(default_factory=list)
    # Non-secret, kind-specific settings (webhook URL, address, phone number id...).
    settings: dict[str, Any] = field(default_factory=dict)
    # Tokens, passwords, app secrets: never serialised by `public()`, never logged.
    secrets: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=now)
    # Written by the channel's intake through the account's actor, never by admins: where it
    # stands in the provider's stream (email: {"imap": {uidvalidity, last_uid, synced_at}}).
    sync_state: dict[str, Any] = field(default_factory=dict)

    _nested = {"authorized": AuthorizedUser}

    def public(self) -> dict[str, Any]:
        data = self.to_dict()
        data["secrets"] = sorted(self.secrets)  # names only, so a UI can show "token set"
        return data

    def grant(self, user_id: str) -> AuthorizedUser | None:
        for grant in self.authorized:
            if grant.user_id == user_id:
                return grant
        return None


@dataclass(slots=True)
class Contact(Record):
    id: str
    name: str
    email: str = ""
    phone: str = ""
    # Channel handles: {"api:<account_id>": "<source id>", "email": "...", "whatsapp": "+1..."}
    handles: dict[str, str] = field(default_factory=dict)
    customer_id: str | None = None
    branch_id: str | None = None
    created_at: float = field(default_factory=now)


@dataclass(slots=True)
class Branch(Record):
    id: str
    name: str
    address: str = ""


@dataclass(slots=True)
class Customer(Record):
    id: str
    name: str
    salesman_id: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    branches: list[Branch] = field(default_factory=list)
    created_at: float = field(default_factory=now)

    _nested = {"branches": Branch}


@dataclass(slots=True)
class Tag(Record):
    id: str
    name: str
    description: str = ""
    color: str = "#6b7280"
    deleted: bool = False
    created_at: float = field(default_factory=now)


@dataclass(slots=True)
class Template(Record):
    id: str
    account_id: str
    name: str
    content: str
    labels: list[str] = field(default_factory=list)
    type: TemplateType = TemplateType.REPLY
    created_at: float = field(default_factory=now)
    # WhatsApp only: review state at the provider, why it was refused, the provider's id for
    # it (Meta template id, Twilio ContentSid), its language code and category.
    approval: TemplateApproval | None = None
    approval_reason: str = ""
    provider_template_id: str = ""
    language: str = ""
    category: str = ""


@dataclass(slots=True)
class Attachment(Record):
    id: str
    filename: str
    content_type: str
    size: int
    url: str = ""


@dataclass(slots=True)
class Sender(Record):
    type: str  # "contact" | "user" | "system" | "assistant"
    id: str = ""
    name: str = ""


@dataclass(slots=True)
class Message(Record):
    id: str
    conversation_id: str
    account_id: str
    kind: MessageKind
    sender: Sender
    text: str = ""
    html: str = ""  # already sanitized
    attachments: list[Attachment] = field(default_factory=list)
    provider_message_id: str | None = None
    client_key: str | None = None  # agent-side idempotency key
    status: DeliveryStatus | None = None  # outbound only
    status_reason: str = ""
    seq: int = 0
    created_at: float = field(default_factory=now)
    # Structured content for the client; the assistant's note carries its analysis here
    # (server/domain/analysis.py, `Analysis.to_dict`). Empty for every other message.
    data: dict[str, Any] = field(default_factory=dict)

    _nested = {"sender": Sender, "attachments": Attachment}

    def preview(self, limit: int = 140) -> str:
        text = " ".join(self.text.split())
        if not text and self.attachments:
            text = f"[{self.attachments[0].filename}]"
        return text[:limit]


class GroupState(StrEnum):
    """A WhatsApp group's life at the provider: Meta creates groups asynchronously."""

    CREATING = "creating"  # asked for; WhatsApp's group_create webhook not in yet
    ACTIVE = "active"
    FAILED = "failed"  # WhatsApp refused to create it
    DELETED = "deleted"  # dissolved: the conversation is a read-only archive


@dataclass(slots=True)
class GroupParticipant(Record):
    wa_id: str  # the member's WhatsApp id (their number without "+")
    name: str = ""
    role: str = "member"  # "admin" (the host number) | "member"
    joined_at: float = 0.0


@dataclass(slots=True)
class GroupJoinRequest(Record):
    id: str  # WhatsApp's join request id
    wa_id: str
    name: str = ""
    requested_at: float = 0.0


@dataclass(slots=True)
class GroupInfo(Record):
    """What a group conversation knows about its WhatsApp group (server/domain/groups.py)."""

    group_id: str = ""  # WhatsApp's; empty until the group_create webhook names it
    request_id: str = ""  # the create request's id, which that webhook echoes
    host_number: str = ""  # the business number hosting the group
    subject: str = ""
    description: str = ""
    join_approval: bool = False  # join requests must be approved
    invite_link: str = ""
    participants: list[GroupParticipant] = field(default_factory=list)
    join_requests: list[GroupJoinRequest] = field(default_factory=list)
    state: GroupState = GroupState.CREATING
    failure_reason: str = ""
    suspended: bool = False
    created_by: str = ""
    deleted_at: float | None = None
    deleted_by: str = ""  # the user's name, or "WhatsApp"

    _nested = {"participants": GroupParticipant, "join_requests": GroupJoinRequest}


@dataclass(slots=True)
class Conversation(Record):
    id: str
    account_id: str
    channel: ChannelKind
    contact_id: str
    subject: str = ""
    status: ConversationStatus = ConversationStatus.OPEN
    assignee_user_id: str | None = None
    assignee_team_id: str | None = None
    last_assignee_user_id: str | None = None  # who handled it last (assignment rules)
    tag_ids: list[str] = field(default_factory=list)
    snooze_until: float | None = None
    last_message_preview: str = ""
    last_message_at: float = 0.0
    last_inbound_at: float = 0.0
    # WhatsApp: when the 24-hour window for free-form replies closes (None: never opened).
    window_expires_at: float | None = None
    last_activity_at: float = field(default_factory=now)
    customer_id: str | None = None
    branch_id: str | None = None
    # Last seq handed out; the ConversationActor is its only writer.
    seq: int = 0
    # Fencing version: every write is conditional on it (see store.base.StaleWrite).
    version: int = 0
    created_at: float = field(default_factory=now)
    # Set on a WhatsApp group conversation (its contact stands for the group).
    group: GroupInfo | None = None

    _nested = {"group": GroupInfo}


@dataclass(slots=True)
class Event(Record):
    """One change an agent can see. `cursor` is its position in the global event log."""

    type: str  # noun.verb
    conversation_id: str
    account_id: str
    seq: int
    data: dict[str, Any]
    cursor: int = 0
    at: float = field(default_factory=now)

    def wire(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "conversation_id": self.conversation_id,
            "account_id": self.account_id,
            "seq": self.seq,
            "cursor": self.cursor,
            "at": self.at,
            "data": self.data,
        }


@dataclass(slots=True)
class OutboxItem(Record):
    """A message waiting for its channel to deliver it; durable so a crash loses no reply."""

    id: str
    account_id: str
    conversation_id: str
    message_id: str
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""
    created_at: float = field(default_factory=now)


@dataclass(slots=True)
class Session(Record):
    """A login: browser cookie or bearer token. Only the token's hash is stored."""

    token_hash: str
    user_id: str
    kind: str = "cookie"  # "cookie" | "bearer"
    expires_at: float = 0.0
    created_at: float = field(default_factory=now)

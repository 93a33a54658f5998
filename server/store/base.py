"""The one storage interface both implementations (embedded SQLite, MongoDB) satisfy.

Design rules, checked by the shared contract suite in `tests/contract/`:
- Records (users, teams, accounts, contacts, customers, tags, templates) are stored whole by id.
- A conversation changes only through `commit`, one atomic unit: the new conversation state
  (conditional on the version the writer last saw: a fencing check, so a stale writer can never
  overwrite newer state), its new or updated messages, its events and outbox items.
- Uniqueness is enforced by the store, never by a read-then-write: one provider message id per
  account, one client idempotency key, one (conversation, seq) event.
- `commit` assigns each event a cursor, strictly increasing in commit order; `events_after`
  reads the log back for a reconnecting client.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TypeVar

from server.domain.metrics import ConversationFact, MessageFact
from server.domain.models import (
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    ConversationStatus,
    Customer,
    Event,
    Message,
    OutboxItem,
    Record,
    Session,
    Tag,
    Team,
    Template,
    User,
)

R = TypeVar("R", bound=Record)

# The record types stored whole by id, and the collection each lives in.
COLLECTIONS: dict[type[Record], str] = {
    User: "users",
    Team: "teams",
    ChannelAccount: "accounts",
    Contact: "contacts",
    Customer: "customers",
    Tag: "tags",
    Template: "templates",
}


class StoreError(Exception):
    """Base of the store's own errors."""


class StaleWrite(StoreError):
    """The conversation's version moved on since the writer loaded it (fencing)."""


class Duplicate(StoreError):
    """A unique key (provider message id, client key, email) is already taken."""

    def __init__(self, key: str, existing_id: str | None = None) -> None:
        super().__init__(f"duplicate {key}")
        self.key = key
        self.existing_id = existing_id


@dataclass(slots=True)
class ConversationWrite:
    """Everything one command changes in one conversation, committed atomically."""

    conversation: Conversation  # new state; its `version` must be expected_version + 1
    expected_version: int  # 0 creates the conversation
    new_messages: list[Message] = field(default_factory=list)
    updated_messages: list[Message] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # cursors are assigned by the store
    outbox: list[OutboxItem] = field(default_factory=list)
    # Records stored alongside (a new conversation's new contact), so the first message of a
    # new customer costs one commit, not two in a row.
    records: list[Record] = field(default_factory=list)


@dataclass(slots=True)
class InboxQuery:
    """One page of the conversation list, already narrowed to what the user may see."""

    account_ids: list[str]  # the accounts the user is authorized on (after any account filter)
    tab: str = "all"  # "mine" | "unassigned" | "all"
    user_id: str = ""  # whose "mine"
    statuses: list[ConversationStatus] | None = None  # None: every status
    channel: ChannelKind | None = None
    tag_ids: list[str] = field(default_factory=list)  # any of these
    customer_id: str | None = None
    contact_id: str | None = None
    after: tuple[float, str] | None = None  # (last_activity_at, id) of the last row seen
    limit: int = 50


@dataclass(slots=True)
class Page:
    conversations: list[Conversation]
    next: tuple[float, str] | None  # pass back as InboxQuery.after; None on the last page


@dataclass(slots=True)
class SearchHit:
    message: Message
    conversation: Conversation


class Store(abc.ABC):
    """Async storage. Implementations never block the event loop."""

    # lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush pending writes, then release resources."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the store answers (readiness)."""

    async def release_memory(self) -> None:  # noqa: B027 (optional hook, a no-op by default)
        """Hand caches the store can rebuild back to the OS (called after a passivation wave)."""

    # records stored whole ----------------------------------------------------------------
    @abc.abstractmethod
    async def put(self, record: Record) -> None:
        """Insert or replace a record of a type in COLLECTIONS. Raises Duplicate on a
        unique-key clash (user email)."""

    @abc.abstractmethod
    async def get(self, kind: type[R], record_id: str) -> R | None: ...

    @abc.abstractmethod
    async def all(self, kind: type[R]) -> list[R]:
        """Every record of a kind, oldest first. For the small collections (users, teams,
        accounts, tags, templates); contacts and customers are searched instead."""

    @abc.abstractmethod
    async def delete(self, kind: type[R], record_id: str) -> bool: ...

    @abc.abstractmethod
    async def user_by_email(self, email: str) -> User | None: ...

    @abc.abstractmethod
    async def contact_by_handle(self, handle_key: str, value: str) -> Contact | None:
        """The contact whose `handles[handle_key] == value`."""

    @abc.abstractmethod
    async def search_contacts(self, text: str, limit: int = 20) -> list[Contact]:
        """Case-insensitive match on name, email, phone."""

    @abc.abstractmethod
    async def search_customers(self, text: str, limit: int = 20) -> list[Customer]:
        """Case-insensitive match on the customer's or a branch's name."""

    # conversations -----------------------------------------------------------------------
    @abc.abstractmethod
    async def commit(self, write: ConversationWrite) -> list[Event]:
        """Apply atomically; return the events with their cursors. Raises StaleWrite when
        the stored version is not `expected_version`, Duplicate on a unique-key clash (and
        then nothing of the write is applied)."""

    @abc.abstractmethod
    async def conversation(self, conversation_id: str) -> Conversation | None: ...

    @abc.abstractmethod
    async def latest_conversation(self, account_id: str, contact_id: str) -> Conversation | None:
        """The contact's most recently active conversation on that account."""

    @abc.abstractmethod
    async def list_conversations(self, query: InboxQuery) -> Page:
        """Newest activity first: ORDER BY last_activity_at DESC, id DESC."""

    @abc.abstractmethod
    async def due_snoozes(self, until: float, limit: int = 100) -> list[Conversation]:
        """Snoozed conversations whose snooze_until <= until."""

    # messages ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def message(self, message_id: str) -> Message | None: ...

    @abc.abstractmethod
    async def messages(
        self, conversation_id: str, before_seq: int | None = None, limit: int = 50
    ) -> list[Message]:
        """A page of history, newest first (seq descending), strictly below before_seq."""

    @abc.abstractmethod
    async def message_by_provider_id(self, account_id: str, provider_id: str) -> Message | None: ...

    @abc.abstractmethod
    async def message_by_client_key(self, client_key: str) -> Message | None: ...

    @abc.abstractmethod
    async def search_messages(
        self, account_ids: list[str], text: str, limit: int = 20
    ) -> list[SearchHit]:
        """Full-text search over message text (every status, resolved included), newest first."""

    # metrics -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def metric_messages(
        self,
        account_ids: list[str],
        since: float,
        until: float,
        after: tuple[str, float, str, int] | None = None,
        limit: int = 2000,
    ) -> list[MessageFact]:
        """One page of the messages of those accounts with since <= created_at < until (every
        kind; `text` only for system lines), ordered by (account_id, created_at,
        conversation_id, seq); pass the last row's `key()` as `after` for the next page."""

    @abc.abstractmethod
    async def conversations_created(
        self,
        account_ids: list[str],
        since: float,
        until: float,
        after: tuple[str, float, str] | None = None,
        limit: int = 2000,
    ) -> list[ConversationFact]:
        """One page of the conversations of those accounts created in [since, until), ordered by
        (account_id, created_at, id); pass the last row's (account_id, created_at, id) as
        `after`."""

    # event log ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def events_after(
        self, cursor: int, account_ids: list[str], limit: int = 1000
    ) -> list[Event]:
        """Events with cursor > `cursor` on those accounts, in cursor order."""

    @abc.abstractmethod
    async def conversation_events(
        self, conversation_id: str, after_seq: int, limit: int = 1000
    ) -> list[Event]:
        """One conversation's retained events with seq > after_seq, in seq order (to publish
        again what a dead node committed but never fanned out)."""

    @abc.abstractmethod
    async def event_bounds(self) -> tuple[int, int]:
        """(oldest retained cursor - 1, newest cursor): a resume from below the first
        number cannot be served exactly. (0, 0) for an empty log."""

    @abc.abstractmethod
    async def trim_events(self, keep_last: int) -> int:
        """Drop all but the newest `keep_last` events; return how many were dropped."""

    # outbox ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def due_outbox(self, account_id: str, until: float, limit: int = 50) -> list[OutboxItem]:
        """Items whose next_attempt_at <= until, oldest first."""

    @abc.abstractmethod
    async def save_outbox(self, item: OutboxItem) -> None: ...

    @abc.abstractmethod
    async def delete_outbox(self, item_id: str) -> None: ...

    # sessions ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_session(self, session: Session) -> None: ...

    @abc.abstractmethod
    async def session(self, token_hash: str) -> Session | None: ...

    @abc.abstractmethod
    async def delete_session(self, token_hash: str) -> None: ...


__all__ = [
    "COLLECTIONS",
    "ConversationWrite",
    "Duplicate",
    "InboxQuery",
    "Page",
    "SearchHit",
    "StaleWrite",
    "Store",
    "StoreError",
    "Tag",
    "Team",
    "Template",
]

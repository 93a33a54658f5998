"""The service layer both doors (HTTP API, Socket.IO) call: who may do what, then the actor.

It reads directly from the store and sends every change to the conversation's actor, which
re-checks permissions against its own, authoritative state before writing.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from server.actors.account import (
    Reload,
    Resolved,
    ResolveRecipient,
    ResolveSender,
    SetAccountStatus,
)
from server.actors.runtime import ActorError, ActorSystem, AskTimeout
from server.domain import assignment, permissions, snooze, templates
from server.domain import commands as c
from server.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from server.domain.html import sanitize_html
from server.domain.models import (
    AccountStatus,
    Attachment,
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Event,
    Role,
    Session,
    Tag,
    Team,
    Template,
    User,
    new_id,
)
from server.domain.passwords import verify_password
from server.realtime.event_log import EventLog, StoreEventLog
from server.realtime.hub import WORKSPACE_ROOM, Bus
from server.realtime.presence import Presence
from server.store.base import InboxQuery, SearchHit, Store
from server.transports.base import Inbound
from server.transports.whatsapp import config as whatsapp_config
from server.transports.whatsapp import templates_sync as whatsapp_templates

log = structlog.get_logger(__name__)

SESSION_TTL = 14 * 24 * 3600.0
SESSION_CACHE_SECONDS = 15.0
RESUME_LIMIT = 5000  # more missed events than this: a resync is cheaper than a replay
ASK_TIMEOUT = 10.0
IDEMPOTENCY_CACHE = 10_000
# The actor behind assignment rules: may assign anyone authorized, shows in the system line.
AUTO_ASSIGN = User(id="system:auto-assign", email="", name="Auto-assignment", role=Role.ADMIN)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Asker(Protocol):
    """Runs a command on a conversation's actor: the local ActorSystem, or in cluster mode
    the router that finds the node owning it."""

    async def ask(self, key: str, message: Any, timeout: float = 5.0) -> Any: ...


@dataclass(frozen=True, slots=True)
class Resume:
    events: list[Event]
    cursor: int
    resync: bool = False


class Workspace:
    def __init__(
        self,
        store: Store,
        conversations: Asker,
        accounts: ActorSystem,
        hub: Bus,
        presence: Presence,
        *,
        attachments: Any = None,
        log: EventLog | None = None,
    ) -> None:
        self.store = store
        self.log: EventLog = log or StoreEventLog(store)
        self.conversations = conversations
        self.accounts = accounts
        self.hub = hub
        self.presence = presence
        self.attachments = attachments
        self._accounts: dict[str, ChannelAccount] = {}
        self._users: dict[str, User] = {}
        # token hash -> (user id, session created at, cached until)
        self._sessions: OrderedDict[str, tuple[str, float, float]] = OrderedDict()
        self._idempotent: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._assignment_locks: dict[str, asyncio.Lock] = {}
        # Serializes assignment-rule runs per account so two new conversations do not both
        # pick the same least-loaded agent; a cluster replaces it with a Redis lock.
        self.assignment_lock: Callable[[str], AbstractAsyncContextManager[Any]] = (
            lambda account_id: self._assignment_locks.setdefault(account_id, asyncio.Lock())
        )
        # Called when a user's sessions were revoked (open sockets of old sessions close).
        self.revocation_listeners: list[Callable[[User], None]] = []
        # Called after an account's record changed (rooms follow its authorized users).
        self.account_listeners: list[Callable[[ChannelAccount], Awaitable[None]]] = []
        # Called (synchronously, must not block) once an inbound message is durable, also for
        # a redelivery (`reply.duplicate`): the assistant queues its analysis here.
        self.inbound_listeners: list[Callable[[ChannelAccount, c.Reply], None]] = []
        # Submits a new or edited WhatsApp template for the provider's review (set by the app).
        self.template_review: Callable[[ChannelAccount, Template], Awaitable[None]] | None = None

    async def load(self) -> None:
        self._accounts = {a.id: a for a in await self.store.all(ChannelAccount)}
        self._users = {u.id: u for u in await self.store.all(User)}

    # ------------------------------------------------------------------ sessions
    async def login(self, email: str, password: str, kind: str = "cookie") -> tuple[User, str]:
        user = await self.store.user_by_email(email.strip().lower())
        # Argon2 takes tens of ms of CPU: off the event loop. An unknown email costs the same.
        hashed = user.password_hash if user is not None else ""
        if not await asyncio.to_thread(verify_password, hashed, password) or user is None:
            raise Unauthenticated("Wrong email or password")
        token = secrets.token_urlsafe(32)
        await self.store.save_session(
            Session(token_hash(token), user.id, kind=kind, expires_at=time.time() + SESSION_TTL)
        )
        log.info("auth.login", user_id=user.id, kind=kind)
        return user, token

    async def logout(self, token: str) -> None:
        digest = token_hash(token)
        self._sessions.pop(digest, None)
        await self.store.delete_session(digest)

    async def revoke_sessions(self, user_id: str) -> User:
        """End every session of a user: here at once, on other nodes when their user cache
        refreshes; open sockets of those sessions are closed (revocation_listeners)."""
        user = replace(await self.user(user_id), sessions_valid_from=time.time())
        await self.store.put(user)
        self.remember_user(user)
        log.info("auth.sessions_revoked", user_id=user_id)
        return user

    async def renew_session(self, token: str, at: float) -> None:
        """Keep this session alive past a revocation made at `at` (the user's own password
        change keeps the tab that made it logged in)."""
        session = await self.store.session(token_hash(token))
        if session is not None:
            await self.store.save_session(replace(session, created_at=at))
            self._sessions.pop(session.token_hash, None)

    async def authenticate(self, token: str | None) -> User:
        """The user of a live session (see `authenticate_session`)."""
        user, _ = await self.authenticate_session(token)
        return user

    async def authenticate_session(self, token: str | None) -> tuple[User, float]:
        """The user of a live session and when the session was created. A session is
        re-read from the store at most SESSION_CACHE_SECONDS after the last read, so a logout
        elsewhere bites within that; a revocation (password change) bites as soon as the user
        record is refreshed (at once on this node, within seconds on the others)."""
        if not token:
            raise Unauthenticated("Log in first")
        digest = token_hash(token)
        cached = self._sessions.get(digest)
        now = time.time()
        if cached is not None and cached[2] > now:
            user_id, created_at, _ = cached
        else:
            session = await self.store.session(digest)
            if session is None or session.expires_at < now:
                self._sessions.pop(digest, None)
                raise Unauthenticated("Your session has expired: log in again")
            user_id, created_at = session.user_id, session.created_at
            until = min(session.expires_at, now + SESSION_CACHE_SECONDS)
            self._sessions[digest] = (user_id, created_at, until)
            if len(self._sessions) > 10_000:
                self._sessions.popitem(last=False)
        user = await self.user(user_id)
        if created_at < user.sessions_valid_from:
            self._sessions.pop(digest, None)
            raise Unauthenticated("Your session was ended (password changed): log in again")
        return user, created_at

    def session_valid(self, user_id: str, created_at: float) -> bool:
        """Whether a session of `user_id` created at `created_at` is still honoured."""
        user = self._users.get(user_id)
        return user is not None and created_at >= user.sessions_valid_from

    # ------------------------------------------------------------------ cached records
    async def user(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            user = await self.store.get(User, user_id)
            if user is None:
                raise NotFound(f"No user {user_id}")
            self._users[user_id] = user
        return user

    def known_user(self, user: User) -> User:
        """The freshest copy of a user (role, name, settings may have changed since login)."""
        return self._users.get(user.id, user)

    def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.name.lower())

    def remember_user(self, user: User) -> None:
        previous = self._users.get(user.id)
        self._users[user.id] = user
        if previous is not None and previous.sessions_valid_from != user.sessions_valid_from:
            for listener in self.revocation_listeners:
                listener(user)

    def account(self, account_id: str) -> ChannelAccount:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"No account {account_id}")
        return account

    def all_accounts(self) -> list[ChannelAccount]:
        return sorted(self._accounts.values(), key=lambda a: a.created_at)

    def records_changed(self, kind: str) -> None:
        """Tell every connected agent (on every node) that shared records of `kind` changed,
        so open clients refresh their menus without a reload."""
        self.hub.signal("workspace.changed", {"kind": kind}, WORKSPACE_ROOM)

    def remember_account(self, account: ChannelAccount) -> None:
        self._accounts[account.id] = account

    async def account_saved(self, account: ChannelAccount) -> None:
        """An account's stored record changed (here or, in a cluster, on another node):
        refresh the caches, the account's actor and who is in its room."""
        self.remember_account(account)
        await self.accounts.ask(account.id, Reload(), timeout=ASK_TIMEOUT)
        for listener in self.account_listeners:
            await listener(account)

    async def refresh_records(self) -> None:
        """Reload users and accounts from the store: in a cluster, other nodes write them."""
        for user in await self.store.all(User):
            if self._users.get(user.id) != user:
                self.remember_user(user)
        for account in await self.store.all(ChannelAccount):
            if self._accounts.get(account.id) != account:
                await self.account_saved(account)

    def visible_accounts(self, user: User) -> list[ChannelAccount]:
        return [a for a in self.all_accounts() if permissions.can_view(user, a)]

    def visible_account_ids(self, user: User) -> list[str]:
        return [a.id for a in self.visible_accounts(user)]

    def viewable_account(self, user: User, account_id: str) -> ChannelAccount:
        account = self.account(account_id)
        permissions.check_view(user, account)
        return account

    async def conversation_for(
        self, user: User, conversation_id: str
    ) -> tuple[Conversation, ChannelAccount]:
        conversation = await self.store.conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"No conversation {conversation_id}")
        account = self.viewable_account(user, conversation.account_id)
        return conversation, account

    # ------------------------------------------------------------------ reads
    async def list_conversations(
        self,
        user: User,
        *,
        tab: str = "all",
        statuses: list[str] | None = None,
        channel: str | None = None,
        account_id: str | None = None,
        tag_ids: list[str] | None = None,
        customer_id: str | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> tuple[list[Conversation], tuple[float, str] | None]:
        if tab not in ("mine", "unassigned", "all"):
            raise Invalid("tab must be mine, unassigned or all")
        account_ids = self.visible_account_ids(user)
        if account_id:
            self.viewable_account(user, account_id)
            account_ids = [account_id]
        try:
            status_values = [ConversationStatus(s) for s in statuses] if statuses else None
        except ValueError as exc:
            raise Invalid("status must be open, pending, snoozed or resolved") from exc
        try:
            channel_kind = ChannelKind(channel) if channel else None
        except ValueError as exc:
            raise Invalid("channel must be email, whatsapp or api") from exc
        page = await self.store.list_conversations(
            InboxQuery(
                account_ids=account_ids,
                tab=tab,
                user_id=user.id,
                statuses=status_values,
                channel=channel_kind,
                tag_ids=tag_ids or [],
                customer_id=customer_id,
                after=after,
                limit=max(1, min(limit, 200)),
            )
        )
        return page.conversations, page.next

    async def conversation_detail(self, user: User, conversation_id: str) -> dict[str, Any]:
        conversation, account = await self.conversation_for(user, conversation_id)
        contact = await self.store.get(Contact, conversation.contact_id)
        customer = (
            await self.store.get(Customer, conversation.customer_id)
            if conversation.customer_id
            else None
        )
        return {
            "conversation": conversation.to_dict(),
            "contact": contact.to_dict() if contact else None,
            "customer": customer.to_dict() if customer else None,
            "account": account.public(),
            "viewers": [
                {"user_id": v.user_id, "name": v.name}
                for v in await self.presence.viewers(conversation_id)
            ],
        }

    async def messages(
        self, user: User, conversation_id: str, before_seq: int | None, limit: int
    ) -> list[dict[str, Any]]:
        await self.conversation_for(user, conversation_id)
        rows = await self.store.messages(conversation_id, before_seq, max(1, min(limit, 200)))
        return [m.to_dict() for m in rows]

    async def search(self, user: User, text: str, limit: int = 20) -> list[SearchHit]:
        if not text.strip():
            raise Invalid("Search needs some text")
        return await self.store.search_messages(self.visible_account_ids(user), text[:256], limit)

    async def templates_for(
        self, user: User, query: str = "", account_id: str | None = None
    ) -> list[Template]:
        visible = set(self.visible_account_ids(user))
        rows = [t for t in await self.store.all(Template) if t.account_id in visible]
        if account_id:
            rows = [t for t in rows if t.account_id == account_id]
        if query:
            return templates.search(rows, query, limit=50)
        return rows

    async def resume(self, user: User, cursor: int) -> Resume:
        oldest, newest = await self.log.bounds()
        if cursor > newest:
            # A cursor from the future: the log was reset (a fresh data dir). Start over.
            return Resume([], newest, resync=True)
        if cursor < oldest:
            return Resume([], newest, resync=True)
        events = await self.log.after(cursor, self.visible_account_ids(user), RESUME_LIMIT + 1)
        if len(events) > RESUME_LIMIT:
            return Resume([], newest, resync=True)
        return Resume(events, events[-1].cursor if events else max(cursor, newest))

    async def bootstrap(self, user: User) -> dict[str, Any]:
        _, newest = await self.log.bounds()
        return {
            "user": user.public(),
            "users": [u.public() for u in self.users()],
            "teams": [t.to_dict() for t in await self.store.all(Team)],
            "accounts": [a.public() for a in self.visible_accounts(user)],
            "tags": [t.to_dict() for t in await self.store.all(Tag) if not t.deleted],
            "templates": [t.to_dict() for t in await self.templates_for(user)],
            "presence": await self.presence.online(),
            "cursor": newest,
            "snooze_presets": list(snooze.PRESETS),
        }

    # ------------------------------------------------------------------ commands
    async def _ask(self, conversation_id: str, command: c.Command) -> c.Reply:
        try:
            reply = await self.conversations.ask(conversation_id, command, timeout=ASK_TIMEOUT)
        except AskTimeout as exc:
            raise Unavailable("The conversation is busy: try again") from exc
        except ActorError as exc:
            log.error("conversation.unavailable", conversation_id=conversation_id, error=str(exc))
            raise Unavailable("The conversation could not be updated: try again") from exc
        if isinstance(reply, DomainError):
            raise reply
        assert isinstance(reply, c.Reply)
        return reply

    async def _once(self, user: User, key: str | None, run: Any) -> Any:
        """Run a command once per (user, idempotency key); a retry gets the first answer."""
        if not key:
            return await run()
        if not isinstance(key, str) or len(key) > 128:
            raise Invalid("idempotency_key must be a string of at most 128 characters")
        slot = (user.id, key)
        if slot in self._idempotent:
            return self._idempotent[slot]
        result = await run()
        self._idempotent[slot] = result
        if len(self._idempotent) > IDEMPOTENCY_CACHE:
            self._idempotent.popitem(last=False)
        return result

    async def post_message(
        self,
        user: User,
        conversation_id: str,
        *,
        text: str,
        html: str = "",
        note: bool = False,
        attachment_ids: list[str] | None = None,
        then: str | None = None,
        idempotency_key: str | None = None,
        template_id: str | None = None,
        template_params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        conversation, account = await self.conversation_for(user, conversation_id)
        attachments = await self._attachments(attachment_ids or [])
        client_key = f"{user.id}:{idempotency_key}" if idempotency_key else None
        template: Template | None = None
        data: dict[str, Any] = {}
        if template_id:
            contact = await self.store.get(Contact, conversation.contact_id)
            template, text, data = await self._template_message(
                user, account, conversation, contact, template_id, template_params
            )
        command = c.PostMessage(
            by=user,
            account=account,
            text=_text(text),
            html=sanitize_html(html) if html else "",
            note=bool(note),
            attachments=attachments,
            client_key=client_key,
            then=then,
            template=template,
            data=data,
        )
        reply = await self._ask(conversation_id, command)
        return await self._message_reply(reply)

    async def start_conversation(
        self,
        user: User,
        *,
        account_id: str,
        to: str,
        name: str = "",
        text: str,
        subject: str = "",
        idempotency_key: str | None = None,
        template_id: str | None = None,
        template_params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        account = self.viewable_account(user, account_id)
        to = (to or "").strip()
        if not to or len(to) > 256:
            raise Invalid("Enter the recipient (an email address, phone number or contact id)")
        if account.kind == ChannelKind.WHATSAPP:
            to = whatsapp_config.normalize_phone(to)
        resolved = await self._account_ask(account.id, ResolveRecipient(to, name))
        client_key = f"{user.id}:{idempotency_key}" if idempotency_key else None
        template: Template | None = None
        data: dict[str, Any] = {}
        if template_id:
            template, text, data = await self._template_message(
                user, account, None, resolved.contact, template_id, template_params
            )
        command = c.PostMessage(
            by=user,
            account=account,
            text=_text(text),
            client_key=client_key,
            start_with=resolved.contact,
            subject=subject[:512],
            template=template,
            data=data,
        )
        reply = await self._ask(resolved.conversation_id, command)
        return await self._message_reply(reply)

    async def _message_reply(self, reply: c.Reply) -> dict[str, Any]:
        message = await self.store.message(reply.message_ids[0]) if reply.message_ids else None
        return {
            "conversation": reply.conversation.to_dict(),
            "message": message.to_dict() if message else None,
            "duplicate": reply.duplicate,
        }

    async def assign(
        self,
        user: User,
        conversation_id: str,
        *,
        user_id: str | None,
        team_id: str | None,
        idempotency_key: str | None = None,
        expected: tuple[str | None, str | None] | None = None,
    ) -> Conversation:
        _, account = await self.conversation_for(user, conversation_id)
        to_user = await self.user(user_id) if user_id else None
        to_team = await self.store.get(Team, team_id) if team_id else None
        if team_id and to_team is None:
            raise NotFound(f"No team {team_id}")

        async def run() -> Conversation:
            command = c.Assign(
                by=user, account=account, to_user=to_user, to_team=to_team, expected=expected
            )
            return (await self._ask(conversation_id, command)).conversation

        result: Conversation = await self._once(user, idempotency_key, run)
        return result

    async def set_status(self, user: User, conversation_id: str, status: str) -> Conversation:
        _, account = await self.conversation_for(user, conversation_id)
        reply = await self._ask(
            conversation_id, c.SetStatus(by=user, account=account, status=status)
        )
        return reply.conversation

    async def snooze(
        self,
        user: User,
        conversation_id: str,
        *,
        preset: str | None = None,
        until: float | None = None,
    ) -> Conversation:
        _, account = await self.conversation_for(user, conversation_id)
        now = time.time()
        if preset:
            when = snooze.snooze_until(preset, datetime.now(UTC), user.time_zone).timestamp()
        elif until is not None:
            when = snooze.snooze_until_custom(float(until), now)
        else:
            raise Invalid("Choose a snooze preset or a time")
        reply = await self._ask(conversation_id, c.Snooze(by=user, account=account, until=when))
        return reply.conversation

    async def wake(self, conversation_id: str) -> None:
        await self._ask(conversation_id, c.Wake())

    async def tag(
        self,
        user: User,
        conversation_id: str,
        *,
        tag_id: str | None = None,
        name: str | None = None,
    ) -> Conversation:
        _, account = await self.conversation_for(user, conversation_id)
        tag = await self._tag(tag_id, name)
        reply = await self._ask(conversation_id, c.AddTag(by=user, account=account, tag=tag))
        return reply.conversation

    async def untag(self, user: User, conversation_id: str, tag_id: str) -> Conversation:
        _, account = await self.conversation_for(user, conversation_id)
        reply = await self._ask(
            conversation_id, c.RemoveTag(by=user, account=account, tag_id=tag_id)
        )
        return reply.conversation

    async def _tag(self, tag_id: str | None, name: str | None) -> Tag:
        if tag_id:
            tag = await self.store.get(Tag, tag_id)
            if tag is None or tag.deleted:
                raise NotFound(f"No tag {tag_id}")
            return tag
        clean = (name or "").strip()
        if not clean or len(clean) > 64:
            raise Invalid("A tag needs a name of at most 64 characters")
        for existing in await self.store.all(Tag):
            if not existing.deleted and existing.name.lower() == clean.lower():
                return existing
        tag = Tag(id=new_id("tag"), name=clean)
        await self.store.put(tag)
        return tag

    async def link_customer(
        self,
        user: User,
        conversation_id: str,
        *,
        customer_id: str | None,
        branch_id: str | None = None,
    ) -> Conversation:
        _, account = await self.conversation_for(user, conversation_id)
        name = ""
        if customer_id:
            customer = await self.store.get(Customer, customer_id)
            if customer is None:
                raise NotFound(f"No customer {customer_id}")
            if branch_id and branch_id not in {b.id for b in customer.branches}:
                raise NotFound(f"No branch {branch_id} at {customer.name}")
            name = customer.name
        command = c.LinkCustomer(
            by=user,
            account=account,
            customer_id=customer_id,
            branch_id=branch_id,
            customer_name=name,
        )
        return (await self._ask(conversation_id, command)).conversation

    async def render_template(self, user: User, conversation_id: str, template_id: str) -> str:
        conversation, account = await self.conversation_for(user, conversation_id)
        template = await self.store.get(Template, template_id)
        if template is None or template.account_id != account.id:
            raise NotFound(f"No template {template_id} for this account")
        contact = await self.store.get(Contact, conversation.contact_id)
        context = await self._template_context(user, account, conversation, contact)
        return templates.render(template.content, {k: v for k, v in context.items() if v})

    async def _template_context(
        self,
        user: User,
        account: ChannelAccount,
        conversation: Conversation | None,
        contact: Contact | None,
    ) -> dict[str, str]:
        customer_id = conversation.customer_id if conversation else None
        customer = await self.store.get(Customer, customer_id) if customer_id else None
        return {
            "customer_name": customer.name if customer else (contact.name if contact else ""),
            "contact_name": contact.name if contact else "",
            "user_name": user.name,
            "company_name": str(account.settings.get("company_name", "")),
        }

    async def _template_message(
        self,
        user: User,
        account: ChannelAccount,
        conversation: Conversation | None,
        contact: Contact | None,
        template_id: str,
        overrides: dict[str, str] | None,
    ) -> tuple[Template, str, dict[str, Any]]:
        """A WhatsApp template message: the template, the text the thread shows and the data
        the channel sends it from (its approval and the window are checked by the actor)."""
        if account.kind != ChannelKind.WHATSAPP:
            raise Invalid("Template messages are sent on WhatsApp accounts only")
        template = await self.store.get(Template, template_id)
        if template is None or template.account_id != account.id:
            raise NotFound(f"No template {template_id} for this account")
        context = await self._template_context(user, account, conversation, contact)
        text, data = whatsapp_templates.message_data(template, context, overrides or {})
        return template, text, data

    # ------------------------------------------------------------------ channel intake
    async def _account_ask(self, account_id: str, message: Any) -> Resolved:
        try:
            result = await self.accounts.ask(account_id, message, timeout=ASK_TIMEOUT)
        except DomainError:
            raise
        except AskTimeout as exc:
            raise Unavailable("The account is busy: try again") from exc
        except ActorError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, DomainError):
                raise cause from exc
            raise Unavailable("The account is unavailable: try again") from exc
        assert isinstance(result, Resolved)
        return result

    async def intake(self, account_id: str, inbound: Inbound) -> c.Reply:
        """Store a customer's message; returns once it is durable (ack the provider after)."""
        resolved = await self._account_ask(account_id, ResolveSender(inbound))
        html = sanitize_html(inbound.html) if inbound.html else ""
        command = c.AppendInbound(
            account=resolved.account,
            contact=resolved.contact,
            provider_message_id=inbound.provider_message_id,
            text=_text(inbound.text, required=False),
            html=html,
            attachments=inbound.attachments,
            subject=inbound.subject,
        )
        reply = await self._ask(resolved.conversation_id, command)
        await self._after_intake(resolved.account, reply)
        return reply

    async def intake_group(
        self, account: ChannelAccount, conversation_id: str, command: c.AppendInbound
    ) -> c.Reply:
        """A participant's message in a WhatsApp group (its conversation found by the caller):
        assignment rules and listeners run as for any inbound message."""
        reply = await self._ask(conversation_id, command)
        await self._after_intake(account, reply)
        return reply

    async def run_command(self, conversation_id: str, command: c.Command) -> c.Reply:
        """Run a command on a conversation's actor (domain refusals raised)."""
        return await self._ask(conversation_id, command)

    async def _after_intake(self, account: ChannelAccount, reply: c.Reply) -> None:
        if not reply.duplicate and account.settings.get("assignment_rules"):
            conversation = reply.conversation
            if conversation.assignee_user_id is None and conversation.assignee_team_id is None:
                await self._auto_assign(account, conversation)
        for listener in self.inbound_listeners:
            try:
                listener(account, reply)
            except Exception:  # a listener's bug must not fail the provider's delivery
                log.exception("intake.listener_failed", conversation_id=reply.conversation.id)

    async def post_assistant_note(
        self,
        account_id: str,
        conversation_id: str,
        *,
        inbound_message_id: str,
        text: str,
        data: dict[str, Any],
        client_key: str,
    ) -> c.Reply:
        """Store the assistant's note through the conversation's actor (its owner node in a
        cluster); a second note for the same inbound message answers `duplicate`."""
        command = c.AddAssistantNote(
            account=self.account(account_id),
            inbound_message_id=inbound_message_id,
            text=_text(text),
            data=data,
            client_key=client_key,
        )
        return await self._ask(conversation_id, command)

    async def _auto_assign(self, account: ChannelAccount, conversation: Conversation) -> None:
        """Run the account's assignment rules for an unassigned conversation; a human who
        assigns it meanwhile wins (the command expects it still unassigned)."""
        async with self.assignment_lock(account.id):
            customer = (
                await self.store.get(Customer, conversation.customer_id)
                if conversation.customer_id
                else None
            )
            workload = {
                grant.user_id: await self._open_load(account.id, grant.user_id)
                for grant in account.authorized
                if grant.handles_conversations and grant.auto_assign
            }
            facts = assignment.Facts(
                account=account,
                users=self._users,
                customer=customer,
                latest_assignee_id=conversation.last_assignee_user_id,
                teams={t.id: t for t in await self.store.all(Team)},
                workload=workload,
                online=frozenset(await self.presence.online()),
            )
            user_id = assignment.choose_assignee(account.settings["assignment_rules"], facts)
            if user_id is None:
                return
            command = c.Assign(
                by=AUTO_ASSIGN,
                account=account,
                to_user=self._users[user_id],
                to_team=None,
                expected=(None, None),
            )
            try:
                await self._ask(conversation.id, command)
            except DomainError as refusal:
                log.info("assignment.skipped", conversation_id=conversation.id, why=refusal.code)

    async def _open_load(self, account_id: str, user_id: str) -> int:
        page = await self.store.list_conversations(
            InboxQuery(
                account_ids=[account_id],
                tab="mine",
                user_id=user_id,
                statuses=[ConversationStatus.OPEN, ConversationStatus.PENDING],
                limit=200,
            )
        )
        return len(page.conversations)

    async def report_delivery(
        self, account_id: str, message_id: str, status: str, reason: str = ""
    ) -> None:
        try:
            delivery_status = DeliveryStatus(status)
        except ValueError as exc:
            raise Invalid("status must be sent, delivered, read or failed") from exc
        message = await self.store.message(message_id)
        if message is None:
            message = await self.store.message_by_provider_id(account_id, message_id)
        if message is None or message.account_id != account_id:
            raise NotFound(f"No message {message_id} on this account")
        await self._ask(
            message.conversation_id, c.ReportDelivery(message.id, delivery_status, reason[:500])
        )

    async def set_account_status(
        self, user: User, account_id: str, status: AccountStatus
    ) -> ChannelAccount:
        if user.role != Role.ADMIN:
            raise Forbidden("Only admins can pause or resume an account")
        self.account(account_id)
        try:
            account = await self.accounts.ask(
                account_id, SetAccountStatus(status), timeout=ASK_TIMEOUT
            )
        except ActorError as exc:
            raise Conflict("The account could not be updated: try again") from exc
        assert isinstance(account, ChannelAccount)
        self.remember_account(account)
        return account

    async def _attachments(self, ids: list[str]) -> tuple[Attachment, ...]:
        if not ids:
            return ()
        if self.attachments is None:
            raise Invalid("Attachments are not enabled")
        found = []
        for attachment_id in ids[:20]:
            attachment = await self.attachments.get_meta(attachment_id)
            if attachment is None:
                raise NotFound(f"No upload {attachment_id}")
            found.append(attachment)
        return tuple(found)


def _text(value: Any, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid("text must be a string")
    if len(value) > 65_536:
        raise Invalid("The message is too long (64 KiB at most)")
    if required and not value.strip():
        raise Invalid("The message is empty")
    return value


def expected_assignee(expected: Any) -> tuple[str | None, str | None] | None:
    """The assignment the agent saw, from `{"user_id", "team_id"}` (see commands.Assign)."""
    if expected is None:
        return None
    if not isinstance(expected, dict):
        raise Invalid("expected must be an object with user_id and team_id")
    user_id, team_id = expected.get("user_id"), expected.get("team_id")
    if not all(v is None or isinstance(v, str) for v in (user_id, team_id)):
        raise Invalid("expected.user_id and expected.team_id must be ids or null")
    return (user_id, team_id)

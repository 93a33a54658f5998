"""ConversationActor: the only writer of one conversation.

Callbacks only; the runtime does mailboxes, restarts and passivation. On start it loads the
conversation from the store, so a restart after a crash resumes from what was acknowledged. Each
command is decided by pure code (`server.domain.conversation.decide`), committed atomically, and
only then published, so no agent ever sees an event the store does not have.

Domain refusals (forbidden, invalid...) are returned, not raised: they are answers, not crashes,
and must not count against the restart intensity.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from server.actors.runtime import Actor
from server.domain import commands as c
from server.domain.conversation import Notification, Outcome, decide
from server.domain.errors import DomainError
from server.domain.models import Conversation, ConversationStatus, Event, Message, Record
from server.store.base import ConversationWrite, Duplicate, StaleWrite, Store

log = structlog.get_logger(__name__)

RACE_RETRIES = 5
RACE_PAUSE = 0.02  # seconds, doubled per retry: lets a racing writer finish its commit


class _LostRace(Exception):
    """The store refused a write because the conversation moved on."""


@dataclass(slots=True)
class ConversationDeps:
    """What a ConversationActor talks to; wired by the app."""

    store: Store
    publish: Callable[[list[Event]], None]  # synchronous: keeps events in commit order
    notify: Callable[[Notification, Conversation], None]
    outbox_ready: Callable[[str], None]  # account id with new outbox items
    schedule_wake: Callable[[str, float], None]  # conversation id, when
    clock: Callable[[], float] = time.time
    on_stopped: Callable[[str], Awaitable[None]] | None = None  # cluster: release the lease
    # Cluster: wait until published events are in the shared stream before answering.
    confirm: Callable[[], Awaitable[bool]] | None = None
    # Cluster: publish again what a dead owner committed but never fanned out.
    repair: Callable[[Conversation], Awaitable[None]] | None = None


class ConversationActor(Actor):
    def __init__(self, conversation_id: str, deps: ConversationDeps) -> None:
        self.id = conversation_id
        self.deps = deps
        self.state: Conversation | None = None

    async def on_start(self) -> None:
        await self._load()

    async def _load(self) -> None:
        self.state = await self.deps.store.conversation(self.id)
        if self.state is not None and self.deps.repair is not None:
            await self.deps.repair(self.state)

    async def on_stop(self, reason: str) -> None:
        if self.deps.on_stopped is not None:
            await self.deps.on_stopped(self.id)

    async def handle_cast(self, message: Any) -> None:
        result = await self.handle_call(message)
        if isinstance(result, DomainError):
            log.info("conversation.cast_refused", conversation_id=self.id, error=result.message)

    async def handle_call(self, message: Any) -> c.Reply | DomainError:
        try:
            return await self._handle(message)
        except DomainError as refusal:
            return refusal

    async def _handle(self, command: c.Command) -> c.Reply:
        # Another writer (a former owner node, or the same new customer arriving through two
        # nodes) may have written since we loaded: reload and decide again, a bounded number
        # of times. The store's version check makes this safe.
        for attempt in range(RACE_RETRIES):
            try:
                return await self._attempt(command)
            except _LostRace:
                await self._load()
                await asyncio.sleep(RACE_PAUSE * 2**attempt)
        raise StaleWrite(f"conversation {self.id} kept changing under its writer")

    async def _attempt(self, command: c.Command) -> c.Reply:
        store = self.deps.store
        duplicate_of: Message | None = None
        target: Message | None = None
        match command:
            case c.PostMessage(client_key=key) if key:
                duplicate_of = await store.message_by_client_key(key)
            case c.AddAssistantNote(client_key=key):
                duplicate_of = await store.message_by_client_key(key)
            # AppendInbound: no read first. A redelivered webhook is rare; the store's unique
            # (account, provider id) index refuses it in the commit, answered below.
            case c.ReportDelivery():
                target = await store.message(command.message_id)
        if duplicate_of is not None and self.state is None:
            self.state = await store.conversation(duplicate_of.conversation_id)
        outcome = decide(
            self.id,
            self.state,
            command,
            now=self.deps.clock(),
            target_message=target,
            duplicate_of=duplicate_of,
        )
        if outcome.duplicate and duplicate_of is not None:
            reply = outcome.reply()
            reply.message_ids = [duplicate_of.id]
            return reply
        if not outcome.changed:
            return outcome.reply()
        try:
            events = await store.commit(
                ConversationWrite(
                    conversation=outcome.conversation,
                    expected_version=outcome.expected_version,
                    new_messages=outcome.new_messages,
                    updated_messages=outcome.updated_messages,
                    events=outcome.events,
                    outbox=outcome.outbox,
                    records=_new_contact(command) if outcome.expected_version == 0 else [],
                )
            )
        except Duplicate as dup:
            if dup.key in ("provider_message_id", "client_key") and dup.existing_id:
                # Someone stored this very message first: answer with theirs, store nothing.
                self.state = await store.conversation(self.id)
                if self.state is None:
                    raise
                return c.Reply(self.state, [dup.existing_id], True)
            raise _LostRace from dup
        except StaleWrite as stale:
            raise _LostRace from stale
        self.state = outcome.conversation
        self._after_commit(outcome, events)
        if self.deps.confirm is not None:
            await self.deps.confirm()
        return outcome.reply()

    def _after_commit(self, outcome: Outcome, events: list[Event]) -> None:
        # No await between commit and publish: events leave in commit order.
        self.deps.publish(events)
        conv = outcome.conversation
        for note in outcome.notifications:
            self.deps.notify(note, conv)
        if outcome.outbox:
            self.deps.outbox_ready(conv.account_id)
        if conv.status == ConversationStatus.SNOOZED and conv.snooze_until is not None:
            self.deps.schedule_wake(conv.id, conv.snooze_until)


def _new_contact(command: c.Command) -> list[Record]:
    """The contact a new conversation starts with: stored in the conversation's first commit."""
    match command:
        case c.AppendInbound(contact=contact):
            return [contact]
        case c.PostMessage(start_with=contact) if contact is not None:
            return [contact]
        case c.StartGroup(contact=contact):
            return [contact]
    return []

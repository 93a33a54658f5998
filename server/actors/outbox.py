"""OutboxActor: one per channel account; delivers its queued outbound messages in order.

Kept apart from the AccountActor so a slow provider never delays intake. Items are durable
(written with the message in one commit), so a crash or restart resumes delivery; a failed try
is retried with exponential backoff (or the provider's Retry-After) until MAX_ATTEMPTS, then the
message is marked failed with the provider's reason.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from server.actors.runtime import Actor
from server.domain import commands as c
from server.domain.models import (
    AccountStatus,
    ChannelAccount,
    Contact,
    DeliveryStatus,
    OutboxItem,
)
from server.store.base import Store
from server.transports.base import Channel, DeliveryError, Outgoing

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = 1.0  # seconds; 1, 2, 4 ... capped at BACKOFF_MAX: about 4 minutes in all
BACKOFF_MAX = 120.0


@dataclass(frozen=True, slots=True)
class Kick:
    """Deliver whatever is due now."""


@dataclass(slots=True)
class OutboxDeps:
    store: Store
    channels: dict[str, Channel]  # by channel kind
    report: Callable[[str, c.ReportDelivery], Awaitable[Any]]  # conversation id, report
    retry_at: Callable[[str, float], None]  # account id, when
    clock: Callable[[], float] = time.time
    # Cluster: only the node holding the account's outbox lease delivers (no double sends).
    may_deliver: Callable[[str], Awaitable[bool]] | None = None


class OutboxActor(Actor):
    def __init__(self, account_id: str, deps: OutboxDeps) -> None:
        self.id = account_id
        self.deps = deps

    async def handle_cast(self, message: Any) -> None:
        if isinstance(message, Kick):
            await self._deliver_due()

    async def handle_call(self, message: Any) -> Any:
        await self.handle_cast(message)
        return None

    async def _deliver_due(self) -> None:
        store = self.deps.store
        if self.deps.may_deliver is not None and not await self.deps.may_deliver(self.id):
            return
        while True:
            account = await store.get(ChannelAccount, self.id)
            if account is None or account.status == AccountStatus.PAUSED:
                return
            items = await store.due_outbox(self.id, self.deps.clock(), limit=50)
            if not items:
                return
            for item in items:
                await self._deliver(account, item)

    async def _deliver(self, account: ChannelAccount, item: OutboxItem) -> None:
        store = self.deps.store
        message = await store.message(item.message_id)
        conversation = await store.conversation(item.conversation_id)
        contact = (
            await store.get(Contact, conversation.contact_id) if conversation is not None else None
        )
        channel = self.deps.channels.get(str(account.kind))
        if message is None or conversation is None or contact is None or channel is None:
            log.error("outbox.orphan", item=item.id, account_id=self.id)
            await store.delete_outbox(item.id)
            return
        try:
            result = await channel.send(Outgoing(account, conversation, contact, message))
        except DeliveryError as error:
            await self._failed(item, error)
            return
        except Exception as exc:
            log.exception("outbox.send_crashed", item=item.id, account_id=self.id)
            await self._failed(
                item, DeliveryError(f"internal error: {type(exc).__name__}", retryable=True)
            )
            return
        await self.deps.report(
            conversation.id,
            c.ReportDelivery(message.id, DeliveryStatus.SENT, "", result.provider_message_id),
        )
        await store.delete_outbox(item.id)

    async def _failed(self, item: OutboxItem, error: DeliveryError) -> None:
        item.attempts += 1
        item.last_error = error.reason
        if not error.retryable or item.attempts >= MAX_ATTEMPTS:
            log.warning("outbox.gave_up", item=item.id, attempts=item.attempts, reason=error.reason)
            await self.deps.report(
                item.conversation_id,
                c.ReportDelivery(item.message_id, DeliveryStatus.FAILED, error.reason),
            )
            await self.deps.store.delete_outbox(item.id)
            return
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (item.attempts - 1))
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, BACKOFF_MAX * 5))
        item.next_attempt_at = self.deps.clock() + delay
        log.info(
            "outbox.retry", item=item.id, attempts=item.attempts, delay=delay, reason=error.reason
        )
        await self.deps.store.save_outbox(item)
        self.deps.retry_at(self.id, item.next_attempt_at)

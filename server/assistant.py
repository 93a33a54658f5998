"""The assistant service: analyzes each new inbound customer message off the intake path and
posts the result as a private note (docs/architecture.md, "The assistant").

Intake only hands it the committed message's id (`Workspace.inbound_listeners`, synchronous,
never blocking): a bounded queue and a few worker tasks do the rest, so a slow or failing
analyzer never delays a provider's acknowledgement. The note goes through the conversation's
actor like any command (in a cluster, through the node owning the conversation), so it gets a
seq and an event, is stored, and reaches agents live.

Idempotent: the note's client key is derived from the inbound message id and the store keeps
client keys unique, so a redelivered message, a retry after a crash, or two nodes analyzing the
same message store one note. A failed analysis is logged and loses nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from server.domain import commands as c
from server.domain.analysis import (
    AnalysisContext,
    Analyzer,
    TagInfo,
    assistant_enabled,
    note_client_key,
    note_text,
)
from server.domain.errors import NotFound
from server.domain.models import ChannelAccount, MessageKind, Tag
from server.workspace import Workspace

log = structlog.get_logger(__name__)

QUEUE_SIZE = 2000
WORKERS = 2
ANALYZE_TIMEOUT = 15.0  # seconds; generous for a model-backed analyzer, instant for the rules


@dataclass(frozen=True, slots=True)
class Job:
    account_id: str
    conversation_id: str
    message_id: str


class Assistant:
    def __init__(
        self,
        workspace: Workspace,
        analyzer: Analyzer,
        *,
        workers: int = WORKERS,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.workspace = workspace
        self.analyzer = analyzer
        self._workers = workers
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_size)
        self._pending: set[str] = set()  # message ids queued or in progress
        self.skipped = 0  # analyses dropped because the queue was full
        self._tasks: list[asyncio.Task[None]] = []
        self.posted = 0

    # ------------------------------------------------------------------ intake side
    def on_inbound(self, account: ChannelAccount, reply: c.Reply) -> None:
        """A customer's message is durable: queue its analysis. Never blocks, never raises
        into intake. A redelivery is queued too: if the first analysis was lost (a crash
        between commit and note), this one posts the note; otherwise it is a no-op."""
        if not reply.message_ids or not assistant_enabled(account.settings):
            return
        message_id = reply.message_ids[0]
        if message_id in self._pending:
            return
        try:
            self._queue.put_nowait(Job(account.id, reply.conversation.id, message_id))
        except asyncio.QueueFull:
            # Overload: the analysis is skipped (the message itself is stored). One line per
            # hundred skips, so an intake burst does not also flood the log.
            self.skipped += 1
            if self.skipped % 100 == 1:
                log.warning("assistant.queue_full", message_id=message_id, skipped=self.skipped)
            return
        self._pending.add(message_id)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name=f"assistant-{i}") for i in range(self._workers)
        ]

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued analysis has been handled (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            await self._queue.join()

    async def aclose(self, timeout: float = 2.0) -> None:
        """Finish what is queued for a moment, then stop: actors are still running here."""
        if not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            await self.drain(timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self.handle(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "assistant.failed",
                    conversation_id=job.conversation_id,
                    message_id=job.message_id,
                )
            finally:
                self._pending.discard(job.message_id)
                self._queue.task_done()

    # ------------------------------------------------------------------ one message
    async def handle(self, job: Job) -> bool:
        """Analyze one inbound message and post the note; True when a note was stored now."""
        store = self.workspace.store
        key = note_client_key(job.message_id)
        if await store.message_by_client_key(key) is not None:
            return False  # analyzed before (a redelivery, or another node got there first)
        try:
            account = self.workspace.account(job.account_id)
        except NotFound:
            return False
        if not assistant_enabled(account.settings):
            return False
        message = await store.message(job.message_id)
        if (
            message is None
            or message.kind != MessageKind.INBOUND
            or message.sender.type != "contact"
            or not message.text.strip()
        ):
            return False
        conversation = await store.conversation(job.conversation_id)
        if conversation is None:
            return False
        tags = tuple(
            TagInfo(t.id, t.name, t.description) for t in await store.all(Tag) if not t.deleted
        )
        context = AnalysisContext(
            tags=tags,
            applied_tag_ids=frozenset(conversation.tag_ids),
            assigned=conversation.assignee_user_id is not None,
            customer_linked=conversation.customer_id is not None,
            status=str(conversation.status),
        )
        async with asyncio.timeout(ANALYZE_TIMEOUT):
            analysis = await self.analyzer.analyze(message.text, context)
        if not analysis.has_findings:
            log.debug("assistant.nothing_to_report", message_id=message.id)
            return False
        reply = await self.workspace.post_assistant_note(
            account.id,
            conversation.id,
            inbound_message_id=message.id,
            text=note_text(analysis),
            data=analysis.to_dict(),
            client_key=key,
        )
        if reply.duplicate:
            return False
        self.posted += 1
        log.info(
            "assistant.noted",
            conversation_id=conversation.id,
            message_id=message.id,
            sentiment=analysis.sentiment,
            urgent=analysis.urgent,
        )
        return True

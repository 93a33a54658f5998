"""EventHub: hands committed events and ephemeral signals to the agents' transport, in order.

`publish` is synchronous so a writer can call it right after its commit without yielding: events
then leave in commit order, which is what lets a client resume from "the highest cursor I have".
One dispatcher task drains the queue and emits each event once per room (python-socketio encodes
a room emit once for all its members).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog

from server.domain.models import Event

log = structlog.get_logger(__name__)


def account_room(account_id: str) -> str:
    return f"account:{account_id}"


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


# Every connection: hears that shared records (users, teams, accounts, tags, templates) changed.
WORKSPACE_ROOM = "workspace"


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class Emitter(Protocol):
    async def emit(self, event: str, data: Any, room: str, skip_sid: str | None = None) -> None: ...


class Bus(Protocol):
    """What the writers and the gateway need from the event hub, in either mode."""

    def attach(self, emitter: Emitter) -> None: ...

    def publish(self, events: list[Event]) -> None: ...

    def signal(self, name: str, payload: Any, room: str, skip_sid: str | None = None) -> None: ...

    def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def mark(self) -> int: ...

    async def confirmed(self, mark: int, timeout: float = 2.0) -> bool: ...


class EventHub:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[str, Any, str, str | None]] = asyncio.Queue()
        self._emitters: list[Emitter] = []
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def attach(self, emitter: Emitter) -> None:
        self._emitters.append(emitter)

    def publish(self, events: list[Event]) -> None:
        for event in events:
            self._queue.put_nowait((event.type, event.wire(), account_room(event.account_id), None))
        self.published += len(events)

    def signal(self, name: str, payload: Any, room: str, skip_sid: str | None = None) -> None:
        """An ephemeral event (typing, viewing, presence): not logged, not resumable."""
        self._queue.put_nowait((name, payload, room, skip_sid))

    def mark(self) -> int:
        return 0

    async def confirmed(self, mark: int, timeout: float = 2.0) -> bool:
        """Embedded mode: the events are already in the store's log, which resume reads."""
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-hub")

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until everything published so far has been handed to the emitters."""
        async with asyncio.timeout(timeout):
            await self._queue.join()

    async def aclose(self) -> None:
        if self._task is None:
            return
        try:
            await self.drain()
        except TimeoutError:
            log.warning("hub.drain_timeout", pending=self._queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            name, payload, room, skip_sid = await self._queue.get()
            try:
                for emitter in self._emitters:
                    await emitter.emit(name, payload, room, skip_sid)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub.emit_failed", event=name, room=room)
            finally:
                self._queue.task_done()
            # Room emits hand packets over without suspending (transports/fanout.py): yield
            # once per event so the sockets' writers (and their pings) keep running under a
            # backlog instead of being starved until clients time out.
            await asyncio.sleep(0)

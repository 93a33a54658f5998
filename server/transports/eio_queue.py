"""A smaller per-connection packet queue for Engine.IO.

Engine.IO gives every connection an `asyncio.Queue` (its outgoing packets) through the
documented `AsyncServer.create_queue` hook. An `asyncio.Queue` holds four deques (items, getters,
putters, and the `join()` event's waiters) of ~760 bytes each even when empty: 3 KB of an idle
connection's ~33 KB. `LeanQueue` keeps the part of the interface Engine.IO and
`transports/fanout.py` use, unbounded as Engine.IO creates it, and allocates only what is in use.

`get()` returns a future rather than a coroutine, so the `asyncio.wait_for(queue.get(), ...)` in
Engine.IO's writer awaits it directly instead of wrapping it in a task per wait. A put while the
writer waits hands the packet to that future. The one difference from `asyncio.Queue`: a packet
handed to a getter whose task is cancelled before it resumes goes with that task (asyncio.Queue
would keep it queued). Engine.IO's only getter is the socket's writer task, which is never
cancelled while the socket lives, so nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import engineio
import socketio


class LeanQueue:
    """Unbounded FIFO with the used subset of `asyncio.Queue`'s interface."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: list[asyncio.Future[Any]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    def empty(self) -> bool:
        return self._items is None

    def put_nowait(self, item: Any) -> None:
        self._unfinished += 1
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(item)
                return
        if self._items is None:
            self._items = deque()
        self._items.append(item)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        items = self._items
        if items is None:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None  # an idle connection keeps no emptied deque
        return item

    def get(self) -> asyncio.Future[Any]:
        """The next item, as a future (awaitable; cancelling it leaves the queue as it was)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._items is not None:
            future.set_result(self.get_nowait())
        elif not self._getters:
            self._getters = [future]
        else:
            self._getters = [g for g in self._getters if not g.done()]
            self._getters.append(future)
        return future

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished == 0:
            return
        joiner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._joiners is None:
            self._joiners = []
        self._joiners.append(joiner)
        await joiner


class LeanEngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:  # a bounded queue: not what LeanQueue provides
            return super().create_queue(*args, **kwargs)
        return LeanQueue()


class LeanAsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """`socketio.AsyncServer` whose Engine.IO server creates `LeanQueue`s."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return LeanEngineIOServer

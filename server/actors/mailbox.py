"""Bounded single-consumer mailbox used by the actor runtime.

`asyncio.Queue` almost fits, but the runtime needs three things it lacks: a way to wake the
consumer without enqueuing anything (explicit passivation, shutdown), a count of senders that are
still blocked on a full mailbox (an actor may only retire when nobody is about to deliver), and a
`close()` that fails those blocked senders instead of leaving them waiting forever.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """FIFO of at most `maxsize` items, one consumer, any number of producers."""

    __slots__ = ("_closed", "_getter", "_items", "_maxsize", "_putters", "_senders")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("mailbox size must be at least 1")
        self._maxsize = maxsize
        # Created on first use and dropped when emptied: an empty deque costs ~760 bytes, and
        # most mailboxes are empty most of the time (10,000 idle actors: 15 MB of empty deques).
        self._items: deque[T] | None = None
        self._putters: deque[asyncio.Future[None]] | None = None
        self._getter: asyncio.Future[None] | None = None
        self._senders = 0
        self._closed: Callable[[], Exception] | None = None

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    def is_drained(self) -> bool:
        """True when nothing is queued and no sender is inside `put()`.

        A sender woken for a freed slot has left `_putters` but not yet appended its item, so
        emptiness of the queue alone is not enough to decide that no message is on its way.
        """
        return not self._items and self._senders == 0

    async def put(self, item: T) -> None:
        """Append `item`, waiting while the mailbox is full (backpressure)."""
        self._senders += 1
        try:
            while self._closed is None and len(self) >= self._maxsize:
                waiter = asyncio.get_running_loop().create_future()
                if self._putters is None:
                    self._putters = deque()
                self._putters.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    waiter.cancel()
                    if self._putters is not None and waiter in self._putters:
                        self._putters.remove(waiter)
                    # We may have been handed a free slot just before the cancel: pass it on.
                    self._wake_putter()
                    raise
            if self._closed is not None:
                raise self._closed()
            if self._items is None:
                self._items = deque()
            self._items.append(item)
        finally:
            self._senders -= 1
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    async def get(self) -> T | None:
        """Next item, or None if `wake()` was called while the mailbox was empty."""
        if not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
            if not self._items:
                return None
        assert self._items is not None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        self._wake_putter()
        return item

    def waiting(self) -> bool:
        """True while the consumer is blocked in `get()` on an empty mailbox."""
        return self._getter is not None and not self._getter.done()

    def wake(self) -> None:
        """Make a pending `get()` return None so the consumer re-checks its stop conditions."""
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    def close(self, error: Callable[[], Exception]) -> list[T]:
        """Refuse further puts with `error()`, fail blocked senders, return what was queued."""
        if self._closed is not None:
            return []
        self._closed = error
        while self._putters:
            waiter = self._putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._putters = None
        items = list(self._items) if self._items is not None else []
        self._items = None
        self.wake()
        return items

    def _wake_putter(self) -> None:
        while self._putters:
            waiter = self._putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._putters = None

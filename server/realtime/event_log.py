"""Where a reconnecting client's missed events are read back from.

Embedded mode: the store's event table (events are committed with the change they describe).
Cluster mode: the Redis stream that also fans events out (server/cluster/stream_bus.py), whose
ids are the cursors clients hold.
"""

from __future__ import annotations

from typing import Protocol

from server.domain.models import Event
from server.store.base import Store


class EventLog(Protocol):
    async def bounds(self) -> tuple[int, int]:
        """(oldest retained cursor - 1, newest cursor)."""

    async def after(self, cursor: int, account_ids: list[str], limit: int) -> list[Event]: ...


class StoreEventLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def bounds(self) -> tuple[int, int]:
        return await self.store.event_bounds()

    async def after(self, cursor: int, account_ids: list[str], limit: int) -> list[Event]:
        return await self.store.events_after(cursor, account_ids, limit)

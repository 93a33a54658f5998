"""Storage: the `Store` interface (`base`) and its embedded SQLite implementation."""

from server.store.base import (
    COLLECTIONS,
    ConversationWrite,
    Duplicate,
    InboxQuery,
    Page,
    SearchHit,
    StaleWrite,
    Store,
    StoreError,
)
from server.store.sqlite import SqliteStore

__all__ = [
    "COLLECTIONS",
    "ConversationWrite",
    "Duplicate",
    "InboxQuery",
    "Page",
    "SearchHit",
    "SqliteStore",
    "StaleWrite",
    "Store",
    "StoreError",
]

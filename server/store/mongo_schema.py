"""The MongoDB store's collections and indexes, created idempotently at `open()`.

Every index works on FerretDB 1.24 as well as MongoDB: FerretDB has no partial indexes
(`partialFilterExpression` is "not implemented"), so the "unique only where set" keys are
*derived fields written only when the value exists* (`_pid`, `_ck`, `_email`) under a sparse
unique index. It has no text index either: message search uses the multikey `_words` index.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

RECORD_COLLECTIONS = ("users", "teams", "accounts", "contacts", "customers", "tags", "templates")

_CREATED = IndexModel([("created_at", ASCENDING), ("_id", ASCENDING)], name="created")


def _recent(*prefix: str, name: str) -> IndexModel:
    """`prefix..., last_activity_at DESC, _id DESC`: the conversation list's sort."""
    keys = [(p, ASCENDING) for p in prefix]
    keys += [("last_activity_at", DESCENDING), ("_id", DESCENDING)]
    return IndexModel(keys, name=name)


INDEXES: dict[str, list[IndexModel]] = {
    "users": [
        # The lowercased email, only written when the email is not empty.
        IndexModel([("_email", ASCENDING)], name="email_unique", unique=True, sparse=True),
        _CREATED,
    ],
    "teams": [_CREATED],
    "accounts": [_CREATED],
    "tags": [_CREATED],
    "templates": [_CREATED],
    "customers": [_CREATED],
    "contacts": [IndexModel([("_handles", ASCENDING)], name="handles"), _CREATED],
    "conversations": [
        _recent("account_id", name="inbox"),
        _recent("account_id", "status", name="inbox_status"),
        _recent("assignee_user_id", name="mine"),
        _recent("account_id", "assignee_user_id", "assignee_team_id", name="unassigned"),
        _recent("contact_id", "account_id", name="contact"),
        _recent("customer_id", name="customer"),
        _recent("tag_ids", name="tags"),
        IndexModel([("status", ASCENDING), ("snooze_until", ASCENDING)], name="snooze"),
    ],
    # Commit records (`{conversation_id}@{version}`); `open` is set until applied.
    "commits": [IndexModel([("open", ASCENDING)], name="open", sparse=True)],
    "messages": [
        # json([account_id, provider_message_id]), only when the provider id is set.
        IndexModel([("_pid", ASCENDING)], name="provider_unique", unique=True, sparse=True),
        # The client idempotency key, only when set.
        IndexModel([("_ck", ASCENDING)], name="client_key_unique", unique=True, sparse=True),
        IndexModel([("conversation_id", ASCENDING), ("seq", DESCENDING)], name="history"),
        IndexModel([("_words", ASCENDING)], name="words"),
        IndexModel([("account_id", ASCENDING), ("created_at", DESCENDING)], name="recent"),
        IndexModel([("_pending", ASCENDING)], name="pending", sparse=True),
        # The dashboard's metrics: messages by account and time, in reading order.
        IndexModel(
            [
                ("account_id", ASCENDING),
                ("created_at", ASCENDING),
                ("conversation_id", ASCENDING),
                ("seq", ASCENDING),
            ],
            name="metrics",
        ),
    ],
    "events": [
        IndexModel(
            [("conversation_id", ASCENDING), ("seq", ASCENDING), ("type", ASCENDING)],
            name="event_unique",
            unique=True,
        ),
        IndexModel([("account_id", ASCENDING), ("_id", ASCENDING)], name="account_cursor"),
    ],
    "outbox": [
        IndexModel(
            [
                ("account_id", ASCENDING),
                ("next_attempt_at", ASCENDING),
                ("created_at", ASCENDING),
                ("_id", ASCENDING),
            ],
            name="due",
        )
    ],
    "sessions": [IndexModel([("user_id", ASCENDING)], name="user")],
}


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Create the indexes that do not exist yet. Only the missing ones are sent: FerretDB 1.24
    drops the connection (a server-side panic) on a `createIndexes` naming several indexes
    that all exist already, although MongoDB treats that as a no-op."""
    await asyncio.gather(*(_ensure(db, name, models) for name, models in INDEXES.items()))


async def _ensure(db: AsyncDatabase[dict[str, Any]], name: str, models: list[IndexModel]) -> None:
    existing = {str(spec["name"]) async for spec in await db[name].list_indexes()}
    missing = [m for m in models if m.document["name"] not in existing]
    if missing:
        await db[name].create_indexes(missing)


def index_names() -> dict[str, list[str]]:
    """collection -> index names, for documentation and tests."""
    return {name: [str(m.document["name"]) for m in models] for name, models in INDEXES.items()}

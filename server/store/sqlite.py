"""The embedded store: SQLite (stdlib `sqlite3`) in WAL mode, never blocking the event loop.

Writes go through one writer thread that commits queued operations in batches (see
`sqlite_runner.Writer`); reads run on a small pool of read connections in a thread executor.
Records are JSON bodies (orjson) beside the few columns the queries filter and sort on.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from server.domain.metrics import ConversationFact, MessageFact
from server.domain.models import (
    Contact,
    Conversation,
    Customer,
    Event,
    Message,
    OutboxItem,
    Record,
    Session,
    User,
)
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
from server.store.sqlite_codec import decode, dumps, encode, enum_value
from server.store.sqlite_runner import Readers, Writer, connect
from server.store.sqlite_schema import migrate

R = TypeVar("R", bound=Record)
T = TypeVar("T")

_WORD = re.compile(r"\w", re.UNICODE)


def _norm(text: str | None) -> str:
    return (text or "").strip().casefold()


def _marks(n: int) -> str:
    return ",".join("?" * n)


def fts_query(text: str) -> str:
    """User text as a safe FTS5 MATCH expression: every whitespace-separated token becomes a
    quoted string (so operators, quotes and parentheses are plain text), all required; the last
    one also matches as a prefix. Tokens without a letter or digit are dropped; "" means
    nothing searchable."""
    tokens = [t for t in text.split() if _WORD.search(t)]
    quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
    if quoted:
        quoted[-1] += "*"
    return " ".join(quoted)


class SqliteStore(Store):
    """`SqliteStore(path)`: the database file (its directory is created if missing)."""

    def __init__(self, path: str, *, readers: int = 4, batch_cap: int = 256) -> None:
        self.path = path
        self._reader_count = readers
        self._batch_cap = batch_cap
        self._writer: Writer | None = None
        self._readers: Readers | None = None

    # lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self._writer is not None:
            return
        loop = asyncio.get_running_loop()
        conn, readers = await asyncio.to_thread(self._open_blocking)
        self._readers = readers
        self._writer = Writer(conn, loop, self._batch_cap)
        self._writer.start()

    def _open_blocking(self) -> tuple[sqlite3.Connection, Readers]:
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        conn = connect(self.path, readonly=False)
        try:
            migrate(conn)
            readers = Readers(self.path, self._reader_count)
        except BaseException:
            conn.close()
            raise
        return conn, readers

    async def close(self) -> None:
        writer, readers = self._writer, self._readers
        if writer is None or readers is None:
            return
        await writer.stop()
        await asyncio.to_thread(readers.close)
        self._writer = None
        self._readers = None

    async def ping(self) -> bool:
        if self._readers is None:
            return False
        try:
            return await self._read(lambda c: c.execute("SELECT 1").fetchone() == (1,))
        except (sqlite3.Error, StoreError):
            return False

    async def release_memory(self) -> None:
        """SQLite keeps each connection's page cache (2 MB by default) at its high-water mark;
        shrinking returns it (it refills from the OS page cache on the next reads)."""
        if self._readers is None or self._writer is None:
            return

        def shrink(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA shrink_memory")

        await self._readers.run_on_each(shrink)
        await self._write(shrink)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreError("store is not open")
        return await self._readers.run(fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("store is not open")
        result: T = await self._writer.submit(fn)
        return result

    # records stored whole ----------------------------------------------------------------
    async def put(self, record: Record) -> None:
        await self._write(_put_op(record))

    async def get(self, kind: type[R], record_id: str) -> R | None:
        table = _table(kind)
        row = await self._read(
            lambda c: c.execute(f"SELECT body FROM {table} WHERE id = ?", (record_id,)).fetchone()
        )
        return decode(kind, row[0]) if row else None

    async def all(self, kind: type[R]) -> list[R]:
        table = _table(kind)
        rows = await self._read(
            lambda c: c.execute(f"SELECT body FROM {table} ORDER BY created_at, id").fetchall()
        )
        return [decode(kind, r[0]) for r in rows]

    async def delete(self, kind: type[R], record_id: str) -> bool:
        table = _table(kind)

        def op(c: sqlite3.Connection) -> bool:
            if kind is Contact:
                c.execute("DELETE FROM contact_handles WHERE contact_id = ?", (record_id,))
            return c.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,)).rowcount > 0

        return await self._write(op)

    async def user_by_email(self, email: str) -> User | None:
        key = _norm(email)
        if not key:
            return None
        row = await self._read(
            lambda c: c.execute("SELECT body FROM users WHERE email_lc = ?", (key,)).fetchone()
        )
        return decode(User, row[0]) if row else None

    async def contact_by_handle(self, handle_key: str, value: str) -> Contact | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT c.body FROM contact_handles h JOIN contacts c ON c.id = h.contact_id"
                " WHERE h.key = ? AND h.value = ? ORDER BY c.created_at, c.id LIMIT 1",
                (handle_key, value),
            ).fetchone()
        )
        return decode(Contact, row[0]) if row else None

    async def search_contacts(self, text: str, limit: int = 20) -> list[Contact]:
        return await self._search_table(Contact, "contacts", text, limit)

    async def search_customers(self, text: str, limit: int = 20) -> list[Customer]:
        return await self._search_table(Customer, "customers", text, limit)

    async def _search_table(self, kind: type[R], table: str, text: str, limit: int) -> list[R]:
        needle = _norm(text)
        if not needle:
            return []
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT body FROM {table} WHERE instr(search, ?) > 0"
                " ORDER BY created_at, id LIMIT ?",
                (needle, limit),
            ).fetchall()
        )
        return [decode(kind, r[0]) for r in rows]

    # conversations -----------------------------------------------------------------------
    async def commit(self, write: ConversationWrite) -> list[Event]:
        conv = write.conversation
        if conv.version != write.expected_version + 1:
            raise ValueError(
                f"conversation version {conv.version} must be expected_version + 1"
                f" ({write.expected_version + 1})"
            )
        conv_row = (
            conv.account_id,
            conv.contact_id,
            enum_value(conv.status),
            conv.assignee_user_id,
            conv.assignee_team_id,
            float(conv.last_activity_at),
            conv.snooze_until,
            conv.version,
            enum_value(conv.channel),
            conv.customer_id,
            encode(conv),
            conv.id,
        )
        tags = sorted(set(conv.tag_ids))
        new_messages = [_message_row(m) for m in write.new_messages]
        updated_messages = [_message_row(m) for m in write.updated_messages]
        events = [
            (e.conversation_id, e.account_id, e.seq, e.type, dumps(_event_body(e)))
            for e in write.events
        ]
        outbox = [_outbox_row(o) for o in write.outbox]
        expected = write.expected_version
        record_ops = [_put_op(r) for r in write.records]

        def op(c: sqlite3.Connection) -> list[int]:
            for record_op in record_ops:
                record_op(c)
            if expected == 0:
                try:
                    c.execute(
                        "INSERT INTO conversations (account_id, contact_id, status,"
                        " assignee_user_id, assignee_team_id, last_activity_at, snooze_until,"
                        " version, channel, customer_id, body, id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        conv_row,
                    )
                except sqlite3.IntegrityError:
                    raise Duplicate("conversation", conv.id) from None
            else:
                cur = c.execute(
                    "UPDATE conversations SET account_id = ?, contact_id = ?, status = ?,"
                    " assignee_user_id = ?, assignee_team_id = ?, last_activity_at = ?,"
                    " snooze_until = ?, version = ?, channel = ?, customer_id = ?, body = ?"
                    " WHERE id = ? AND version = ?",
                    (*conv_row, expected),
                )
                if cur.rowcount == 0:
                    raise StaleWrite(f"conversation {conv.id} is not at version {expected}")
                c.execute("DELETE FROM conversation_tags WHERE conversation_id = ?", (conv.id,))
            c.executemany(
                "INSERT INTO conversation_tags (tag_id, conversation_id) VALUES (?, ?)",
                [(t, conv.id) for t in tags],
            )
            for row in new_messages:
                try:
                    c.execute(
                        "INSERT INTO messages (conversation_id, account_id, seq,"
                        " provider_message_id, client_key, created_at, text, body, id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                except sqlite3.IntegrityError:
                    raise _message_clash(c, row) from None
            for row in updated_messages:
                try:
                    cur = c.execute(
                        "UPDATE messages SET conversation_id = ?, account_id = ?, seq = ?,"
                        " provider_message_id = ?, client_key = ?, created_at = ?, text = ?,"
                        " body = ? WHERE id = ?",
                        row,
                    )
                except sqlite3.IntegrityError:
                    raise _message_clash(c, row) from None
                if cur.rowcount == 0:
                    raise StoreError(f"cannot update unknown message {row[-1]}")
            cursors: list[int] = []
            for ev in events:
                try:
                    cur = c.execute(
                        "INSERT INTO events (conversation_id, account_id, seq, type, body)"
                        " VALUES (?, ?, ?, ?, ?)",
                        ev,
                    )
                except sqlite3.IntegrityError:
                    raise Duplicate("event", f"{ev[0]}:{ev[2]}:{ev[3]}") from None
                assert cur.lastrowid is not None
                cursors.append(cur.lastrowid)
            for row in outbox:
                try:
                    c.execute(
                        "INSERT INTO outbox (account_id, next_attempt_at, created_at, body, id)"
                        " VALUES (?, ?, ?, ?, ?)",
                        row,
                    )
                except sqlite3.IntegrityError:
                    raise Duplicate("outbox", row[-1]) from None
            return cursors

        cursors = await self._write(op)
        for event, cursor in zip(write.events, cursors, strict=True):
            event.cursor = cursor
        return write.events

    async def conversation(self, conversation_id: str) -> Conversation | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT body FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        )
        return decode(Conversation, row[0]) if row else None

    async def latest_conversation(self, account_id: str, contact_id: str) -> Conversation | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT body FROM conversations WHERE contact_id = ? AND account_id = ?"
                " ORDER BY last_activity_at DESC, id DESC LIMIT 1",
                (contact_id, account_id),
            ).fetchone()
        )
        return decode(Conversation, row[0]) if row else None

    async def list_conversations(self, query: InboxQuery) -> Page:
        if not query.account_ids or query.limit <= 0:
            return Page([], None)
        if query.statuses is not None and not query.statuses:
            return Page([], None)
        where = [f"account_id IN ({_marks(len(query.account_ids))})"]
        args: list[Any] = list(query.account_ids)
        if query.tab == "mine":
            where.append("assignee_user_id = ?")
            args.append(query.user_id)
        elif query.tab == "unassigned":
            where.append("assignee_user_id IS NULL AND assignee_team_id IS NULL")
        elif query.tab != "all":
            raise ValueError(f"unknown inbox tab {query.tab!r}")
        if query.statuses is not None:
            where.append(f"status IN ({_marks(len(query.statuses))})")
            args.extend(enum_value(s) for s in query.statuses)
        if query.channel is not None:
            where.append("channel = ?")
            args.append(enum_value(query.channel))
        if query.customer_id is not None:
            where.append("customer_id = ?")
            args.append(query.customer_id)
        if query.contact_id is not None:
            where.append("contact_id = ?")
            args.append(query.contact_id)
        if query.tag_ids:
            where.append(
                "id IN (SELECT conversation_id FROM conversation_tags"
                f" WHERE tag_id IN ({_marks(len(query.tag_ids))}))"
            )
            args.extend(query.tag_ids)
        if query.after is not None:
            where.append("(last_activity_at, id) < (?, ?)")
            args.extend((float(query.after[0]), query.after[1]))
        sql = (
            "SELECT body FROM conversations WHERE "
            + " AND ".join(where)
            + " ORDER BY last_activity_at DESC, id DESC LIMIT ?"
        )
        args.append(query.limit + 1)
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        conversations = [decode(Conversation, r[0]) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        last = conversations[-1] if conversations else None
        next_key = (last.last_activity_at, last.id) if more and last else None
        return Page(conversations, next_key)

    async def due_snoozes(self, until: float, limit: int = 100) -> list[Conversation]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT body FROM conversations WHERE status = 'snoozed'"
                " AND snooze_until <= ? ORDER BY snooze_until, id LIMIT ?",
                (until, limit),
            ).fetchall()
        )
        return [decode(Conversation, r[0]) for r in rows]

    # messages ----------------------------------------------------------------------------
    async def message(self, message_id: str) -> Message | None:
        return await self._one_message("id = ?", (message_id,))

    async def messages(
        self, conversation_id: str, before_seq: int | None = None, limit: int = 50
    ) -> list[Message]:
        if before_seq is None:
            sql = "SELECT body FROM messages WHERE conversation_id = ?"
            args: tuple[Any, ...] = (conversation_id, limit)
        else:
            sql = "SELECT body FROM messages WHERE conversation_id = ? AND seq < ?"
            args = (conversation_id, before_seq, limit)
        sql += " ORDER BY seq DESC, rid DESC LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [decode(Message, r[0]) for r in rows]

    async def message_by_provider_id(self, account_id: str, provider_id: str) -> Message | None:
        return await self._one_message(
            "account_id = ? AND provider_message_id = ?", (account_id, provider_id)
        )

    async def message_by_client_key(self, client_key: str) -> Message | None:
        return await self._one_message("client_key = ?", (client_key,))

    async def _one_message(self, where: str, args: Sequence[Any]) -> Message | None:
        row = await self._read(
            lambda c: c.execute(f"SELECT body FROM messages WHERE {where}", args).fetchone()
        )
        return decode(Message, row[0]) if row else None

    async def search_messages(
        self, account_ids: list[str], text: str, limit: int = 20
    ) -> list[SearchHit]:
        match = fts_query(text)
        if not match or not account_ids or limit <= 0:
            return []
        sql = (
            "SELECT m.body, c.body FROM messages_fts f"
            " JOIN messages m ON m.rid = f.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE messages_fts MATCH ? AND m.account_id IN ({_marks(len(account_ids))})"
            " ORDER BY m.created_at DESC, m.rid DESC LIMIT ?"
        )
        args = [match, *account_ids, limit]
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [SearchHit(decode(Message, m), decode(Conversation, cv)) for m, cv in rows]

    # metrics -----------------------------------------------------------------------------
    async def metric_messages(
        self,
        account_ids: list[str],
        since: float,
        until: float,
        after: tuple[str, float, str, int] | None = None,
        limit: int = 2000,
    ) -> list[MessageFact]:
        if not account_ids or limit <= 0 or until <= since:
            return []
        sql = (
            "SELECT conversation_id, account_id, seq, created_at,"
            " json_extract(body, '$.kind'), json_extract(body, '$.sender.type'),"
            " json_extract(body, '$.sender.id'),"
            " CASE WHEN json_extract(body, '$.kind') = 'system' THEN text ELSE '' END,"
            " json_extract(body, '$.data.status'), json_extract(body, '$.data.by')"
            f" FROM messages WHERE account_id IN ({_marks(len(account_ids))})"
            " AND created_at >= ? AND created_at < ?"
        )
        args: list[Any] = [*account_ids, since, until]
        if after is not None:
            sql += " AND (account_id, created_at, conversation_id, seq) > (?, ?, ?, ?)"
            args.extend((after[0], float(after[1]), after[2], int(after[3])))
        sql += " ORDER BY account_id, created_at, conversation_id, seq LIMIT ?"
        args.append(limit)
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [
            MessageFact(
                conversation_id=r[0],
                account_id=r[1],
                seq=int(r[2]),
                created_at=float(r[3]),
                kind=str(r[4] or ""),
                sender_type=str(r[5] or ""),
                sender_id=str(r[6] or ""),
                text=str(r[7] or ""),
                status=str(r[8] or "") if r[4] == "system" else "",
                actor_id=str(r[9] or "") if r[4] == "system" else "",
            )
            for r in rows
        ]

    async def conversations_created(
        self,
        account_ids: list[str],
        since: float,
        until: float,
        after: tuple[str, float, str] | None = None,
        limit: int = 2000,
    ) -> list[ConversationFact]:
        if not account_ids or limit <= 0 or until <= since:
            return []
        created = "json_extract(body, '$.created_at')"
        sql = (
            f"SELECT id, account_id, {created} FROM conversations"
            f" WHERE account_id IN ({_marks(len(account_ids))})"
            f" AND {created} >= ? AND {created} < ?"
        )
        args: list[Any] = [*account_ids, since, until]
        if after is not None:
            sql += f" AND (account_id, {created}, id) > (?, ?, ?)"
            args.extend((after[0], float(after[1]), after[2]))
        sql += f" ORDER BY account_id, {created}, id LIMIT ?"
        args.append(limit)
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [ConversationFact(id=r[0], account_id=r[1], created_at=float(r[2])) for r in rows]

    # event log ---------------------------------------------------------------------------
    async def events_after(
        self, cursor: int, account_ids: list[str], limit: int = 1000
    ) -> list[Event]:
        if not account_ids or limit <= 0:
            return []
        sql = (
            "SELECT cursor, body FROM events WHERE cursor > ?"
            f" AND account_id IN ({_marks(len(account_ids))}) ORDER BY cursor LIMIT ?"
        )
        args = [cursor, *account_ids, limit]
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        out: list[Event] = []
        for number, body in rows:
            event = decode(Event, body)
            event.cursor = int(number)
            out.append(event)
        return out

    async def conversation_events(
        self, conversation_id: str, after_seq: int, limit: int = 1000
    ) -> list[Event]:
        sql = (
            "SELECT cursor, body FROM events WHERE conversation_id = ? AND seq > ?"
            " ORDER BY seq, cursor LIMIT ?"
        )
        args = [conversation_id, after_seq, limit]
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        out: list[Event] = []
        for number, body in rows:
            event = decode(Event, body)
            event.cursor = int(number)
            out.append(event)
        return out

    async def event_bounds(self) -> tuple[int, int]:
        def read(c: sqlite3.Connection) -> tuple[int, int]:
            low, high = c.execute("SELECT min(cursor), max(cursor) FROM events").fetchone()
            if low is not None:
                return int(low) - 1, int(high)
            # Empty log: after a full trim the numbering still continues from the last cursor.
            row = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            last = int(row[0]) if row and row[0] is not None else 0
            return last, last

        return await self._read(read)

    async def trim_events(self, keep_last: int) -> int:
        keep = max(0, keep_last)

        def op(c: sqlite3.Connection) -> int:
            if keep == 0:
                return c.execute("DELETE FROM events").rowcount
            return c.execute(
                "DELETE FROM events WHERE cursor <"
                " (SELECT cursor FROM events ORDER BY cursor DESC LIMIT 1 OFFSET ?)",
                (keep - 1,),
            ).rowcount

        return await self._write(op)

    # outbox ------------------------------------------------------------------------------
    async def due_outbox(self, account_id: str, until: float, limit: int = 50) -> list[OutboxItem]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT body FROM outbox WHERE account_id = ? AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, created_at, id LIMIT ?",
                (account_id, until, limit),
            ).fetchall()
        )
        return [decode(OutboxItem, r[0]) for r in rows]

    async def save_outbox(self, item: OutboxItem) -> None:
        row = _outbox_row(item)
        await self._write(
            lambda c: c.execute(
                "INSERT INTO outbox (account_id, next_attempt_at, created_at, body, id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " account_id = excluded.account_id, next_attempt_at = excluded.next_attempt_at,"
                " created_at = excluded.created_at, body = excluded.body",
                row,
            )
        )

    async def delete_outbox(self, item_id: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM outbox WHERE id = ?", (item_id,)))

    # sessions ----------------------------------------------------------------------------
    async def save_session(self, session: Session) -> None:
        row = (session.user_id, float(session.expires_at), encode(session), session.token_hash)
        await self._write(
            lambda c: c.execute(
                "INSERT INTO sessions (user_id, expires_at, body, token_hash)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (token_hash) DO UPDATE SET"
                " user_id = excluded.user_id, expires_at = excluded.expires_at,"
                " body = excluded.body",
                row,
            )
        )

    async def session(self, token_hash: str) -> Session | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT body FROM sessions WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        )
        return decode(Session, row[0]) if row else None

    async def delete_session(self, token_hash: str) -> None:
        await self._write(
            lambda c: c.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
        )


# helpers -----------------------------------------------------------------------------------
def _table(kind: type[Any]) -> str:
    try:
        return COLLECTIONS[kind]
    except KeyError:
        raise TypeError(f"{kind.__name__} is not stored whole by id") from None


def _upsert_search(
    c: sqlite3.Connection, table: str, record_id: str, created_at: float, search: str, body: str
) -> None:
    c.execute(
        f"INSERT INTO {table} (id, created_at, search, body) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,"
        " search = excluded.search, body = excluded.body",
        (record_id, created_at, search, body),
    )


def _message_row(m: Message) -> tuple[Any, ...]:
    """Column values in the order both message statements use; the id comes last."""
    return (
        m.conversation_id,
        m.account_id,
        m.seq,
        m.provider_message_id,
        m.client_key,
        float(m.created_at),
        m.text or "",
        encode(m),
        m.id,
    )


def _message_clash(c: sqlite3.Connection, row: tuple[Any, ...]) -> Exception:
    """Which unique key a message insert or update ran into."""
    _, account_id, _, provider_id, client_key, *_, message_id = row
    if provider_id is not None:
        hit = c.execute(
            "SELECT id FROM messages WHERE account_id = ? AND provider_message_id = ? AND id <> ?",
            (account_id, provider_id, message_id),
        ).fetchone()
        if hit:
            return Duplicate("provider_message_id", hit[0])
    if client_key is not None:
        hit = c.execute(
            "SELECT id FROM messages WHERE client_key = ? AND id <> ?", (client_key, message_id)
        ).fetchone()
        if hit:
            return Duplicate("client_key", hit[0])
    return Duplicate("message_id", message_id)


def _event_body(e: Event) -> dict[str, Any]:
    body = e.to_dict()
    body.pop("cursor", None)  # the column is the truth
    return body


def _outbox_row(o: OutboxItem) -> tuple[Any, ...]:
    return (o.account_id, float(o.next_attempt_at), float(o.created_at), encode(o), o.id)


__all__ = ["SqliteStore", "fts_query"]


def _put_op(record: Record) -> Callable[[sqlite3.Connection], None]:
    """The write that stores `record` (insert or replace), to run on the writer thread."""
    table = _table(type(record))
    body = encode(record)
    record_id: str = record.id  # type: ignore[attr-defined]
    created_at = float(getattr(record, "created_at", 0.0))

    if isinstance(record, User):
        email = _norm(record.email)

        def op(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO users (id, created_at, email_lc, body) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,"
                    " email_lc = excluded.email_lc, body = excluded.body",
                    (record_id, created_at, email, body),
                )
            except sqlite3.IntegrityError:
                row = c.execute("SELECT id FROM users WHERE email_lc = ?", (email,)).fetchone()
                raise Duplicate("email", row[0] if row else None) from None

    elif isinstance(record, Contact):
        search = "\n".join(_norm(v) for v in (record.name, record.email, record.phone))
        handles = sorted(record.handles.items())

        def op(c: sqlite3.Connection) -> None:
            _upsert_search(c, "contacts", record_id, created_at, search, body)
            c.execute("DELETE FROM contact_handles WHERE contact_id = ?", (record_id,))
            c.executemany(
                "INSERT OR IGNORE INTO contact_handles (key, value, contact_id) VALUES (?, ?, ?)",
                [(k, v, record_id) for k, v in handles],
            )

    elif isinstance(record, Customer):
        names = [record.name, *(b.name for b in record.branches)]
        search = "\n".join(_norm(n) for n in names)

        def op(c: sqlite3.Connection) -> None:
            _upsert_search(c, "customers", record_id, created_at, search, body)

    else:

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                f"INSERT INTO {table} (id, created_at, body) VALUES (?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,"
                " body = excluded.body",
                (record_id, created_at, body),
            )

    return op

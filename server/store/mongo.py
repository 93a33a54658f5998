"""The MongoDB store (PyMongo's native asyncio client), also run against FerretDB 1.24.

No multi-document transactions (FerretDB has none), and on FerretDB 1.24 not even atomic
conditional updates: concurrent `update_one({_id, version: 1}, ...)` calls can *all* match, and
concurrent `$inc`s lose increments (measured; see docs/deploy.md). The only atomic primitive
both servers share is an insert refused by a unique index, so every guarantee rests on one:

1. Precondition: the stored conversation is at `expected_version` (a read; the fence is 2).
2. Reserve (invisible, undone on a definite refusal): the new messages are inserted with
   `_pending: <token>`. Their unique keys (`_pid`, `_ck`, `_id`) are taken right there, so a
   duplicate is refused -> the write's own pending messages are deleted -> `Duplicate`.
   Readers never see a message that carries `_pending`. A clash with another writer's
   reservation is a duplicate only once that reservation is claimed (3); one left unclaimed
   by a dead writer is removed (after ORPHANED_AFTER), so the redelivered message is stored
   rather than answered "duplicate" and lost.
3. Commit point: insert the claim `commits/{conversation_id}@{version}` holding the new state
   and everything to apply. Its `_id` is unique: exactly one writer moves a conversation from
   version - 1 to version; a loser gets `StaleWrite` (`Duplicate` when creating).
4. Apply (idempotent; anyone holding the claim may repeat it): updated messages are replaced
   where their `_cv` (version that last wrote them) is older, new messages lose `_pending`,
   events get cursors and are inserted, outbox items are inserted, then the conversation
   document is replaced with the new state (last, so a reader that sees the version sees all
   of it), then the claim is closed. A crash in 4 leaves an open claim that `recover()` (run
   by `open()`) applies; a crash in 2 leaves pending messages that `recover()` deletes once
   old and unclaimed.

Event cursors come from a counter document (`counters/events`, `$inc` by the number of events
of the write). Within one store instance, reservation + insert happen in commit call order
(a FIFO chain of tickets), so one node's events become visible in cursor order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

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
from server.store.mongo_codec import (
    body,
    from_doc,
    handle_key,
    new_token,
    norm,
    pair_key,
    query_words,
    regex_literal,
    to_doc,
    token_floor,
    words,
)
from server.store.mongo_schema import ensure_indexes
from server.store.sqlite_codec import enum_value

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)
T = TypeVar("T")
Doc = dict[str, Any]
Coll = AsyncCollection[Doc]

VISIBLE: Doc = {"_pending": {"$exists": False}}

# Server error codes worth a retry: the primary stepped down / is shutting down, network.
_TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ServerSelectionTimeoutError):
        return False  # the driver already waited for a server
    if isinstance(exc, AutoReconnect):  # NotPrimaryError, NetworkTimeout, connection resets
        return True
    if isinstance(exc, OperationFailure) and not isinstance(exc, BulkWriteError):
        return exc.code in _TRANSIENT_CODES or exc.has_error_label("RetryableWriteError")
    return False


def _is_dup(exc: BaseException) -> bool:
    """A unique-index clash. FerretDB reports one from an update/replace as InternalError
    ("UNIQUE constraint failed") rather than E11000."""
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return any(e.get("code") == 11000 for e in errors)
    if isinstance(exc, OperationFailure):
        return exc.code == 11000 or "UNIQUE constraint failed" in str(exc)
    return False


# A claim still open this long after it was made has lost its writer: a live apply takes
# milliseconds. Finishing it twice is harmless (every apply step is idempotent).
ABANDONED_AFTER = 2.0
# A reservation without a claim this long after it was made has lost its writer: a writer
# whose reservation is older than ABANDONED_AFTER gives up instead of claiming, and the gap
# between the two absorbs clock skew between nodes.
ORPHANED_AFTER = 5.0
# Applied commit records are kept this long (for diagnosis), then trimmed with the events.
COMMIT_RECORDS_KEPT_FOR = 3600.0


class _Clash(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(f"unique key clash at {index}")
        self.index = index


class _Abandoned(StaleWrite):
    """The version is claimed by a commit nobody finished (its writer died)."""

    def __init__(self, claim: Doc) -> None:
        super().__init__(f"unfinished commit {claim['_id']}")
        self.claim = claim


class _Ticket:
    """A place in this instance's commit order: the holder appends its events only after
    every earlier ticket is released."""

    def __init__(self, prev: asyncio.Future[None] | None, done: asyncio.Future[None]) -> None:
        self._prev = prev
        self._done = done

    async def wait(self) -> None:
        if self._prev is not None and not self._prev.done():
            await asyncio.shield(self._prev)

    def release(self) -> None:
        """Done once this holder *and every earlier one* is done: a write that fails early
        must not let a later write append its events before an earlier, slower one."""
        if self._done.done():
            return
        if self._prev is None or self._prev.done():
            self._done.set_result(None)
        else:
            self._prev.add_done_callback(self._finish)

    def _finish(self, _prev: asyncio.Future[None]) -> None:
        if not self._done.done():
            self._done.set_result(None)


class _Sequencer:
    def __init__(self) -> None:
        self._tail: asyncio.Future[None] | None = None

    def ticket(self) -> _Ticket:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ticket = _Ticket(self._tail, done)
        self._tail = done
        return ticket


class MongoStore(Store):
    """`MongoStore(url, database="conversations")`: a MongoDB (or FerretDB) connection string
    and the database to use. `recover_after`: age in seconds after which `open()` treats an
    unfinished commit as abandoned and finishes (or undoes) it."""

    def __init__(
        self,
        url: str,
        database: str = "conversations",
        *,
        recover_after: float = 300.0,
        attempts: int = 3,
        server_selection_timeout_ms: int = 10_000,
    ) -> None:
        self.url = url
        self.database = database
        self.recover_after = recover_after
        self._attempts = max(1, attempts)
        self._selection_ms = server_selection_timeout_ms
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None
        self._closing = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._sequencer = _Sequencer()

    # lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            self.url, serverSelectionTimeoutMS=self._selection_ms, appname="conversations"
        )
        db = client[self.database]
        try:
            await self._retry(lambda: ensure_indexes(db))
        except BaseException:
            await client.close()
            raise
        self._client, self._db, self._closing = client, db, False
        await self.recover(self.recover_after)

    async def close(self) -> None:
        client = self._client
        if client is None:
            return
        self._closing = True
        await self._idle.wait()  # writes already started finish first
        self._client = None
        self._db = None
        await client.close()

    async def ping(self) -> bool:
        if self._db is None or self._closing:
            return False
        try:
            async with self._op() as db:
                reply = await db.command("ping")
        except (PyMongoError, StoreError):
            return False
        return bool(reply.get("ok"))

    @contextlib.asynccontextmanager
    async def _op(self) -> AsyncIterator[AsyncDatabase[Doc]]:
        """Every operation runs inside: `close()` waits until none is left."""
        db = self._db
        if db is None or self._closing:
            raise StoreError("store is not open")
        self._enter()
        try:
            yield db
        finally:
            self._leave()

    def _enter(self) -> None:
        self._inflight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._inflight -= 1
        if self._inflight == 0:
            self._idle.set()

    async def _retry(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent operation, again after a transient error (bounded)."""
        delay = 0.05
        attempt = 1
        while True:
            try:
                return await fn()
            except Exception as exc:
                if attempt >= self._attempts or not _transient(exc):
                    raise
                log.warning("mongo: transient error (attempt %d): %s", attempt, exc)
            await asyncio.sleep(delay)
            delay *= 4
            attempt += 1

    async def _insert_all(
        self, coll: Coll, docs: list[Doc], owned: Callable[[Doc], Doc]
    ) -> list[Any]:
        """Insert `docs` in order. A duplicate whose existing document matches `owned(doc)`
        already landed (an earlier attempt whose reply was lost): skip it. Any other
        duplicate raises `_Clash(index)`. Returns the `_id` stored for each doc."""
        ids = [d["_id"] for d in docs]
        i = 0
        failures = 0
        while i < len(docs):
            try:
                await coll.insert_many(docs[i:], ordered=True)
                return ids
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors") or []
                if not errors or errors[0].get("code") != 11000:
                    raise
                j = i + int(errors[0].get("index", 0))
                query = owned(docs[j])
                existing = await self._retry(partial(coll.find_one, query, {"_id": 1}))
                if existing is None:
                    raise _Clash(j) from exc
                ids[j] = existing["_id"]
                i = j + 1
            except Exception as exc:
                failures += 1
                if failures >= self._attempts or not _transient(exc):
                    raise
                await asyncio.sleep(0.05 * 4**failures)
        return ids

    # records stored whole ----------------------------------------------------------------
    async def put(self, record: Record) -> None:
        coll_name = _collection(type(record))
        record_id: str = record.id  # type: ignore[attr-defined]
        derived: Doc = {}
        email = ""
        if isinstance(record, User):
            email = norm(record.email)
            if email:
                derived["_email"] = email
        elif isinstance(record, Contact):
            derived["_search"] = "\n".join(
                norm(v) for v in (record.name, record.email, record.phone)
            )
            derived["_handles"] = [handle_key(k, v) for k, v in sorted(record.handles.items())]
        elif isinstance(record, Customer):
            names = [record.name, *(b.name for b in record.branches)]
            derived["_search"] = "\n".join(norm(n) for n in names)
        doc = to_doc(record, record_id, **derived)
        async with self._op() as db:
            coll = db[coll_name]
            for attempt in range(3):
                try:
                    await self._retry(
                        lambda: coll.replace_one({"_id": record_id}, doc, upsert=True)
                    )
                    return
                except Exception as exc:
                    if not _is_dup(exc):
                        raise
                    hit = (
                        await coll.find_one(
                            {"_email": email, "_id": {"$ne": record_id}}, {"_id": 1}
                        )
                        if email
                        else None
                    )
                    if hit is not None or attempt == 2:
                        if not email:
                            raise
                        raise Duplicate("email", hit["_id"] if hit else None) from None
                    # Two upserts of one new _id at once: one inserts, the other clashes on
                    # _id (FerretDB). The record exists now; replacing it again succeeds.

    async def get(self, kind: type[R], record_id: str) -> R | None:
        name = _collection(kind)
        async with self._op() as db:
            doc = await self._retry(lambda: db[name].find_one({"_id": record_id}))
        return from_doc(kind, doc) if doc else None

    async def all(self, kind: type[R]) -> list[R]:
        name = _collection(kind)
        async with self._op() as db:
            docs = await self._retry(
                lambda: db[name].find({}).sort([("created_at", 1), ("_id", 1)]).to_list(None)
            )
        return [from_doc(kind, d) for d in docs]

    async def delete(self, kind: type[R], record_id: str) -> bool:
        name = _collection(kind)
        async with self._op() as db:
            result = await self._retry(lambda: db[name].delete_one({"_id": record_id}))
        return result.deleted_count > 0

    async def user_by_email(self, email: str) -> User | None:
        key = norm(email)
        if not key:
            return None
        async with self._op() as db:
            doc = await self._retry(lambda: db["users"].find_one({"_email": key}))
        return from_doc(User, doc) if doc else None

    async def contact_by_handle(self, handle_key_: str, value: str) -> Contact | None:
        key = handle_key(handle_key_, value)
        async with self._op() as db:
            docs = await self._retry(
                lambda: (
                    db["contacts"]
                    .find({"_handles": key})
                    .sort([("created_at", 1), ("_id", 1)])
                    .limit(1)
                    .to_list(None)
                )
            )
        return from_doc(Contact, docs[0]) if docs else None

    async def search_contacts(self, text: str, limit: int = 20) -> list[Contact]:
        return await self._search_records(Contact, "contacts", text, limit)

    async def search_customers(self, text: str, limit: int = 20) -> list[Customer]:
        return await self._search_records(Customer, "customers", text, limit)

    async def _search_records(self, kind: type[R], name: str, text: str, limit: int) -> list[R]:
        needle = norm(text)
        if not needle or limit <= 0:
            return []
        query = {"_search": {"$regex": regex_literal(needle)}}
        async with self._op() as db:
            docs = await self._retry(
                lambda: (
                    db[name]
                    .find(query)
                    .sort([("created_at", 1), ("_id", 1)])
                    .limit(limit)
                    .to_list(None)
                )
            )
        return [from_doc(kind, d) for d in docs]

    # conversations -----------------------------------------------------------------------
    async def commit(self, write: ConversationWrite) -> list[Event]:
        conv = write.conversation
        if conv.version != write.expected_version + 1:
            raise ValueError(
                f"conversation version {conv.version} must be expected_version + 1"
                f" ({write.expected_version + 1})"
            )
        # Records first (idempotent upserts): a conversation never refers to a missing one.
        for record in write.records:
            await self.put(record)
        # Taken synchronously: this instance appends events in commit call order.
        ticket = self._sequencer.ticket()
        handed_off = False
        abandoned: Doc | None = None
        try:
            async with self._op() as db:
                claim = await self._reserve_and_claim(db, write, new_token())
                # Past the commit point: finish in a task of its own so a cancelled caller
                # cannot leave the commit half applied (close() waits for it too).
                self._enter()  # counted from now: close() waits for the task
                task = asyncio.ensure_future(self._tracked(self._apply(db, claim, ticket)))
                handed_off = True
                cursors = await asyncio.shield(task)
        except _Abandoned as found:
            abandoned = found.claim
        finally:
            if not handed_off:
                ticket.release()
        if abandoned is not None:
            # The version we want was claimed by a writer that died before applying it (a
            # node killed mid-commit). Its claim is the truth: finish it, then let the caller
            # reload and decide again on top of it.
            log.warning("mongo: finishing abandoned commit %s", abandoned["_id"])
            async with self._op() as db:
                await self._apply(db, abandoned, self._sequencer.ticket())
            raise StaleWrite(f"conversation {conv.id} had an unfinished commit: reload")
        for event, cursor in zip(write.events, cursors, strict=True):
            event.cursor = int(cursor)
        return write.events

    async def _tracked(self, work: Awaitable[T]) -> T:
        """Await `work`, then drop the count its creator took with `_enter()`."""
        try:
            return await work
        finally:
            self._leave()

    async def _reserve_and_claim(
        self, db: AsyncDatabase[Doc], write: ConversationWrite, token: str
    ) -> Doc:
        """Steps 1 and 2; returns the claim (the commit record)."""
        conv = write.conversation
        version = conv.version
        expected = write.expected_version
        if expected > 0:
            # Precondition only; the claim's unique `_id` below is the atomic fence.
            current = await self._retry(
                lambda: db["conversations"].find_one({"_id": conv.id}, {"version": 1})
            )
            if current is None or current.get("version") != expected:
                raise StaleWrite(f"conversation {conv.id} is not at version {expected}")
        new_docs = [_message_doc(m, version, token) for m in write.new_messages]
        claim: Doc = {
            "_id": claim_key(conv.id, version),
            "conversation_id": conv.id,
            "v": version,
            "t": token,
            "open": token,  # unset once applied; recover() looks for old ones
            "state": body(conv),
            "new": [d["_id"] for d in new_docs],
            "updated": [_message_doc(m, version, None) for m in write.updated_messages],
            "events": [_event_doc(e) for e in write.events],
            "outbox": [to_doc(o, o.id) for o in write.outbox],
        }
        messages = db["messages"]
        try:
            if new_docs:
                await self._reserve_messages(db, new_docs, token)
            await self._check_updates(messages, claim["updated"])
            if token < token_floor(time.time() - ABANDONED_AFTER):
                # Too slow to claim now: another writer may already take our reservation
                # for a dead writer's and remove it (see _settle_clash).
                raise StaleWrite(f"conversation {conv.id}: reservation outlived its deadline")
            try:
                await self._insert_all(
                    db["commits"], [claim], lambda d: {"_id": d["_id"], "t": token}
                )
            except _Clash:
                if expected == 0:
                    raise Duplicate("conversation", conv.id) from None
                existing = await self._retry(
                    lambda: db["commits"].find_one({"_id": claim_key(conv.id, version)})
                )
                stale = token_floor(time.time() - ABANDONED_AFTER)
                if existing is not None and existing.get("open") and existing["open"] < stale:
                    raise _Abandoned(existing) from None
                raise StaleWrite(f"conversation {conv.id} version {version} is taken") from None
        except StoreError:
            # A definite refusal: nothing of this write may stay. (After an ambiguous error
            # the pending messages stay for recover(), which knows whether the claim landed.)
            if new_docs:
                ids = [d["_id"] for d in new_docs]
                await self._retry(
                    lambda: messages.delete_many({"_id": {"$in": ids}, "_pending": token})
                )
            raise
        return claim

    async def _reserve_messages(self, db: AsyncDatabase[Doc], docs: list[Doc], token: str) -> None:
        """Step 2: insert the new messages as pending under `token`."""
        messages = db["messages"]
        for _ in range(10):
            try:
                await self._insert_all(
                    messages, docs, lambda d: {"_id": d["_id"], "_pending": token}
                )
                return
            except _Clash as clash:
                await self._settle_clash(db, docs[clash.index])
        raise StaleWrite("message reservation kept clashing")

    async def _settle_clash(self, db: AsyncDatabase[Doc], doc: Doc) -> None:
        """A new message ran into an existing one's unique key. Raises `Duplicate` when that
        message is committed (visible, or claimed by its commit); returns after removing it
        when it is a reservation whose writer died before claiming (then the caller inserts
        again); raises `StaleWrite` (retry later) while such a writer may still be working.
        Without this, a redelivery after a node died mid-commit would be answered "duplicate"
        and acknowledged while the only copy stays invisible."""
        messages = db["messages"]
        fields = {"_id": 1, "_pending": 1, "_cv": 1, "conversation_id": 1}
        for field, key in (("_pid", "provider_message_id"), ("_ck", "client_key"), ("_id", "")):
            if field not in doc:
                continue
            query: Doc = {field: doc[field]}
            if field != "_id":
                query["_id"] = {"$ne": doc["_id"]}
            hit = await self._retry(partial(messages.find_one, query, fields))
            if hit is None:
                continue
            duplicate = Duplicate(key or "message_id", str(hit["_id"]))
            pending = hit.get("_pending")
            if pending is None:
                raise duplicate
            claim_id = claim_key(str(hit["conversation_id"]), int(hit["_cv"]))
            claim = await self._retry(
                partial(db["commits"].find_one, {"_id": claim_id, "t": pending}, {"_id": 1})
            )
            if claim is not None:
                raise duplicate  # committed; its apply (or a roll-forward) makes it visible
            if str(pending) >= token_floor(time.time() - ORPHANED_AFTER):
                raise StaleWrite(f"message {hit['_id']} is being written by another writer")
            log.warning("mongo: removing reservation %s left by a dead writer", hit["_id"])
            await self._retry(
                partial(messages.delete_one, {"_id": hit["_id"], "_pending": pending})
            )
            return
        # The clashing document is gone already (its writer undid it): insert again.

    async def _check_updates(self, messages: Coll, docs: list[Doc]) -> None:
        """Updated messages must exist and must not take another message's unique key.
        (A read: the replace itself happens after the commit point, see the module doc.)"""
        for doc in docs:
            alternatives: list[Doc] = [{"_id": doc["_id"]}]
            alternatives += [{f: doc[f]} for f in ("_pid", "_ck") if f in doc]
            query: Doc = {"$or": alternatives}
            found = await self._retry(
                lambda: messages.find(query, {"_id": 1, "_pid": 1, "_ck": 1}).to_list(None)  # noqa: B023
            )
            if not any(f["_id"] == doc["_id"] for f in found):
                raise StoreError(f"cannot update unknown message {doc['_id']}")
            for other in found:
                if other["_id"] == doc["_id"]:
                    continue
                if "_pid" in doc and other.get("_pid") == doc["_pid"]:
                    raise Duplicate("provider_message_id", str(other["_id"]))
                if "_ck" in doc and other.get("_ck") == doc["_ck"]:
                    raise Duplicate("client_key", str(other["_id"]))

    async def _apply(self, db: AsyncDatabase[Doc], claim: Doc, ticket: _Ticket) -> list[int]:
        """Step 3: apply a claimed commit. Idempotent; safe to repeat after a crash."""
        token = str(claim["t"])
        version = int(claim["v"])
        conversation_id = str(claim["conversation_id"])
        cursors: list[int] = []
        try:
            messages = db["messages"]
            for doc in claim.get("updated") or []:
                await self._replace_message(messages, doc, version)
            new_ids = list(claim.get("new") or [])
            if new_ids:
                await self._retry(
                    lambda: messages.update_many(
                        {"_id": {"$in": new_ids}, "_pending": token}, {"$unset": {"_pending": ""}}
                    )
                )
            events = list(claim.get("events") or [])
            await ticket.wait()
            if events:
                cursors = await self._append_events(db, events)
        finally:
            ticket.release()
        outbox = list(claim.get("outbox") or [])
        if outbox:
            await self._insert_all(db["outbox"], outbox, lambda d: {"_id": d["_id"]})
        # The conversation document last: once it shows `version`, everything of the commit
        # is in place, so a writer that read it builds on a complete state.
        state = {**claim["state"], "_id": conversation_id}
        conversations = db["conversations"]
        if version == 1:
            try:
                await self._retry(lambda: conversations.insert_one(state))
            except Exception as exc:
                if not _is_dup(exc):  # the document exists: this claim was applied before
                    raise
        else:
            query = {"_id": conversation_id, "version": {"$lt": version}}
            await self._retry(lambda: conversations.replace_one(query, state))
        await self._retry(
            lambda: db["commits"].update_one(
                {"_id": claim["_id"], "t": token},
                {"$unset": dict.fromkeys(_CLAIM_PAYLOAD, "")},
            )
        )
        return cursors

    async def _replace_message(self, messages: Coll, doc: Doc, version: int) -> None:
        # `_cv < version`: a slower, older roll-forward never overwrites a newer state.
        query = {"_id": doc["_id"], "_cv": {"$lt": version}}
        try:
            await self._retry(lambda: messages.replace_one(query, doc))
        except Exception as exc:
            if not _is_dup(exc):
                raise
            # Taken between the check and the commit point: the rest of the commit stands.
            log.error("mongo: updated message %s lost a unique key race: %s", doc["_id"], exc)

    async def _append_events(self, db: AsyncDatabase[Doc], events: list[Doc]) -> list[int]:
        """Reserve cursors and insert the events under them, in order. An event whose
        (conversation_id, seq, type) exists already landed (a repeated apply). A cursor that
        is already taken (another instance's counter update was lost: FerretDB's `$inc` is not
        atomic under concurrency) is reserved again."""
        cursors: list[int] = []
        rest = list(events)
        for _ in range(100):
            count = len(rest)
            try:
                counter = await self._retry(
                    partial(
                        db["counters"].find_one_and_update,
                        {"_id": "events"},
                        {"$inc": {"n": count}},
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    )
                )
            except Exception as exc:
                if not _is_dup(exc):
                    raise
                continue  # two first upserts raced; the counter exists now
            assert counter is not None
            first = int(counter["n"]) - count + 1
            docs = [{**e, "_id": first + i} for i, e in enumerate(rest)]
            try:
                ids = await self._insert_all(
                    db["events"],
                    docs,
                    lambda d: {
                        "conversation_id": d["conversation_id"],
                        "seq": d["seq"],
                        "type": d["type"],
                    },
                )
            except _Clash as clash:
                cursors += [int(d["_id"]) for d in docs[: clash.index]]
                rest = rest[clash.index :]
                taken = int(docs[clash.index]["_id"])
                await self._retry(
                    partial(db["counters"].update_one, {"_id": "events"}, {"$max": {"n": taken}})
                )
                continue
            return cursors + [int(i) for i in ids]
        raise StoreError("could not reserve event cursors")

    async def recover(self, older_than: float = 0.0) -> int:
        """Finish claimed commits whose apply did not complete, and delete pending messages
        of commits that never reached their claim, when older than `older_than` seconds.
        Returns how many were handled. Run at `open()`; safe any time, from any node (a
        commit younger than `older_than` is presumed still in progress)."""
        floor = token_floor(time.time() - older_than)
        handled = 0
        async with self._op() as db:
            commits = db["commits"]
            stuck = await self._retry(
                lambda: commits.find({"open": {"$lt": floor}}).sort("open", 1).to_list(None)
            )
            for claim in stuck:
                log.warning("mongo: finishing commit %s", claim["_id"])
                await self._apply(db, claim, self._sequencer.ticket())
                handled += 1
            messages = db["messages"]
            orphans = await self._retry(
                lambda: messages.find(
                    {"_pending": {"$lt": floor}}, {"_pending": 1, "_cv": 1, "conversation_id": 1}
                ).to_list(None)
            )
            for m in orphans:
                key = claim_key(str(m["conversation_id"]), int(m["_cv"]))
                claimed = await commits.find_one({"_id": key, "t": m["_pending"]}, {"_id": 1})
                if claimed is None:
                    await messages.delete_one({"_id": m["_id"], "_pending": m["_pending"]})
                    handled += 1
        return handled

    async def conversation(self, conversation_id: str) -> Conversation | None:
        async with self._op() as db:
            doc = await self._retry(lambda: db["conversations"].find_one({"_id": conversation_id}))
        return from_doc(Conversation, doc) if doc else None

    async def latest_conversation(self, account_id: str, contact_id: str) -> Conversation | None:
        query = {"contact_id": contact_id, "account_id": account_id}
        docs = await self._find("conversations", query, [("last_activity_at", -1), ("_id", -1)], 1)
        return from_doc(Conversation, docs[0]) if docs else None

    async def list_conversations(self, query: InboxQuery) -> Page:
        if not query.account_ids or query.limit <= 0:
            return Page([], None)
        if query.statuses is not None and not query.statuses:
            return Page([], None)
        where: Doc = {"account_id": {"$in": list(query.account_ids)}}
        if query.tab == "mine":
            where["assignee_user_id"] = query.user_id
        elif query.tab == "unassigned":
            where["assignee_user_id"] = None
            where["assignee_team_id"] = None
        elif query.tab != "all":
            raise ValueError(f"unknown inbox tab {query.tab!r}")
        if query.statuses is not None:
            where["status"] = {"$in": [enum_value(s) for s in query.statuses]}
        if query.channel is not None:
            where["channel"] = enum_value(query.channel)
        if query.customer_id is not None:
            where["customer_id"] = query.customer_id
        if query.contact_id is not None:
            where["contact_id"] = query.contact_id
        if query.tag_ids:
            where["tag_ids"] = {"$in": list(query.tag_ids)}
        if query.after is not None:
            at, last_id = float(query.after[0]), query.after[1]
            where["$or"] = [
                {"last_activity_at": {"$lt": at}},
                {"last_activity_at": at, "_id": {"$lt": last_id}},
            ]
        docs = await self._find(
            "conversations",
            where,
            [("last_activity_at", -1), ("_id", -1)],
            query.limit + 1,
        )
        conversations = [from_doc(Conversation, d) for d in docs[: query.limit]]
        more = len(docs) > query.limit
        last = conversations[-1] if conversations else None
        next_key = (last.last_activity_at, last.id) if more and last else None
        return Page(conversations, next_key)

    async def due_snoozes(self, until: float, limit: int = 100) -> list[Conversation]:
        if limit <= 0:
            return []
        query = {"status": "snoozed", "snooze_until": {"$lte": until}}
        docs = await self._find("conversations", query, [("snooze_until", 1), ("_id", 1)], limit)
        return [from_doc(Conversation, d) for d in docs]

    async def _find(
        self,
        name: str,
        query: Doc,
        sort: list[tuple[str, int]],
        limit: int,
        projection: Doc | None = None,
    ) -> list[Doc]:
        async with self._op() as db:
            return await self._retry(
                lambda: db[name].find(query, projection).sort(sort).limit(limit).to_list(None)
            )

    # messages ----------------------------------------------------------------------------
    async def message(self, message_id: str) -> Message | None:
        return await self._one_message({"_id": message_id})

    async def messages(
        self, conversation_id: str, before_seq: int | None = None, limit: int = 50
    ) -> list[Message]:
        if limit <= 0:
            return []
        query: Doc = {"conversation_id": conversation_id, **VISIBLE}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        docs = await self._find("messages", query, [("seq", -1), ("_id", -1)], limit)
        return [from_doc(Message, d) for d in docs]

    async def message_by_provider_id(self, account_id: str, provider_id: str) -> Message | None:
        return await self._one_message({"_pid": pair_key(account_id, provider_id)})

    async def message_by_client_key(self, client_key: str) -> Message | None:
        return await self._one_message({"_ck": client_key})

    async def _one_message(self, query: Doc) -> Message | None:
        full = {**query, **VISIBLE}
        async with self._op() as db:
            doc = await self._retry(lambda: db["messages"].find_one(full))
        return from_doc(Message, doc) if doc else None

    async def search_messages(
        self, account_ids: list[str], text: str, limit: int = 20
    ) -> list[SearchHit]:
        # No $text on FerretDB 1.24: every query word must be one of the message's `_words`,
        # the last one as a prefix (a regex anchored on one array element).
        tokens = query_words(text)
        if not tokens or not account_ids or limit <= 0:
            return []
        condition: Doc = {"$regex": "^" + regex_literal(tokens[-1])}
        if len(tokens) > 1:
            condition["$all"] = sorted(set(tokens[:-1]))
        query: Doc = {"_words": condition, "account_id": {"$in": list(account_ids)}, **VISIBLE}
        docs = await self._find(
            "messages", query, [("created_at", -1), ("seq", -1), ("_id", -1)], limit
        )
        if not docs:
            return []
        conversation_ids = sorted({d["conversation_id"] for d in docs})
        async with self._op() as db:
            found = await self._retry(
                lambda: db["conversations"].find({"_id": {"$in": conversation_ids}}).to_list(None)
            )
        by_id = {c["_id"]: from_doc(Conversation, c) for c in found}
        return [
            SearchHit(from_doc(Message, d), by_id[d["conversation_id"]])
            for d in docs
            if d["conversation_id"] in by_id
        ]

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
        # Plain find + sort + projection (no aggregation): FerretDB 1.24 serves it as is.
        query: Doc = {
            "account_id": {"$in": list(account_ids)},
            "created_at": {"$gte": since, "$lt": until},
            **VISIBLE,
        }
        if after is not None:
            account, at, conversation_id, seq = after[0], float(after[1]), after[2], int(after[3])
            query["$or"] = [
                {"account_id": {"$gt": account}},
                {"account_id": account, "created_at": {"$gt": at}},
                {
                    "account_id": account,
                    "created_at": at,
                    "conversation_id": {"$gt": conversation_id},
                },
                {
                    "account_id": account,
                    "created_at": at,
                    "conversation_id": conversation_id,
                    "seq": {"$gt": seq},
                },
            ]
        sort = [("account_id", 1), ("created_at", 1), ("conversation_id", 1), ("seq", 1)]
        projection: Doc = {
            "conversation_id": 1,
            "account_id": 1,
            "seq": 1,
            "created_at": 1,
            "kind": 1,
            "sender": 1,
            "text": 1,
            "data.status": 1,
            "data.by": 1,
        }
        docs = await self._find("messages", query, sort, limit, projection)
        out: list[MessageFact] = []
        for d in docs:
            sender = d.get("sender") or {}
            data = d.get("data") or {}
            kind = str(d.get("kind") or "")
            out.append(
                MessageFact(
                    conversation_id=str(d["conversation_id"]),
                    account_id=str(d["account_id"]),
                    seq=int(d["seq"]),
                    created_at=float(d["created_at"]),
                    kind=kind,
                    sender_type=str(sender.get("type") or ""),
                    sender_id=str(sender.get("id") or ""),
                    text=str(d.get("text") or "") if kind == "system" else "",
                    status=str(data.get("status") or "") if kind == "system" else "",
                    actor_id=str(data.get("by") or "") if kind == "system" else "",
                )
            )
        return out

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
        query: Doc = {
            "account_id": {"$in": list(account_ids)},
            "created_at": {"$gte": since, "$lt": until},
        }
        if after is not None:
            account, at, conversation_id = after[0], float(after[1]), after[2]
            query["$or"] = [
                {"account_id": {"$gt": account}},
                {"account_id": account, "created_at": {"$gt": at}},
                {"account_id": account, "created_at": at, "_id": {"$gt": conversation_id}},
            ]
        sort = [("account_id", 1), ("created_at", 1), ("_id", 1)]
        projection: Doc = {"account_id": 1, "created_at": 1}
        docs = await self._find("conversations", query, sort, limit, projection)
        return [
            ConversationFact(
                id=str(d["_id"]), account_id=str(d["account_id"]), created_at=float(d["created_at"])
            )
            for d in docs
        ]

    # event log ---------------------------------------------------------------------------
    async def events_after(
        self, cursor: int, account_ids: list[str], limit: int = 1000
    ) -> list[Event]:
        if not account_ids or limit <= 0:
            return []
        query = {"_id": {"$gt": cursor}, "account_id": {"$in": list(account_ids)}}
        docs = await self._find("events", query, [("_id", 1)], limit)
        return [_event(d) for d in docs]

    async def conversation_events(
        self, conversation_id: str, after_seq: int, limit: int = 1000
    ) -> list[Event]:
        query = {"conversation_id": conversation_id, "seq": {"$gt": after_seq}}
        docs = await self._find("events", query, [("seq", 1), ("_id", 1)], limit)
        return [_event(d) for d in docs]

    async def event_bounds(self) -> tuple[int, int]:
        async with self._op() as db:
            events = db["events"]
            low = await self._retry(
                lambda: events.find({}, {"_id": 1}).sort("_id", 1).limit(1).to_list(None)
            )
            high = await self._retry(
                lambda: events.find({}, {"_id": 1}).sort("_id", -1).limit(1).to_list(None)
            )
            if low and high:
                return int(low[0]["_id"]) - 1, int(high[0]["_id"])
            # Empty log: after a full trim the numbering still continues from the counter.
            counter = await self._retry(lambda: db["counters"].find_one({"_id": "events"}))
        last = int(counter["n"]) if counter else 0
        return last, last

    async def trim_events(self, keep_last: int) -> int:
        await self.trim_commits(COMMIT_RECORDS_KEPT_FOR)
        keep = max(0, keep_last)
        async with self._op() as db:
            events = db["events"]
            if keep == 0:
                # The counter must cover every cursor handed out before the log empties (on
                # FerretDB a lost `$inc` can leave it behind): cursors are never reused.
                newest = await self._retry(
                    lambda: events.find({}, {"_id": 1}).sort("_id", -1).limit(1).to_list(None)
                )
                if newest:
                    top = int(newest[0]["_id"])
                    await self._retry(
                        lambda: db["counters"].update_one(
                            {"_id": "events"}, {"$max": {"n": top}}, upsert=True
                        )
                    )
                result = await self._retry(lambda: events.delete_many({}))
                return result.deleted_count
            edge = await self._retry(
                lambda: (
                    events.find({}, {"_id": 1})
                    .sort("_id", -1)
                    .skip(keep - 1)
                    .limit(1)
                    .to_list(None)
                )
            )
            if not edge:
                return 0
            bound = edge[0]["_id"]
            result = await self._retry(lambda: events.delete_many({"_id": {"$lt": bound}}))
            return result.deleted_count

    async def trim_commits(self, older_than: float) -> int:
        """Delete applied commit records older than `older_than` seconds. Safe: a writer only
        claims a version within ABANDONED_AFTER of reserving it, so no writer can still be
        about to claim a version that old, and pending reservations that old are orphans."""
        floor = token_floor(time.time() - max(older_than, ORPHANED_AFTER * 2))
        async with self._op() as db:
            result = await self._retry(
                lambda: db["commits"].delete_many({"open": {"$exists": False}, "t": {"$lt": floor}})
            )
        return result.deleted_count

    # outbox ------------------------------------------------------------------------------
    async def due_outbox(self, account_id: str, until: float, limit: int = 50) -> list[OutboxItem]:
        if limit <= 0:
            return []
        query = {"account_id": account_id, "next_attempt_at": {"$lte": until}}
        sort = [("next_attempt_at", 1), ("created_at", 1), ("_id", 1)]
        docs = await self._find("outbox", query, sort, limit)
        return [from_doc(OutboxItem, d) for d in docs]

    async def save_outbox(self, item: OutboxItem) -> None:
        doc = to_doc(item, item.id)
        async with self._op() as db:
            await self._retry(lambda: db["outbox"].replace_one({"_id": item.id}, doc, upsert=True))

    async def delete_outbox(self, item_id: str) -> None:
        async with self._op() as db:
            await self._retry(lambda: db["outbox"].delete_one({"_id": item_id}))

    # sessions ----------------------------------------------------------------------------
    async def save_session(self, session: Session) -> None:
        doc = to_doc(session, session.token_hash)
        async with self._op() as db:
            await self._retry(
                lambda: db["sessions"].replace_one({"_id": session.token_hash}, doc, upsert=True)
            )

    async def session(self, token_hash: str) -> Session | None:
        async with self._op() as db:
            doc = await self._retry(lambda: db["sessions"].find_one({"_id": token_hash}))
        return from_doc(Session, doc) if doc else None

    async def delete_session(self, token_hash: str) -> None:
        async with self._op() as db:
            await self._retry(lambda: db["sessions"].delete_one({"_id": token_hash}))


# helpers -----------------------------------------------------------------------------------
def _collection(kind: type[Any]) -> str:
    try:
        return COLLECTIONS[kind]
    except KeyError:
        raise TypeError(f"{kind.__name__} is not stored whole by id") from None


_CLAIM_PAYLOAD = ("open", "state", "new", "updated", "events", "outbox")


def claim_key(conversation_id: str, version: int) -> str:
    """The commit record's `_id`: unique, so exactly one writer moves a conversation from
    version - 1 to version (the text after the last `@` is the version)."""
    return f"{conversation_id}@{version}"


def _message_doc(m: Message, version: int, pending: str | None) -> Doc:
    derived: Doc = {"_cv": version, "_words": words(m.text)}
    if m.provider_message_id is not None:
        derived["_pid"] = pair_key(m.account_id, m.provider_message_id)
    if m.client_key is not None:
        derived["_ck"] = m.client_key
    if pending is not None:
        derived["_pending"] = pending
    return to_doc(m, m.id, **derived)


def _event_doc(e: Event) -> Doc:
    doc = body(e)
    doc.pop("cursor", None)  # the `_id` is the truth
    return doc


def _event(doc: Doc) -> Event:
    event = from_doc(Event, doc)
    event.cursor = int(doc["_id"])
    return event


__all__ = ["MongoStore"]

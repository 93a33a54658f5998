"""MongoStore / GridFsBlobStore specifics, against a real FerretDB (the contract suite in
tests/contract covers the shared `Store` behaviour)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, OperationFailure

from server.domain.models import (
    ChannelAccount,
    ChannelKind,
    Conversation,
    Event,
    Message,
    MessageKind,
    Sender,
)
from server.store.base import ConversationWrite, Duplicate, StaleWrite
from server.store.mongo import ORPHANED_AFTER, MongoStore, _message_doc
from server.store.mongo_blobs import GridFsBlobStore
from server.store.mongo_codec import escape_keys, new_token, unescape_keys
from server.store.mongo_schema import index_names
from tests.fixtures.services import FerretDB

T0 = 1_700_000_000.0
Client = AsyncMongoClient[dict[str, Any]]


@pytest.fixture
async def database(ferretdb: FerretDB) -> AsyncIterator[str]:
    name = f"mongo_it_{uuid.uuid4().hex[:12]}"
    yield name
    client: Client = AsyncMongoClient(ferretdb.url)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.fixture
async def client(ferretdb: FerretDB) -> AsyncIterator[Client]:
    c: Client = AsyncMongoClient(ferretdb.url, serverSelectionTimeoutMS=5000)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def store(ferretdb: FerretDB, database: str) -> AsyncIterator[MongoStore]:
    s = MongoStore(ferretdb.url, database=database)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def conv(cid: str, version: int = 1, **kw: Any) -> Conversation:
    kw.setdefault("channel", ChannelKind.WHATSAPP)
    return Conversation(
        id=cid,
        account_id="acc1",
        contact_id="ct1",
        version=version,
        last_activity_at=T0 + version,
        created_at=T0,
        **kw,
    )


def msg(mid: str, c: Conversation, seq: int, text: str, **kw: Any) -> Message:
    return Message(
        id=mid,
        conversation_id=c.id,
        account_id=c.account_id,
        kind=MessageKind.INBOUND,
        sender=Sender(type="contact", id="ct1"),
        seq=seq,
        text=text,
        created_at=T0 + seq,
        **kw,
    )


def ev(c: Conversation, seq: int, type_: str = "message.created") -> Event:
    return Event(type=type_, conversation_id=c.id, account_id="acc1", seq=seq, data={}, at=T0)


# schema ---------------------------------------------------------------------------------
async def test_indexes_created_and_reopen_is_idempotent(
    ferretdb: FerretDB, database: str, client: Client
) -> None:
    for _ in range(2):  # the second open finds every index present
        s = MongoStore(ferretdb.url, database=database)
        await s.open()
        assert await s.ping()
        await s.close()
    db = client[database]
    for collection, names in index_names().items():
        existing = {spec["name"] async for spec in await db[collection].list_indexes()}
        assert set(names) <= existing, collection
    # (FerretDB accepts `sparse` but does not report it back; its unique indexes skip
    # documents without the field anyway, which is what the derived keys rely on.)
    info = await db["messages"].index_information()
    assert info["provider_unique"].get("unique")
    assert info["client_key_unique"].get("unique")
    assert (await db["events"].index_information())["event_unique"].get("unique")
    assert (await db["users"].index_information())["email_unique"].get("unique")


async def test_closed_store_refuses_and_ping_is_false(ferretdb: FerretDB, database: str) -> None:
    s = MongoStore(ferretdb.url, database=database)
    assert await s.ping() is False
    await s.open()
    await s.close()
    assert await s.ping() is False
    with pytest.raises(Exception, match="not open"):
        await s.get(ChannelAccount, "x")


# documents ------------------------------------------------------------------------------
def test_key_escaping_round_trips() -> None:
    data = {"a.b": 1, "$x": {"%y": [{"c.d$": 2}]}, "plain": "v.$%", "\x00k": None, "": 3}
    escaped = escape_keys(data)
    assert all("." not in k and not k.startswith("$") for k in escaped)
    assert unescape_keys(escaped) == data


async def test_keys_ferretdb_refuses_are_stored(store: MongoStore, client: Client) -> None:
    account = ChannelAccount(
        id="acc1",
        kind=ChannelKind.API,
        name="api",
        settings={"webhook.url": "https://x.example", "$ref": {"50%": 1}, "7": [1.5, None]},
        created_at=T0,
    )
    await store.put(account)
    assert await store.get(ChannelAccount, "acc1") == account
    raw = await client[store.database]["accounts"].find_one({"_id": "acc1"})
    assert raw is not None and raw["kind"] == "api"  # enums are stored as their values
    assert "webhook%2Eurl" in raw["settings"]


# search ---------------------------------------------------------------------------------
async def test_message_search_words_prefix_and_accents(store: MongoStore) -> None:
    c = conv("cv1")
    await store.commit(
        ConversationWrite(
            c,
            expected_version=0,
            new_messages=[
                msg("m1", c, 1, "Café crème for the Zürich office"),
                msg("m2", c, 2, "snake_case_word and invoices"),
            ],
            events=[ev(c, 1), ev(c, 2)],
        )
    )

    async def ids(text: str) -> list[str]:
        return [h.message.id for h in await store.search_messages(["acc1"], text)]

    assert await ids("cafe") == ["m1"]
    assert await ids("ZURICH off") == ["m1"]  # last word is a prefix
    assert await ids("off zurich") == []  # only the last word is a prefix
    assert await ids("invoice") == ["m2"]
    assert await ids("case word") == ["m2"]  # "_" separates words, as in FTS5
    assert await ids("crème café") == ["m1"]
    assert await ids(".*") == []


# commit crash safety --------------------------------------------------------------------
async def test_recover_applies_a_claimed_commit(store: MongoStore, ferretdb: FerretDB) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0, events=[ev(c1, 0, "x")]))
    c2 = conv("cv1", version=2, subject="after crash", seq=1)
    write = ConversationWrite(
        c2,
        expected_version=1,
        new_messages=[msg("m1", c2, 1, "written before the crash", client_key="ck1")],
        events=[ev(c2, 1)],
    )
    # "Crash" right after the commit point: the claim exists, nothing is applied yet.
    async with store._op() as db:
        await store._reserve_and_claim(db, write, new_token(time.time() - 1))
    assert (await store.conversation("cv1")) == c1
    assert await store.message("m1") is None  # pending: invisible
    assert await store.message_by_client_key("ck1") is None
    # A competing writer cannot take the same version meanwhile.
    with pytest.raises(StaleWrite):
        await store.commit(ConversationWrite(conv("cv1", version=2), expected_version=1))

    await store.close()
    again = MongoStore(ferretdb.url, database=store.database, recover_after=0.0)
    await again.open()  # recover() runs here
    try:
        assert await again.conversation("cv1") == c2
        found = await again.message_by_client_key("ck1")
        assert found is not None and found.id == "m1"
        log = await again.events_after(0, ["acc1"])
        assert [e.type for e in log] == ["x", "message.created"]
        assert await again.recover(0.0) == 0  # nothing left
    finally:
        await again.close()


async def test_recover_drops_pending_messages_of_a_commit_that_never_claimed(
    store: MongoStore, client: Client
) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0))
    orphan = msg("m-orphan", c1, 1, "never committed", provider_message_id="wamid.1")
    doc = {
        **orphan.to_dict(),
        "_id": "m-orphan",
        "kind": "inbound",
        "_cv": 2,
        "_pending": "0000000000001cafe",
        "_pid": '["acc1","wamid.1"]',
    }
    await client[store.database]["messages"].insert_one(doc)
    assert await store.message("m-orphan") is None
    assert await store.recover(0.0) == 1
    assert await client[store.database]["messages"].count_documents({}) == 0
    # The provider id is free again.
    c2 = conv("cv1", version=2, seq=1)
    m = msg("m-real", c2, 1, "real", provider_message_id="wamid.1")
    await store.commit(ConversationWrite(c2, expected_version=1, new_messages=[m]))
    found = await store.message_by_provider_id("acc1", "wamid.1")
    assert found is not None and found.id == "m-real"


async def _reserve_like_a_dead_writer(store: MongoStore, m: Message, token: str) -> None:
    """What a node killed between reserving a message and claiming its commit leaves."""
    async with store._op() as db:
        await store._reserve_messages(db, [_message_doc(m, 2, token)], token)


async def test_redelivery_after_a_writer_died_before_its_claim_is_stored_not_duplicate(
    store: MongoStore,
) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0))
    c2 = conv("cv1", version=2, seq=1)
    lost = msg("m-lost", c2, 1, "hello", provider_message_id="wamid.9")
    await _reserve_like_a_dead_writer(store, lost, new_token(time.time() - ORPHANED_AFTER - 1))

    # The provider redelivers to another node: stored and visible, not answered "duplicate".
    again = msg("m-again", c2, 1, "hello", provider_message_id="wamid.9")
    await store.commit(ConversationWrite(c2, expected_version=1, new_messages=[again]))
    found = await store.message_by_provider_id("acc1", "wamid.9")
    assert found is not None and found.id == "m-again"
    assert [m.id for m in await store.messages("cv1")] == ["m-again"]


async def test_a_reservation_still_in_progress_is_neither_duplicate_nor_taken(
    store: MongoStore,
) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0))
    c2 = conv("cv1", version=2, seq=1)
    await _reserve_like_a_dead_writer(
        store, msg("m-young", c2, 1, "hi", provider_message_id="wamid.8"), new_token()
    )
    other = msg("m-other", c2, 1, "hi", provider_message_id="wamid.8")
    with pytest.raises(StaleWrite) as refused:
        await store.commit(ConversationWrite(c2, expected_version=1, new_messages=[other]))
    assert not isinstance(refused.value, Duplicate)  # the caller retries later
    assert await store.message("m-other") is None


async def test_a_claimed_commit_of_the_same_message_is_a_duplicate(store: MongoStore) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0))
    c2 = conv("cv1", version=2, seq=1)
    first = msg("m-first", c2, 1, "hi", provider_message_id="wamid.7")
    write = ConversationWrite(c2, expected_version=1, new_messages=[first], events=[ev(c2, 1)])
    async with store._op() as db:  # crashed right after its commit point
        await store._reserve_and_claim(db, write, new_token(time.time() - 1))
    # Another node, still seeing version 1, stores the redelivered message.
    second = msg("m-second", c2, 1, "hi", provider_message_id="wamid.7")
    with pytest.raises(Duplicate) as dup:
        await store.commit(ConversationWrite(c2, expected_version=1, new_messages=[second]))
    assert dup.value.existing_id == "m-first"


async def test_close_waits_for_commits_in_flight(store: MongoStore, ferretdb: FerretDB) -> None:
    writes = [
        asyncio.ensure_future(
            store.commit(
                ConversationWrite(
                    conv(f"cv{i}"),
                    expected_version=0,
                    new_messages=[msg(f"m{i}", conv(f"cv{i}"), 1, "hello")],
                    events=[ev(conv(f"cv{i}"), 1)],
                )
            )
        )
        for i in range(10)
    ]
    await asyncio.sleep(0)
    await store.close()
    assert all(w.done() for w in writes)
    again = MongoStore(ferretdb.url, database=store.database)
    await again.open()
    try:
        assert len(await again.events_after(0, ["acc1"])) == 10
        assert all([await again.message(f"m{i}") for i in range(10)])
    finally:
        await again.close()


async def test_two_instances_share_cursors_without_reuse(
    store: MongoStore, ferretdb: FerretDB
) -> None:
    other = MongoStore(ferretdb.url, database=store.database)
    await other.open()
    try:
        convs = [conv(f"cv{i}") for i in range(30)]
        batches = await asyncio.gather(
            *(
                (store if i % 2 else other).commit(
                    ConversationWrite(x, expected_version=0, events=[ev(x, 1), ev(x, 1, "b")])
                )
                for i, x in enumerate(convs)
            )
        )
        cursors = [e.cursor for batch in batches for e in batch]
        assert len(set(cursors)) == len(cursors) == 60
        for batch in batches:
            assert batch[0].cursor < batch[1].cursor
        log = await store.events_after(0, ["acc1"], limit=1000)
        assert sorted(e.cursor for e in log) == sorted(cursors)
    finally:
        await other.close()


# retries ----------------------------------------------------------------------------------
async def test_retry_is_bounded_and_only_for_transient_errors(store: MongoStore) -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise AutoReconnect("primary stepped down")
        return "ok"

    assert await store._retry(flaky) == "ok" and calls == 3

    calls = 0

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise AutoReconnect("still down")

    with pytest.raises(AutoReconnect):
        await store._retry(down)
    assert calls == 3

    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        raise OperationFailure("bad query", code=2)

    with pytest.raises(OperationFailure):
        await store._retry(broken)
    assert calls == 1


# GridFS attachments -------------------------------------------------------------------------
async def test_gridfs_blob_store(client: Client, database: str) -> None:
    blobs = GridFsBlobStore(client[database], chunk_size=64 * 1024)
    data = bytes(range(256)) * 1500  # 384 000 bytes: several chunks
    attachment = await blobs.put(data, "../../etc/In voice.pdf", "Application/PDF; charset=x")
    assert attachment.filename == "In voice.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(data) and attachment.url.endswith(attachment.id)

    assert await blobs.get_meta(attachment.id) == attachment
    opened = await blobs.open(attachment.id)
    assert opened is not None and opened[0] == attachment and opened[1] == data
    chunks = await client[database]["attachments.chunks"].count_documents(
        {"files_id": attachment.id}
    )
    assert chunks == 6

    empty = await blobs.put(b"", "empty.txt", "text/plain")
    assert await blobs.open(empty.id) == (empty, b"")

    assert await blobs.get_meta("att_000000000000ffffffffffff") is None
    assert await blobs.open("att_000000000000ffffffffffff") is None
    assert await blobs.open("../../etc/passwd") is None
    assert await blobs.delete(attachment.id) is True
    assert await blobs.open(attachment.id) is None
    assert await blobs.delete(attachment.id) is False


async def test_old_applied_commit_records_are_trimmed_open_ones_kept(
    store: MongoStore, client: Client
) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0))
    commits = client[store.database]["commits"]
    await commits.insert_one({"_id": "old-applied", "t": new_token(time.time() - 7200)})
    await commits.insert_one(
        {"_id": "old-open", "t": new_token(time.time() - 7200), "open": "x", "v": 1}
    )
    assert await store.trim_commits(3600) == 1
    left = sorted(d["_id"] for d in await commits.find({}, {"_id": 1}).to_list(None))
    assert left == ["cv1@1", "old-open"]  # the fresh record and the unfinished one stay
    # The conversation still moves on.
    c2 = conv("cv1", version=2)
    await store.commit(ConversationWrite(c2, expected_version=1))
    assert (await store.conversation("cv1")) == c2

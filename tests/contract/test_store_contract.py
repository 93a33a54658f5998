"""The `Store` contract: written only against `server.store.base`, run for every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from server.domain.models import (
    Attachment,
    AuthorizedUser,
    Branch,
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Event,
    Message,
    MessageKind,
    OutboxItem,
    Role,
    Sender,
    Session,
    Tag,
    Team,
    Template,
    TemplateType,
    User,
)
from server.store.base import (
    ConversationWrite,
    Duplicate,
    InboxQuery,
    StaleWrite,
    Store,
)

T0 = 1_700_000_000.0
Reopen = Callable[[], Awaitable[Store]]


# builders ----------------------------------------------------------------------------------
def conv(
    cid: str, account: str = "acc1", *, at: float = T0, version: int = 1, **kw: Any
) -> Conversation:
    kw.setdefault("channel", ChannelKind.EMAIL)
    kw.setdefault("contact_id", "ct1")
    return Conversation(
        id=cid, account_id=account, last_activity_at=at, version=version, created_at=T0, **kw
    )


def msg(mid: str, c: Conversation, seq: int, text: str = "", **kw: Any) -> Message:
    kw.setdefault("kind", MessageKind.INBOUND)
    kw.setdefault("sender", Sender(type="contact", id=c.contact_id, name="Ann"))
    kw.setdefault("created_at", T0 + seq)
    return Message(id=mid, conversation_id=c.id, account_id=c.account_id, seq=seq, text=text, **kw)


def ev(c: Conversation, seq: int, type_: str = "message.created", **data: Any) -> Event:
    return Event(
        type=type_, conversation_id=c.id, account_id=c.account_id, seq=seq, data=data, at=T0 + seq
    )


async def create(store: Store, c: Conversation, *messages: Message, **kw: Any) -> list[Event]:
    """Create `c` (version 1) with its messages, one message.created event per message."""
    events = kw.pop("events", None)
    if events is None:
        events = [ev(c, m.seq, message_id=m.id) for m in messages] or [
            ev(c, 0, "conversation.created")
        ]
    return await store.commit(
        ConversationWrite(c, expected_version=0, new_messages=list(messages), events=events, **kw)
    )


def bump(c: Conversation, **changes: Any) -> Conversation:
    """The next state of `c`: same record, version + 1, with `changes` applied."""
    data = c.to_dict()
    data.update(changes)
    data["version"] = c.version + 1
    return Conversation.from_dict(data)


async def all_events(store: Store, accounts: list[str]) -> list[Event]:
    return await store.events_after(0, accounts, limit=100_000)


# lifecycle and records ----------------------------------------------------------------------
async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_releasing_memory_keeps_everything_readable_and_writable(store: Store) -> None:
    c1 = conv("cv1")
    await store.commit(ConversationWrite(c1, expected_version=0, new_messages=[msg("m1", c1, 1)]))
    await asyncio.gather(*(store.messages("cv1") for _ in range(8)))  # warm every reader
    await store.release_memory()
    assert [m.id for m in await store.messages("cv1")] == ["m1"]
    c2 = bump(c1)
    await store.commit(ConversationWrite(c2, expected_version=1, new_messages=[msg("m2", c2, 2)]))
    assert sorted(m.id for m in await store.messages("cv1")) == ["m1", "m2"]


async def test_records_round_trip_whole(store: Store) -> None:
    records = [
        User(id="u1", email="ann@example.com", name="Ann", role=Role.ADMIN, created_at=T0),
        Team(id="t1", name="Support", member_ids=["u1", "u2"], created_at=T0),
        ChannelAccount(
            id="acc1",
            kind=ChannelKind.WHATSAPP,
            name="WA",
            authorized=[
                AuthorizedUser(user_id="u1", can_reassign=True),
                AuthorizedUser(user_id="u2", handles_conversations=False),
            ],
            settings={"phone_number_id": "123", "nested": {"a": [1, 2]}},
            secrets={"token": "s3cret"},
            created_at=T0,
        ),
        Contact(
            id="ct1",
            name="Bob",
            email="bob@example.com",
            handles={"email": "bob@example.com"},
            customer_id="cu1",
            created_at=T0,
        ),
        Customer(
            id="cu1",
            name="Acme",
            custom_fields={"tier": "gold", "seats": 12},
            branches=[
                Branch(id="b1", name="North", address="1 Road"),
                Branch(id="b2", name="South"),
            ],
            created_at=T0,
        ),
        Tag(id="tag1", name="vip", color="#ff0000", created_at=T0),
        Template(
            id="tpl1",
            account_id="acc1",
            name="hello",
            content="Hi {{name}}",
            labels=["greet"],
            type=TemplateType.START,
            created_at=T0,
        ),
    ]
    for record in records:
        await store.put(record)
    for record in records:
        got = await store.get(type(record), record.id)  # type: ignore[attr-defined]
        assert got == record
    account = await store.get(ChannelAccount, "acc1")
    assert account is not None
    assert account.kind == ChannelKind.WHATSAPP
    assert account.authorized[0].user_id == "u1" and account.authorized[0].can_reassign
    assert account.grant("u2") is not None
    customer = await store.get(Customer, "cu1")
    assert customer is not None and [b.name for b in customer.branches] == ["North", "South"]
    assert await store.get(User, "nobody") is None


async def test_put_replaces_all_is_oldest_first_delete(store: Store) -> None:
    await store.put(Tag(id="b", name="second", created_at=T0 + 2))
    await store.put(Tag(id="c", name="third", created_at=T0 + 3))
    await store.put(Tag(id="a", name="first", created_at=T0 + 1))
    await store.put(Team(id="t", name="not a tag", created_at=T0))
    assert [t.id for t in await store.all(Tag)] == ["a", "b", "c"]

    await store.put(Tag(id="b", name="renamed", deleted=True, created_at=T0 + 2))
    tags = await store.all(Tag)
    assert [(t.id, t.name, t.deleted) for t in tags] == [
        ("a", "first", False),
        ("b", "renamed", True),
        ("c", "third", False),
    ]

    assert await store.delete(Tag, "b") is True
    assert await store.delete(Tag, "b") is False
    assert await store.get(Tag, "b") is None
    assert [t.id for t in await store.all(Tag)] == ["a", "c"]
    assert [t.id for t in await store.all(Team)] == ["t"]
    assert await store.all(Template) == []


async def test_user_email_is_unique_case_insensitively(store: Store) -> None:
    await store.put(User(id="u1", email="Ann@Example.com", name="Ann", created_at=T0))
    with pytest.raises(Duplicate) as info:
        await store.put(User(id="u2", email="ann@example.COM", name="Impostor", created_at=T0))
    assert info.value.key == "email"
    assert await store.get(User, "u2") is None

    found = await store.user_by_email("ANN@example.com")
    assert found is not None and found.id == "u1"
    assert await store.user_by_email("other@example.com") is None

    # The owner may be rewritten (same email), and may change it, freeing the old one.
    await store.put(User(id="u1", email="ann@example.com", name="Ann B", created_at=T0))
    await store.put(User(id="u1", email="ann@new.example", name="Ann B", created_at=T0))
    await store.put(User(id="u2", email="ann@example.com", name="Ann C", created_at=T0))
    found = await store.user_by_email("ann@example.com")
    assert found is not None and found.id == "u2"


async def test_contact_by_handle_follows_updates_and_deletes(store: Store) -> None:
    contact = Contact(
        id="ct1", name="Bob", handles={"whatsapp": "+15550001", "api:acc9": "src-1"}, created_at=T0
    )
    await store.put(contact)
    await store.put(Contact(id="ct2", name="Eve", handles={"whatsapp": "+15550002"}, created_at=T0))

    found = await store.contact_by_handle("whatsapp", "+15550001")
    assert found == contact
    found = await store.contact_by_handle("api:acc9", "src-1")
    assert found is not None and found.id == "ct1"
    assert await store.contact_by_handle("whatsapp", "src-1") is None
    assert await store.contact_by_handle("email", "+15550001") is None

    contact.handles = {"whatsapp": "+15559999"}
    await store.put(contact)
    assert await store.contact_by_handle("whatsapp", "+15550001") is None
    found = await store.contact_by_handle("whatsapp", "+15559999")
    assert found is not None and found.id == "ct1"

    assert await store.delete(Contact, "ct1") is True
    assert await store.contact_by_handle("whatsapp", "+15559999") is None
    found = await store.contact_by_handle("whatsapp", "+15550002")
    assert found is not None and found.id == "ct2"


async def test_search_contacts(store: Store) -> None:
    await store.put(Contact(id="c1", name="Zoë Martin", email="zoe@acme.io", created_at=T0))
    await store.put(Contact(id="c2", name="Bob", phone="+44 20 7946 0000", created_at=T0 + 1))
    await store.put(Contact(id="c3", name="Martina", email="m@other.io", created_at=T0 + 2))

    assert {c.id for c in await store.search_contacts("martin")} == {"c1", "c3"}
    assert [c.id for c in await store.search_contacts("ZOË")] == ["c1"]
    assert [c.id for c in await store.search_contacts("ACME.IO")] == ["c1"]
    assert [c.id for c in await store.search_contacts("7946")] == ["c2"]
    assert await store.search_contacts("nobody") == []
    assert len(await store.search_contacts("martin", limit=1)) == 1
    # Hostile input is plain text.
    assert await store.search_contacts("%") == []
    assert await store.search_contacts("_") == []


async def test_search_customers_by_name_or_branch(store: Store) -> None:
    await store.put(
        Customer(
            id="cu1",
            name="Acme Corp",
            branches=[Branch(id="b1", name="Rotterdam Harbour")],
            created_at=T0,
        )
    )
    await store.put(Customer(id="cu2", name="Globex", created_at=T0 + 1))

    assert [c.id for c in await store.search_customers("acme")] == ["cu1"]
    found = await store.search_customers("ROTTERDAM")
    assert [c.id for c in found] == ["cu1"]
    assert found[0].branches[0].name == "Rotterdam Harbour"
    assert [c.id for c in await store.search_customers("glob")] == ["cu2"]
    assert await store.search_customers("initech") == []


# commit ------------------------------------------------------------------------------------
async def test_commit_creates_then_updates_with_version_fencing(store: Store) -> None:
    c1 = conv("cv1", subject="Order", tag_ids=["t1"])
    m1 = msg("m1", c1, 1, "hello there")
    events = await create(store, c1, m1)
    assert [e.cursor > 0 for e in events] == [True]
    assert await store.conversation("cv1") == c1

    c2 = bump(c1, status=ConversationStatus.PENDING, seq=2, last_activity_at=T0 + 5)
    m2 = msg("m2", c2, 2, "reply")
    await store.commit(
        ConversationWrite(
            c2,
            expected_version=1,
            new_messages=[m2],
            events=[ev(c2, 2), ev(c2, 2, "conversation.updated")],
        )
    )
    stored = await store.conversation("cv1")
    assert stored == c2 and stored.version == 2 and stored.status == ConversationStatus.PENDING

    # A writer that still believes version 1 is refused, and nothing of its write lands.
    before = await all_events(store, ["acc1"])
    stale = bump(c1, subject="overwritten", seq=2)
    with pytest.raises(StaleWrite):
        await store.commit(
            ConversationWrite(
                stale,
                expected_version=1,
                new_messages=[msg("m-stale", stale, 3, "stale text", client_key="k-stale")],
                events=[ev(stale, 3)],
                outbox=[
                    OutboxItem(
                        id="o-stale", account_id="acc1", conversation_id="cv1", message_id="m-stale"
                    )
                ],
            )
        )
    assert await store.conversation("cv1") == c2
    assert await store.message("m-stale") is None
    assert await store.message_by_client_key("k-stale") is None
    assert await all_events(store, ["acc1"]) == before
    assert await store.due_outbox("acc1", T0 + 10_000) == []
    assert [m.id for m in await store.messages("cv1")] == ["m2", "m1"]

    # Updating a conversation that does not exist is stale too.
    with pytest.raises(StaleWrite):
        await store.commit(ConversationWrite(conv("ghost", version=4), expected_version=3))
    assert await store.conversation("ghost") is None


async def test_commit_refuses_a_version_that_is_not_expected_plus_one(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.commit(ConversationWrite(conv("cv1", version=3), expected_version=0))
    assert await store.conversation("cv1") is None


async def test_creating_an_existing_conversation_is_refused(store: Store) -> None:
    c1 = conv("cv1", subject="first")
    await create(store, c1)
    with pytest.raises((Duplicate, StaleWrite)):
        await create(store, conv("cv1", subject="second"), events=[ev(c1, 1, "other")])
    assert await store.conversation("cv1") == c1


async def test_concurrent_writers_on_one_version_only_one_wins(store: Store) -> None:
    c1 = conv("cv1")
    await create(store, c1)
    writes = [
        store.commit(
            ConversationWrite(
                bump(c1, subject=f"writer {i}", seq=1),
                expected_version=1,
                events=[ev(c1, 1, "conversation.updated", writer=i)],
            )
        )
        for i in range(5)
    ]
    results = await asyncio.gather(*writes, return_exceptions=True)
    winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, StaleWrite) for r in results if isinstance(r, BaseException))
    stored = await store.conversation("cv1")
    assert stored is not None and stored.version == 2
    assert stored.subject == f"writer {winners[0]}"
    updates = [e for e in await all_events(store, ["acc1"]) if e.type == "conversation.updated"]
    assert [e.data["writer"] for e in updates] == [winners[0]]


async def test_duplicate_provider_id_refuses_only_that_write(store: Store) -> None:
    base = conv("cv0")
    await create(store, base, msg("m0", base, 1, "first", provider_message_id="wamid.1"))

    a, b, c = conv("cvA"), conv("cvB"), conv("cvC")
    other_account = conv("cvD", "acc2")
    results = await asyncio.gather(
        create(store, a, msg("mA", a, 1, "alpha", provider_message_id="wamid.A")),
        create(store, b, msg("mB", b, 1, "bravo", provider_message_id="wamid.1")),
        create(store, c, msg("mC", c, 1, "charlie", provider_message_id="wamid.C")),
        # The same provider id on another account is a different message.
        create(store, other_account, msg("mD", other_account, 1, provider_message_id="wamid.1")),
        return_exceptions=True,
    )
    error = results[1]
    assert isinstance(error, Duplicate)
    assert error.key == "provider_message_id" and error.existing_id == "m0"
    for i in (0, 2, 3):
        assert isinstance(results[i], list), results[i]

    assert await store.conversation("cvB") is None
    assert await store.message("mB") is None
    assert [e.conversation_id for e in await all_events(store, ["acc1"])] == ["cv0", "cvA", "cvC"]
    for cid, mid in (("cvA", "mA"), ("cvC", "mC"), ("cvD", "mD")):
        assert await store.conversation(cid) is not None
        assert await store.message(mid) is not None
    found = await store.message_by_provider_id("acc1", "wamid.1")
    assert found is not None and found.id == "m0"
    found = await store.message_by_provider_id("acc2", "wamid.1")
    assert found is not None and found.id == "mD"
    assert await store.message_by_provider_id("acc1", "wamid.404") is None


async def test_duplicate_client_key_leaves_the_conversation_untouched(store: Store) -> None:
    c1 = conv("cv1")
    await create(
        store, c1, msg("m1", c1, 1, "sent once", kind=MessageKind.OUTBOUND, client_key="ck-1")
    )
    c2 = bump(c1, seq=2, last_message_preview="sent twice")
    with pytest.raises(Duplicate) as info:
        await store.commit(
            ConversationWrite(
                c2,
                expected_version=1,
                new_messages=[msg("m2", c2, 2, "sent twice", client_key="ck-1")],
                events=[ev(c2, 2)],
                outbox=[
                    OutboxItem(id="o2", account_id="acc1", conversation_id="cv1", message_id="m2")
                ],
            )
        )
    assert info.value.key == "client_key" and info.value.existing_id == "m1"
    assert await store.conversation("cv1") == c1
    assert await store.message("m2") is None
    assert len(await all_events(store, ["acc1"])) == 1
    assert await store.due_outbox("acc1", T0 + 10_000) == []
    found = await store.message_by_client_key("ck-1")
    assert found is not None and found.id == "m1"
    assert await store.message_by_client_key("ck-404") is None

    # The writer that lost can retry with the same version once it drops the duplicate.
    await store.commit(ConversationWrite(c2, expected_version=1, events=[ev(c2, 2, "x.y")]))
    stored = await store.conversation("cv1")
    assert stored is not None and stored.version == 2


async def test_updated_messages_are_rewritten(store: Store) -> None:
    c1 = conv("cv1")
    m1 = msg("m1", c1, 1, "draft text", kind=MessageKind.OUTBOUND, status=DeliveryStatus.QUEUED)
    await create(store, c1, m1)
    sent = Message.from_dict(
        {
            **m1.to_dict(),
            "status": DeliveryStatus.SENT,
            "provider_message_id": "wamid.9",
            "text": "final words",
        }
    )
    c2 = bump(c1)
    await store.commit(
        ConversationWrite(
            c2, expected_version=1, updated_messages=[sent], events=[ev(c2, 1, "message.updated")]
        )
    )
    stored = await store.message("m1")
    assert stored is not None
    assert stored.status == DeliveryStatus.SENT and stored.text == "final words"
    by_provider = await store.message_by_provider_id("acc1", "wamid.9")
    assert by_provider is not None and by_provider.id == "m1"
    assert [h.message.id for h in await store.search_messages(["acc1"], "final")] == ["m1"]
    assert await store.search_messages(["acc1"], "draft") == []


async def test_event_cursors_increase_in_commit_order(store: Store) -> None:
    cursors: list[int] = []
    c = conv("cv1")
    for version in range(1, 6):
        state = conv("cv1", version=version, seq=version)
        events = await store.commit(
            ConversationWrite(
                state,
                expected_version=version - 1,
                events=[ev(c, version), ev(c, version, "conversation.updated")],
            )
        )
        # Both events of one commit share the conversation's seq.
        assert [e.seq for e in events] == [version, version]
        cursors.extend(e.cursor for e in events)
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)

    # Concurrent commits: every cursor is distinct and each write's events stay in order.
    convs = [conv(f"g{i}") for i in range(20)]
    batches = await asyncio.gather(
        *(create(store, x, events=[ev(x, 1), ev(x, 1, "conversation.created")]) for x in convs)
    )
    new = [e.cursor for batch in batches for e in batch]
    assert len(set(new)) == len(new) and min(new) > max(cursors)
    for batch in batches:
        assert batch[0].cursor < batch[1].cursor
    log = await all_events(store, ["acc1"])
    assert [e.cursor for e in log] == sorted([*cursors, *new])


async def test_events_after_filters_by_account_and_pages(store: Store) -> None:
    for i in range(6):
        account = "acc1" if i % 2 == 0 else "acc2"
        x = conv(f"cv{i}", account)
        await create(store, x, events=[ev(x, 1, "conversation.created", n=i)])
    everything = await store.events_after(0, ["acc1", "acc2"])
    assert [e.data["n"] for e in everything] == [0, 1, 2, 3, 4, 5]
    first = everything[0]
    assert (first.type, first.conversation_id, first.account_id, first.seq, first.at) == (
        "conversation.created",
        "cv0",
        "acc1",
        1,
        T0 + 1,
    )

    acc1 = await store.events_after(0, ["acc1"])
    assert [e.data["n"] for e in acc1] == [0, 2, 4]
    assert all(e.account_id == "acc1" for e in acc1)
    assert await store.events_after(0, []) == []
    assert await store.events_after(0, ["acc-none"]) == []

    pages: list[Event] = []
    cursor = 0
    while True:
        page = await store.events_after(cursor, ["acc1", "acc2"], limit=4)
        if not page:
            break
        assert len(page) <= 4
        pages.extend(page)
        cursor = page[-1].cursor
    assert [e.cursor for e in pages] == [e.cursor for e in everything]
    assert await store.events_after(everything[-1].cursor, ["acc1", "acc2"]) == []


async def test_conversation_events_read_one_conversation_in_seq_order(store: Store) -> None:
    a, b = conv("cva"), conv("cvb")
    await create(store, a, events=[ev(a, 1, "conversation.created"), ev(a, 2, n=1)])
    await create(store, b, events=[ev(b, 1, "conversation.created")])
    a2 = bump(a)
    await store.commit(
        ConversationWrite(a2, expected_version=1, events=[ev(a2, 3, n=2), ev(a2, 4, n=3)])
    )
    events = await store.conversation_events("cva", 2)
    assert [(e.seq, e.data.get("n")) for e in events] == [(3, 2), (4, 3)]
    assert all(e.conversation_id == "cva" and e.cursor > 0 for e in events)
    assert [e.seq for e in await store.conversation_events("cva", 0)] == [1, 2, 3, 4]
    assert [e.seq for e in await store.conversation_events("cva", 0, limit=2)] == [1, 2]
    assert await store.conversation_events("cva", 4) == []
    assert await store.conversation_events("nope", 0) == []


async def test_event_bounds_and_trim(store: Store) -> None:
    assert await store.event_bounds() == (0, 0)
    cursors = []
    for i in range(5):
        x = conv(f"cv{i}")
        cursors += [e.cursor for e in await create(store, x)]
    assert await store.event_bounds() == (cursors[0] - 1, cursors[-1])

    assert await store.trim_events(2) == 3
    assert await store.event_bounds() == (cursors[3] - 1, cursors[4])
    assert [e.cursor for e in await all_events(store, ["acc1"])] == cursors[3:]
    assert await store.trim_events(10) == 0

    # Cursors are never reused after a trim.
    x = conv("cv-new")
    (latest,) = await create(store, x)
    assert latest.cursor > cursors[-1]
    assert await store.trim_events(0) == 3
    assert await all_events(store, ["acc1"]) == []
    y = conv("cv-newer")
    (newest,) = await create(store, y)
    assert newest.cursor > latest.cursor


# conversation list ------------------------------------------------------------------------
async def _inbox(store: Store) -> None:
    rows = [
        conv("c1", at=T0 + 1, assignee_user_id="u1", tag_ids=["t1"]),
        conv(
            "c2",
            at=T0 + 2,
            status=ConversationStatus.PENDING,
            channel=ChannelKind.WHATSAPP,
            tag_ids=["t2", "t3"],
        ),
        conv("c3", at=T0 + 3, assignee_team_id="team1"),
        conv("c4", at=T0 + 4, status=ConversationStatus.RESOLVED, assignee_user_id="u2"),
        conv("c5", "acc2", at=T0 + 5, assignee_user_id="u1"),
        conv("c6", at=T0 + 6, customer_id="cu1", contact_id="ct6"),
    ]
    await asyncio.gather(*(create(store, r) for r in rows))


async def _ids(store: Store, **kw: Any) -> list[str]:
    kw.setdefault("account_ids", ["acc1"])
    page = await store.list_conversations(InboxQuery(**kw))
    return [c.id for c in page.conversations]


async def test_list_conversations_tabs_and_filters(store: Store) -> None:
    await _inbox(store)
    assert await _ids(store) == ["c6", "c4", "c3", "c2", "c1"]
    assert await _ids(store, account_ids=["acc1", "acc2"]) == ["c6", "c5", "c4", "c3", "c2", "c1"]
    assert await _ids(store, account_ids=["acc2"]) == ["c5"]
    assert await _ids(store, account_ids=[]) == []

    assert await _ids(store, tab="mine", user_id="u1") == ["c1"]
    assert await _ids(store, tab="mine", user_id="u1", account_ids=["acc1", "acc2"]) == ["c5", "c1"]
    assert await _ids(store, tab="mine", user_id="u3") == []
    assert await _ids(store, tab="unassigned") == ["c6", "c2"]

    assert await _ids(store, statuses=[ConversationStatus.OPEN]) == ["c6", "c3", "c1"]
    assert await _ids(
        store, statuses=[ConversationStatus.PENDING, ConversationStatus.RESOLVED]
    ) == ["c4", "c2"]
    assert await _ids(store, channel=ChannelKind.WHATSAPP) == ["c2"]
    assert await _ids(store, channel=ChannelKind.API) == []
    assert await _ids(store, tag_ids=["t1", "t3"]) == ["c2", "c1"]
    assert await _ids(store, tag_ids=["t3"], tab="unassigned") == ["c2"]
    assert await _ids(store, customer_id="cu1") == ["c6"]
    assert await _ids(store, contact_id="ct6") == ["c6"]
    assert await _ids(store, tab="mine", user_id="u1", statuses=[ConversationStatus.RESOLVED]) == []


async def test_list_conversations_follows_updates(store: Store) -> None:
    await _inbox(store)
    c1 = await store.conversation("c1")
    assert c1 is not None
    moved = bump(c1, tag_ids=["t9"], assignee_user_id=None, last_activity_at=T0 + 100)
    await store.commit(ConversationWrite(moved, expected_version=1, events=[ev(moved, 1, "x")]))
    assert await _ids(store, tag_ids=["t1"]) == []
    assert await _ids(store, tag_ids=["t9"]) == ["c1"]
    assert await _ids(store, tab="mine", user_id="u1") == []
    assert await _ids(store, tab="unassigned") == ["c1", "c6", "c2"]


async def test_list_conversations_keyset_pagination(store: Store) -> None:
    # 120 conversations, many sharing a timestamp, so the id tie-break matters.
    rows = [conv(f"cv{i:03d}", at=T0 + i // 7) for i in range(120)]
    rows.append(conv("other-account", "acc2", at=T0 + 3))
    await asyncio.gather(*(create(store, r) for r in rows))
    expected = [
        r.id
        for r in sorted(rows, key=lambda r: (r.last_activity_at, r.id), reverse=True)
        if r.account_id == "acc1"
    ]

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await store.list_conversations(
            InboxQuery(account_ids=["acc1"], after=after, limit=25)
        )
        pages += 1
        seen.extend(c.id for c in page.conversations)
        if page.next is None:
            break
        assert len(page.conversations) == 25
        after = page.next
    assert seen == expected
    assert pages == 5

    exact = await store.list_conversations(InboxQuery(account_ids=["acc1"], limit=120))
    assert len(exact.conversations) == 120 and exact.next is None


async def test_latest_conversation(store: Store) -> None:
    await create(store, conv("old", at=T0 + 1, contact_id="ct1"))
    await create(store, conv("new", at=T0 + 9, contact_id="ct1"))
    await create(store, conv("elsewhere", "acc2", at=T0 + 20, contact_id="ct1"))
    await create(store, conv("someone", at=T0 + 30, contact_id="ct2"))
    latest = await store.latest_conversation("acc1", "ct1")
    assert latest is not None and latest.id == "new"
    latest = await store.latest_conversation("acc2", "ct1")
    assert latest is not None and latest.id == "elsewhere"
    assert await store.latest_conversation("acc1", "ct404") is None


async def test_due_snoozes(store: Store) -> None:
    snoozed = ConversationStatus.SNOOZED
    await create(store, conv("due-late", status=snoozed, snooze_until=T0 + 50))
    await create(store, conv("due-early", status=snoozed, snooze_until=T0 + 10))
    await create(store, conv("later", status=snoozed, snooze_until=T0 + 500))
    await create(store, conv("woken", status=ConversationStatus.OPEN, snooze_until=T0 + 5))
    due = await store.due_snoozes(T0 + 100)
    assert {c.id for c in due} == {"due-early", "due-late"}
    assert all(c.status == snoozed for c in due)
    assert [c.id for c in await store.due_snoozes(T0 + 100, limit=1)] == ["due-early"]
    assert await store.due_snoozes(T0) == []


# messages ---------------------------------------------------------------------------------
async def test_message_history_pages_newest_first(store: Store) -> None:
    c1 = conv("cv1", seq=7)
    sender = Sender(type="user", id="u1", name="Agent")
    attachment = Attachment(
        id="a1", filename="invoice.pdf", content_type="application/pdf", size=1234, url="/files/a1"
    )
    messages = [
        msg(f"m{i}", c1, i, f"text {i}", sender=sender, attachments=[attachment] if i == 3 else [])
        for i in range(1, 8)
    ]
    await create(store, c1, *messages)
    other = conv("cv2")
    await create(store, other, msg("x1", other, 1, "elsewhere"))

    assert [m.seq for m in await store.messages("cv1", limit=3)] == [7, 6, 5]
    assert [m.seq for m in await store.messages("cv1", before_seq=5, limit=3)] == [4, 3, 2]
    assert [m.seq for m in await store.messages("cv1", before_seq=2, limit=3)] == [1]
    assert await store.messages("cv1", before_seq=1) == []
    assert [m.seq for m in await store.messages("cv1")] == [7, 6, 5, 4, 3, 2, 1]
    assert await store.messages("nope") == []

    m3 = await store.message("m3")
    assert m3 == messages[2]
    assert m3 is not None and m3.sender.name == "Agent"
    assert m3.attachments[0].filename == "invoice.pdf" and m3.attachments[0].size == 1234
    assert m3.kind == MessageKind.INBOUND
    assert await store.message("m404") is None


async def test_search_messages(store: Store) -> None:
    resolved = conv("cv1", status=ConversationStatus.RESOLVED)
    await create(
        store,
        resolved,
        msg("m1", resolved, 1, "The invoice for March is attached"),
        msg("m2", resolved, 2, "Thanks, the INVOICE arrived"),
    )
    open_other = conv("cv2", "acc2")
    await create(store, open_other, msg("m3", open_other, 1, "invoice question from acc2"))

    hits = await store.search_messages(["acc1"], "invoice")
    assert [h.message.id for h in hits] == ["m2", "m1"]  # newest first
    assert hits[0].conversation == resolved
    assert hits[0].message.text == "Thanks, the INVOICE arrived"

    assert [h.message.id for h in await store.search_messages(["acc1"], "march invoice")] == ["m1"]
    assert {h.message.id for h in await store.search_messages(["acc1", "acc2"], "Invoice")} == {
        "m1",
        "m2",
        "m3",
    }
    assert [h.message.id for h in await store.search_messages(["acc2"], "invoice")] == ["m3"]
    assert await store.search_messages([], "invoice") == []
    assert await store.search_messages(["acc1"], "refund") == []
    assert len(await store.search_messages(["acc1"], "invoice", limit=1)) == 1

    hostile = [
        '"',
        '""',
        "NEAR(",
        "invoice OR",
        "AND",
        "*",
        "(",
        ")",
        'invoice"march',
        "'; DROP TABLE messages; --",
        "",
        "   ",
        "text:invoice",
        "^invoice",
        "-invoice",
        "{invoice}",
        "invoice NOT march",
        "+",
        "a:b:c",
        "\\",
        "\x00",
    ]
    for text in hostile:
        hits = await store.search_messages(["acc1"], text)
        assert isinstance(hits, list), text
    assert len(await store.search_messages(["acc1"], "invoice")) == 2


# outbox and sessions ----------------------------------------------------------------------
async def test_outbox(store: Store) -> None:
    c1 = conv("cv1")
    from_commit = OutboxItem(
        id="o1",
        account_id="acc1",
        conversation_id="cv1",
        message_id="m1",
        next_attempt_at=T0 + 1,
        created_at=T0,
    )
    await create(store, c1, msg("m1", c1, 1, "hi", kind=MessageKind.OUTBOUND), outbox=[from_commit])
    await store.save_outbox(
        OutboxItem(
            id="o2",
            account_id="acc1",
            conversation_id="cv1",
            message_id="m2",
            next_attempt_at=T0 + 2,
            created_at=T0,
        )
    )
    await store.save_outbox(
        OutboxItem(
            id="o3",
            account_id="acc1",
            conversation_id="cv1",
            message_id="m3",
            next_attempt_at=T0 + 50,
            created_at=T0,
        )
    )
    await store.save_outbox(
        OutboxItem(
            id="o4",
            account_id="acc2",
            conversation_id="cvX",
            message_id="m4",
            next_attempt_at=T0,
            created_at=T0,
        )
    )

    due = await store.due_outbox("acc1", T0 + 10)
    assert [o.id for o in due] == ["o1", "o2"]
    assert due[0] == from_commit
    assert [o.id for o in await store.due_outbox("acc1", T0 + 10, limit=1)] == ["o1"]
    assert [o.id for o in await store.due_outbox("acc2", T0 + 10)] == ["o4"]

    retry = OutboxItem.from_dict(
        {
            **from_commit.to_dict(),
            "attempts": 1,
            "next_attempt_at": T0 + 100,
            "last_error": "timeout",
        }
    )
    await store.save_outbox(retry)
    assert [o.id for o in await store.due_outbox("acc1", T0 + 10)] == ["o2"]
    later = await store.due_outbox("acc1", T0 + 100)
    assert [o.id for o in later] == ["o2", "o3", "o1"]
    assert later[-1].attempts == 1 and later[-1].last_error == "timeout"

    await store.delete_outbox("o2")
    await store.delete_outbox("o-missing")
    assert [o.id for o in await store.due_outbox("acc1", T0 + 100)] == ["o3", "o1"]


async def test_sessions(store: Store) -> None:
    session = Session(
        token_hash="h1", user_id="u1", kind="bearer", expires_at=T0 + 3600, created_at=T0
    )
    await store.save_session(session)
    assert await store.session("h1") == session
    assert await store.session("h2") is None

    session.expires_at = T0 + 7200
    await store.save_session(session)
    stored = await store.session("h1")
    assert stored is not None and stored.expires_at == T0 + 7200

    await store.delete_session("h1")
    await store.delete_session("h1")
    assert await store.session("h1") is None


# durability -------------------------------------------------------------------------------
async def test_data_survives_close_and_reopen(store: Store, reopen: Reopen) -> None:
    user = User(id="u1", email="ann@example.com", name="Ann", created_at=T0)
    await store.put(user)
    c1 = conv("cv1", tag_ids=["t1"])
    m1 = msg("m1", c1, 1, "persistent words", provider_message_id="p1", client_key="ck1")
    outbox = OutboxItem(id="o1", account_id="acc1", conversation_id="cv1", message_id="m1")
    (event,) = await create(store, c1, m1, outbox=[outbox])
    await store.save_session(Session(token_hash="h1", user_id="u1", created_at=T0))

    # Writes already submitted when close() starts are flushed, not lost.
    pending = [
        asyncio.ensure_future(store.put(Tag(id=f"tag{i}", name=f"tag {i}", created_at=T0 + i)))
        for i in range(10)
    ]
    await asyncio.sleep(0)
    store = await reopen()
    await asyncio.gather(*pending)

    assert await store.get(User, "u1") == user
    assert (await store.user_by_email("ANN@example.com")) == user
    assert await store.conversation("cv1") == c1
    assert await store.message("m1") == m1
    assert (await store.message_by_provider_id("acc1", "p1")) == m1
    assert (await store.message_by_client_key("ck1")) == m1
    assert [h.message.id for h in await store.search_messages(["acc1"], "persistent")] == ["m1"]
    assert await _ids(store, tag_ids=["t1"]) == ["cv1"]
    assert await store.due_outbox("acc1", T0 + 10_000) == [outbox]
    assert await store.session("h1") is not None
    assert [t.id for t in await store.all(Tag)] == [f"tag{i}" for i in range(10)]
    log = await all_events(store, ["acc1"])
    assert [e.cursor for e in log] == [event.cursor]

    # Fencing, uniqueness and cursors carry on across the restart.
    with pytest.raises(StaleWrite):
        await store.commit(ConversationWrite(conv("cv1", version=10), expected_version=9))
    with pytest.raises(Duplicate):
        await store.put(User(id="u2", email="Ann@Example.com", name="x", created_at=T0))
    c2 = bump(c1)
    (after,) = await store.commit(
        ConversationWrite(c2, expected_version=1, events=[ev(c2, 2, "conversation.updated")])
    )
    assert after.cursor > event.cursor

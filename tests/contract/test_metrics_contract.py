"""The Store contract for the dashboard's metrics reads, run for every backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.domain.metrics import ConversationFact, MessageFact
from server.domain.models import (
    ChannelKind,
    Conversation,
    DeliveryStatus,
    Event,
    Message,
    MessageKind,
    Sender,
)
from server.store.base import ConversationWrite, Store

T0 = 1_700_000_000.0
Reopen = Callable[[], Awaitable[Store]]
CUSTOMER = Sender(type="contact", id="ct1", name="Ann")
ALICE = Sender(type="user", id="usr_alice", name="Alice")
SYSTEM = Sender(type="system", name="System")


def conversation(cid: str, account: str, created_at: float) -> Conversation:
    return Conversation(
        id=cid,
        account_id=account,
        channel=ChannelKind.API,
        contact_id="ct1",
        last_activity_at=created_at,
        created_at=created_at,
        version=1,
    )


def message(
    c: Conversation, seq: int, at: float, kind: MessageKind, sender: Sender, text: str
) -> Message:
    data = {"status": "resolved", "by": "usr_alice"} if "resolved the" in text else {}
    return Message(
        data=data,
        id=f"{c.id}_m{seq}",
        conversation_id=c.id,
        account_id=c.account_id,
        kind=kind,
        sender=sender,
        text=text,
        seq=seq,
        created_at=at,
        status=DeliveryStatus.QUEUED if kind == MessageKind.OUTBOUND else None,
    )


async def create(
    store: Store, c: Conversation, *rows: tuple[float, MessageKind, Sender, str]
) -> None:
    messages = [message(c, seq, *row) for seq, row in enumerate(rows, start=2)]
    events = [
        Event("message.created", c.id, c.account_id, m.seq, {"message_id": m.id}, at=m.created_at)
        for m in messages
    ]
    await store.commit(
        ConversationWrite(c, expected_version=0, new_messages=messages, events=events)
    )


async def seed(store: Store) -> None:
    c1 = conversation("cnv_1", "acc1", T0)
    await create(
        store,
        c1,
        (T0 + 10, MessageKind.INBOUND, CUSTOMER, "where is my order?"),
        (T0 + 20, MessageKind.NOTE, ALICE, "checking the warehouse"),
        # A reply and its resolve share one instant: seq keeps them in order.
        (T0 + 30, MessageKind.OUTBOUND, ALICE, "it ships today"),
        (T0 + 30, MessageKind.SYSTEM, SYSTEM, "Alice resolved the conversation"),
    )
    await create(
        store,
        conversation("cnv_2", "acc1", T0 + 25),
        (T0 + 25, MessageKind.INBOUND, CUSTOMER, "hello"),
        (T0 + 500, MessageKind.INBOUND, CUSTOMER, "after the range"),
    )
    await create(
        store,
        conversation("cnv_3", "acc2", T0 + 5),
        (T0 + 5, MessageKind.INBOUND, CUSTOMER, "other account"),
    )
    await create(
        store,
        conversation("cnv_4", "acc9", T0 + 5),
        (T0 + 5, MessageKind.INBOUND, CUSTOMER, "an account nobody asked for"),
    )


def summary(facts: list[MessageFact]) -> list[tuple[Any, ...]]:
    return [(f.conversation_id, f.seq, f.kind, f.sender_type, f.sender_id, f.text) for f in facts]


def status_lines(facts: list[MessageFact]) -> list[tuple[str, str, str]]:
    return [(f.conversation_id, f.status, f.actor_id) for f in facts if f.status or f.actor_id]


EXPECTED = [
    ("cnv_1", 2, "inbound", "contact", "ct1", ""),
    ("cnv_1", 3, "note", "user", "usr_alice", ""),
    ("cnv_2", 2, "inbound", "contact", "ct1", ""),
    ("cnv_1", 4, "outbound", "user", "usr_alice", ""),
    ("cnv_1", 5, "system", "system", "", "Alice resolved the conversation"),
    ("cnv_3", 2, "inbound", "contact", "ct1", ""),
]


async def test_metric_messages_reads_one_range_of_the_asked_accounts_in_order(store: Store) -> None:
    await seed(store)
    facts = await store.metric_messages(["acc1", "acc2"], T0, T0 + 100)
    # Only the system line's text is read: customer text is not needed for figures.
    assert summary(facts) == EXPECTED
    # A status line says what changed and who did it, whatever its text.
    assert status_lines(facts) == [("cnv_1", "resolved", "usr_alice")]
    assert [f.created_at for f in facts] == [T0 + 10, T0 + 20, T0 + 25, T0 + 30, T0 + 30, T0 + 5]
    assert await store.metric_messages([], T0, T0 + 100) == []
    assert await store.metric_messages(["acc1"], T0 + 100, T0) == []
    # The range is half-open: a message exactly at `until` belongs to the next range.
    assert [f.seq for f in await store.metric_messages(["acc1"], T0 + 10, T0 + 20)] == [2]


async def test_metric_messages_pages_cover_everything_once(store: Store) -> None:
    await seed(store)
    seen: list[MessageFact] = []
    after = None
    while True:
        page = await store.metric_messages(["acc1", "acc2"], T0, T0 + 100, after=after, limit=2)
        assert len(page) <= 2
        if not page:
            break
        seen.extend(page)
        after = page[-1].key()
    assert summary(seen) == EXPECTED


async def test_conversations_created_in_a_range_with_paging(store: Store, reopen: Reopen) -> None:
    await seed(store)
    store = await reopen()  # durable, and an existing database opens with the metrics index
    facts = await store.conversations_created(["acc1", "acc2"], T0, T0 + 100)
    assert facts == [
        ConversationFact("cnv_1", "acc1", T0),
        ConversationFact("cnv_2", "acc1", T0 + 25),
        ConversationFact("cnv_3", "acc2", T0 + 5),
    ]
    assert await store.conversations_created(["acc1"], T0 + 1, T0 + 100) == [facts[1]]
    first = await store.conversations_created(["acc1", "acc2"], T0, T0 + 100, limit=2)
    last = first[-1]
    rest = await store.conversations_created(
        ["acc1", "acc2"], T0, T0 + 100, after=(last.account_id, last.created_at, last.id), limit=2
    )
    assert first + rest == facts

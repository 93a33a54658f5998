"""`GET /api/metrics` through HTTP against a real server: the figures a team lead would check.

Customers write through the API channel and agents answer through the HTTP API; durations that
depend on the clock are checked only on a conversation whose timestamps the test sets itself
(stored in the past through the store, like an imported history), never on wall-clock time.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from server.domain.models import (
    ChannelKind,
    Contact,
    Conversation,
    DeliveryStatus,
    Event,
    Message,
    MessageKind,
    Sender,
)
from server.store.base import ConversationWrite
from tests.fixtures.server import LiveServer

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = {
    "time_zone": "Europe/Berlin",
    "days": {d: ["09:00", "18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}


async def _reply(
    live: LiveServer, token: str, conversation_id: str, text: str, **extra: object
) -> None:
    status, body = await live.api(
        "POST",
        f"/api/conversations/{conversation_id}/messages",
        token,
        {"text": text, "idempotency_key": f"k-{conversation_id}-{text}", **extra},
    )
    assert status == 201, body


async def test_volumes_resolution_rate_and_agents(live: LiveServer) -> None:
    since = int(time.time()) - 60
    status, first = await live.inbound("carol", "Where is my order?", "m1")
    assert status == 201
    await live.inbound("carol", "Order 1234", "m2")
    status, second = await live.inbound("dave", "Do you ship to Norway?", "m3")
    assert status == 201
    await live.inbound("erin", "Hello from the other account", "m4", account="other")
    alice, bob, admin = (
        await live.token("alice"),
        await live.token("bob"),
        await live.token("admin"),
    )
    await _reply(live, alice, first["conversation_id"], "It ships today", then="resolve")
    await _reply(live, bob, second["conversation_id"], "Yes we do")
    await _reply(live, bob, second["conversation_id"], "Check customs", note=True)

    query = f"/api/metrics?since={since}&until={int(time.time()) + 60}"
    status, report = await live.api("GET", query + "&account_id=acc_shop", alice)
    assert status == 200, report
    assert report["volumes"] == {"inbound": 3, "replies": 2, "notes": 1, "automated": 0}
    conversations = report["conversations"]
    assert (conversations["new"], conversations["resolved"], conversations["active"]) == (2, 1, 2)
    assert conversations["resolution_rate"] == 0.5
    first_response = report["first_response"]
    assert (first_response["answered"], first_response["unanswered"]) == (2, 0)
    assert first_response["median"] is not None and first_response["median"] >= 0
    assert report["resolution_time"]["count"] == 1
    agents = {row["name"]: row for row in report["agents"]}
    assert (agents["Alice"]["replies"], agents["Alice"]["resolved"]) == (1, 1)
    assert (agents["Bob"]["replies"], agents["Bob"]["notes"], agents["Bob"]["resolved"]) == (
        1,
        1,
        0,
    )
    assert sum(day["inbound"] for day in report["days"]) == 3
    assert [row["name"] for row in report["accounts"]] == ["Shop"]

    # The admin sees every account; without a filter the other account's message counts too.
    status, everything = await live.api("GET", query, admin)
    assert status == 200
    assert everything["volumes"]["inbound"] == 4
    assert {row["name"]: row["inbound"] for row in everything["accounts"]} == {
        "Shop": 3,
        "Other": 1,
    }
    assert everything["first_response"]["unanswered"] == 1  # erin is still waiting

    # Olga works only on "Other": she sees none of Shop's figures.
    olga = await live.token("olga")
    status, own = await live.api("GET", query, olga)
    assert status == 200
    assert own["volumes"]["inbound"] == 1 and [r["name"] for r in own["accounts"]] == ["Other"]
    status, refused = await live.api("GET", query + "&account_id=acc_shop", olga)
    assert status == 403 and refused["error"]["code"] == "forbidden"
    status, missing = await live.api("GET", query + "&account_id=acc_nope", olga)
    assert status == 404 and missing["error"]["code"] == "not_found"


async def test_bad_parameters_are_refused_clearly(live: LiveServer) -> None:
    token = await live.token("alice")
    for query in (
        "since=yesterday",
        "since=200&until=100",
        "since=0&until=40000000",  # more than 366 days
        "business_hours=maybe",
        "until=nan",
    ):
        status, body = await live.api("GET", f"/api/metrics?{query}", token)
        assert status == 400, query
        assert body["error"]["code"] == "invalid" and body["error"]["message"], query
    async with live.http.get(f"{live.url}/api/metrics") as response:
        assert response.status == 401


def _at(day: int, hour: int, minute: int) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).timestamp()


async def test_business_hours_only_counts_open_time(live: LiveServer) -> None:
    """A customer writes on Friday 17:30, Alice answers on Monday 09:30: 64 hours on the clock,
    one business hour with 09:00-18:00 on weekdays."""
    admin = await live.token("admin")
    status, body = await live.api(
        "PATCH", "/api/accounts/acc_shop", admin, {"settings": {"business_hours": HOURS}}
    )
    assert status == 200, body
    contact = Contact(id="ct_history", name="Frank")
    conversation = Conversation(
        id="cnv_history",
        account_id="acc_shop",
        channel=ChannelKind.API,
        contact_id=contact.id,
        created_at=_at(27, 17, 30),
        last_activity_at=_at(30, 9, 30),
        version=1,
        seq=3,
    )
    messages = [
        Message(
            id="msg_history_in",
            conversation_id=conversation.id,
            account_id="acc_shop",
            kind=MessageKind.INBOUND,
            sender=Sender(type="contact", id=contact.id, name="Frank"),
            text="Is my parcel lost?",
            seq=2,
            created_at=_at(27, 17, 30),
        ),
        Message(
            id="msg_history_out",
            conversation_id=conversation.id,
            account_id="acc_shop",
            kind=MessageKind.OUTBOUND,
            sender=Sender(type="user", id="usr_alice", name="Alice"),
            text="It arrives today",
            status=DeliveryStatus.SENT,
            seq=3,
            created_at=_at(30, 9, 30),
        ),
    ]
    events = [
        Event("message.created", conversation.id, "acc_shop", m.seq, {}, at=m.created_at)
        for m in messages
    ]
    await live.server.store.commit(
        ConversationWrite(conversation, 0, new_messages=messages, events=events, records=[contact])
    )
    alice = await live.token("alice")
    query = f"/api/metrics?since={_at(23, 0, 0)}&until={_at(30, 23, 0)}"
    status, wall = await live.api("GET", query, alice)
    assert status == 200, wall
    status, business = await live.api("GET", query + "&business_hours=true", alice)
    assert status == 200, business
    assert wall["first_response"]["median"] == 64 * 3600
    assert business["first_response"]["median"] == 3600
    assert business["range"]["business_hours"] is True
    agents = {row["name"]: row for row in business["agents"]}
    assert agents["Alice"]["first_response_median"] == 3600
    # The days are Alice's (UTC) calendar days of that week: the message is on Friday the 27th.
    days = {d["date"]: d for d in business["days"]}
    assert days["2026-11-27"]["inbound"] == 1 and days["2026-11-30"]["replies"] == 1
